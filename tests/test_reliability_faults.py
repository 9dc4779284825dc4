"""A misbehaving server, over real HTTP: every fault ends in complete data or a typed error.

Each fault is injected with the emulator's fault queue, first into a single
``call()`` and then into the middle of a paged listing read by a loader, where
a partial result would do the most harm. Within the retry budget the loader
returns every task, equal to the workspace; beyond it the loader raises a
``TaskadeError`` subclass and returns no frame at all. ``tests/RELIABILITY.md``
lists what is tried here and the outcome.
"""

from __future__ import annotations

import time
from email.utils import formatdate

import pandas as pd
import pytest

from taskade_frames import (
    APIError,
    InvalidResponseError,
    RateLimitError,
    ReadTimeoutError,
    ServerError,
    TaskadeClient,
    TransportError,
)
from taskade_frames.loaders import load_tasks
from taskade_frames.space import load_space

from .conftest import FAKE_TOKEN, recording

PAGE_CAP = 5
TASKS = 25  # 5 roots with 4 children each: five capped pages, then an empty one


@pytest.fixture
def project(emulator):
    """A project of 25 tasks made for these tests (the sample stays untouched)."""
    ws = emulator.workspace
    space = next(iter(ws.spaces))
    pid = ws.add_project(space, "Reliability drill")
    for i in range(5):
        root = ws.add_task(pid, f"root {i}", completed=i % 2 == 0)
        for j in range(4):
            ws.add_task(pid, f"child {i}.{j}", parent_id=root, completed=j == 0)
    emulator.page_cap = PAGE_CAP
    return pid


def let_through(emulator, n: int, operation: str = "listTasks") -> None:
    """Queue ``n`` harmless faults so that the next real fault hits request ``n + 1``.

    The fault queue serves the first matching fault first; a zero-second delay
    answers normally, so this places a fault in the middle of a listing.
    """
    emulator.faults.push("delay", count=n, operation=operation, seconds=0)


def assert_complete(df: pd.DataFrame, emulator, project_id: str) -> None:
    """The frame holds exactly the project's tasks, in document order, and says so."""
    expected = emulator.workspace.tasks(project_id)
    assert len(expected) == TASKS
    assert df["id"].tolist() == [t["id"] for t in expected]
    assert df["text"].tolist() == [t["text"] for t in expected]
    assert df["parent_id"].fillna("").tolist() == [t.get("parentId", "") for t in expected]
    assert df["completed"].tolist() == [t["completed"] for t in expected]
    (report,) = df.attrs["reports"]
    assert report["complete"] and report["stop_reason"] == "empty page"
    assert report["rows"] == TASKS and report["duplicates_dropped"] == 0


# -- Retry-After as an HTTP-date, over HTTP ------------------------------------------------


def test_retry_after_as_an_http_date_is_waited_out(client, emulator, sleeps):
    when = formatdate(time.time() + 30, usegmt=True)
    emulator.faults.push("status", status=429, retry_after=when, operation="listSpaces")

    assert client.call("listSpaces")["items"]

    # The date has one-second resolution and the clock moves on: about 30 s, never more.
    assert len(sleeps) == 1 and 20 <= sleeps[0] <= 30
    assert emulator.request_count("listSpaces") == 2


def test_retry_after_as_a_past_http_date_means_now(client, emulator, sleeps):
    emulator.faults.push(
        "status", status=429, retry_after="Wed, 21 Oct 2015 07:28:00 GMT", operation="listSpaces"
    )

    assert client.call("listSpaces")["items"]
    assert sleeps == [0.0]


def test_retry_after_as_an_http_date_hours_ahead_is_raised_not_slept(client, emulator, sleeps):
    when = formatdate(time.time() + 2 * 3600, usegmt=True)
    emulator.faults.push("status", status=429, retry_after=when, operation="listSpaces")

    with pytest.raises(RateLimitError) as info:
        client.call("listSpaces")

    assert info.value.retry_after > 3600 and sleeps == []
    assert emulator.request_count("listSpaces") == 1


def test_unparseable_retry_after_falls_back_to_bounded_backoff(client, emulator, sleeps):
    emulator.faults.push(
        "status", count=3, status=429, retry_after="soon-ish", operation="listSpaces"
    )

    assert client.call("listSpaces")["items"]

    assert len(sleeps) == 3
    assert all(0 < s <= client.retry.max_backoff for s in sleeps)


# -- 429 storms ------------------------------------------------------------------------------


def test_a_long_429_storm_within_the_budget_ends_in_data(client, emulator, sleeps):
    budget = client.retry.max_rate_limit_retries
    emulator.faults.push(
        "status", count=budget, status=429, retry_after="1", operation="listSpaces"
    )

    assert client.call("listSpaces")["items"]

    assert sleeps == [1.0] * budget
    assert emulator.request_count("listSpaces") == budget + 1
    assert client.stats["rate_limited"] == budget


def test_a_429_storm_beyond_the_budget_is_a_rate_limit_error(client, emulator, sleeps):
    budget = client.retry.max_rate_limit_retries
    emulator.faults.push(
        "status", count=budget + 1, status=429, retry_after="1", operation="listSpaces"
    )

    with pytest.raises(RateLimitError) as info:
        client.call("listSpaces")

    assert info.value.status == 429 and info.value.retry_after == 1.0
    assert emulator.request_count("listSpaces") == budget + 1 and len(sleeps) == budget


# -- the same faults in the middle of a paged listing, through the loader -------------------

# (fault, params, retries the default policy allows, the error once they are spent)
FAULTS = [
    pytest.param("status", {"status": 429, "retry_after": "0"}, 8, RateLimitError, id="429"),
    pytest.param("status", {"status": 500}, 3, ServerError, id="500"),
    pytest.param("status", {"status": 502}, 3, ServerError, id="502"),
    pytest.param("status", {"status": 503, "retry_after": "0"}, 3, ServerError, id="503"),
    pytest.param("status", {"status": 504}, 3, ServerError, id="504"),
    pytest.param("html", {"status": 502}, 3, ServerError, id="html-502"),
    pytest.param("truncated", {}, 3, InvalidResponseError, id="truncated-json"),
    pytest.param("reset", {}, 3, TransportError, id="reset-mid-body"),
]


@pytest.mark.parametrize(("kind", "params", "budget", "error"), FAULTS)
def test_loader_survives_a_burst_within_the_retry_budget(
    client, emulator, project, kind, params, budget, error
):
    let_through(emulator, 2)
    emulator.faults.push(kind, count=budget, operation="listTasks", **params)

    df = load_tasks(project, client)

    assert_complete(df, emulator, project)
    assert client.stats["retries"] == budget
    assert not emulator.faults.pending()


@pytest.mark.parametrize(("kind", "params", "budget", "error"), FAULTS)
def test_loader_raises_a_typed_error_beyond_the_retry_budget(
    client, emulator, project, kind, params, budget, error
):
    let_through(emulator, 2)
    emulator.faults.push(kind, count=budget + 1, operation="listTasks", **params)

    with pytest.raises(error) as info:
        load_tasks(project, client)

    assert info.value.operation == "listTasks"
    # two good pages, then the first try and every retry of the third
    assert emulator.request_count("listTasks") == 2 + budget + 1


def test_absurd_retry_after_mid_listing_is_raised_without_sleeping(
    client, emulator, project, sleeps
):
    let_through(emulator, 2)
    emulator.faults.push("status", status=429, retry_after="86400", operation="listTasks")

    with pytest.raises(RateLimitError) as info:
        load_tasks(project, client)

    assert info.value.retry_after == 86400 and sleeps == []


def test_ok_false_inside_a_200_mid_listing_is_an_api_error(client, emulator, project):
    let_through(emulator, 2)
    emulator.faults.push("ok_false", operation="listTasks")

    with pytest.raises(APIError) as info:
        load_tasks(project, client)

    assert info.value.status == 200 and info.value.code == "internal_error"
    assert emulator.request_count("listTasks") == 3  # an unknown failure is not retried


def test_ok_false_saying_rate_limited_is_retried_like_a_429(client, emulator, project):
    let_through(emulator, 2)
    emulator.faults.push(
        "ok_false",
        operation="listTasks",
        code="rate_limited",
        error_status=429,
        message="slow down",
    )

    df = load_tasks(project, client)

    assert_complete(df, emulator, project)
    # each cursor page repeats the cursor item (the proof nothing moved): one page more
    assert emulator.request_count("listTasks") == 8


# -- read timeouts, through call() and through the loader -----------------------------------


@pytest.fixture
def impatient(emulator, sleeps):
    """A client that waits 0.5 s for an answer; the delay faults below hold theirs 2 s."""
    c = TaskadeClient(FAKE_TOKEN, base_url=emulator.base_url, timeout=0.5, _hooks=recording(sleeps))
    yield c
    c.close()


def test_a_read_timeout_on_a_read_is_retried(impatient, emulator):
    emulator.faults.push("delay", seconds=2.0, operation="listSpaces")

    assert impatient.call("listSpaces")["items"]
    assert impatient.stats["by_status"] == {"transport": 1, 200: 1}


def test_loader_survives_a_read_timeout_mid_listing(impatient, emulator, project):
    let_through(emulator, 2)
    emulator.faults.push("delay", count=3, seconds=2.0, operation="listTasks")

    df = load_tasks(project, impatient)

    assert_complete(df, emulator, project)


def test_loader_raises_read_timeout_when_every_retry_times_out(impatient, emulator, project):
    let_through(emulator, 2)
    emulator.faults.push("delay", count=4, seconds=2.0, operation="listTasks")

    with pytest.raises(ReadTimeoutError) as info:
        load_tasks(project, impatient)

    assert info.value.sent is True and "0.5s" in str(info.value)


# -- an error mid-listing never leaves a report that claims completeness --------------------


def test_a_listing_broken_mid_way_reports_itself_incomplete(client, emulator, project):
    let_through(emulator, 2)
    emulator.faults.push("status", count=4, status=503, operation="listTasks")
    pager = client.paginate("listTasks", projectId=project)
    got = []

    with pytest.raises(ServerError):
        for page in pager.pages():
            got += page

    # page 2 repeats the cursor item of page 1, so it brings one item fewer
    assert len(got) == 2 * PAGE_CAP - 1
    assert pager.report.rows == 2 * PAGE_CAP - 1
    assert pager.report.complete is False and pager.report.stop_reason == "not finished"


def test_whole_space_records_a_failed_project_and_keeps_none_of_its_rows(client, emulator, project):
    space = emulator.workspace.projects[project].space_id
    emulator.page_cap = None  # whole pages: the sample's big project stays one request
    # One worker, so that the four 503s all meet the same project's first request.
    emulator.faults.push("status", count=4, status=503, operation="listTasks")

    frames = load_space(space, client, progress=False, max_workers=1)

    failed = frames.errors[frames.errors["error"] == "ServerError"]
    assert len(failed) == 1 and failed["status"].tolist() == [503]
    failed_project = failed["id"].iloc[0]
    assert failed_project not in set(frames.tasks["project_id"])
    # Every other project of the space is there in full.
    for pid, p in emulator.workspace.projects.items():
        if p.space_id == space and pid != failed_project:
            got = frames.tasks.loc[frames.tasks["project_id"] == pid, "id"].tolist()
            assert got == [t["id"] for t in emulator.workspace.tasks(pid)]
