"""Errors are typed by HTTP status, whatever the body: the v2 envelope or a gateway's answer.

Every test runs against the emulator twice: answering errors with the v2
envelope, and answering them the way a gateway in front of the API would
(an HTML 429 with ``Retry-After``, a plain-text 401, a framework's JSON 400 for
a too-large ``limit``, HTML 5xx pages). The client must behave the same.
"""

from __future__ import annotations

import pytest

from taskade_frames import (
    AuthenticationError,
    BadRequestError,
    InvalidResponseError,
    NotFoundError,
    OutOfCreditsError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    TaskadeClient,
)
from taskade_frames.emulator import Emulator

from .conftest import FAKE_TOKEN, recording

STYLES = ["envelope", "gateway"]


@pytest.fixture(scope="module", params=STYLES)
def _styled(request):
    with Emulator(token=FAKE_TOKEN, errors=request.param) as emu:
        yield emu


@pytest.fixture
def emu(_styled):
    _styled.reset(workspace=True)
    yield _styled
    assert not _styled.errors


@pytest.fixture
def styled_client(emu, sleeps):
    with TaskadeClient(
        FAKE_TOKEN, base_url=emu.base_url, timeout=10, _hooks=recording(sleeps)
    ) as c:
        yield c


def a_project(client) -> str:
    """The id of the first project the emulator lists."""
    for space in client.call("listSpaces")["items"]:
        for project in client.call("listProjects", spaceId=space["id"])["items"]:
            return project["id"]
    raise AssertionError("the sample workspace has no project")  # pragma: no cover


def test_the_gateway_profile_really_answers_like_a_gateway(emu):
    """Guard for the tests below: under "gateway" the bodies are not the envelope."""
    import urllib.request

    req = urllib.request.Request(
        f"{emu.base_url}/listSpaces",
        data=b"{}",
        method="POST",
        headers={"Authorization": "Bearer wrong-fake-token"},
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=5)
    body = info.value.read()
    assert info.value.code == 401
    assert (b'"ok":false' in body) == (emu.error_style == "envelope")


def test_429_waits_out_retry_after_then_retries(styled_client, emu, sleeps):
    emu.faults.push("status", count=2, status=429, retry_after="2", operation="listSpaces")
    assert styled_client.call("listSpaces")["items"]
    assert sleeps == [2.0, 2.0] and emu.request_count("listSpaces") == 3


def test_429_beyond_the_budget_is_a_rate_limit_error_with_retry_after(styled_client, emu):
    budget = styled_client.retry.max_rate_limit_retries
    emu.faults.push("status", count=budget + 1, status=429, retry_after="1", operation="listSpaces")
    with pytest.raises(RateLimitError) as info:
        styled_client.call("listSpaces")
    assert info.value.status == 429 and info.value.retry_after == 1.0


def test_401_is_an_authentication_error_after_one_request(emu, sleeps):
    with (
        TaskadeClient("wrong-fake-token", base_url=emu.base_url, _hooks=recording(sleeps)) as c,
        pytest.raises(AuthenticationError) as info,
    ):
        c.call("listSpaces")
    assert info.value.status == 401 and emu.request_count("listSpaces") == 1 and sleeps == []


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (402, OutOfCreditsError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
    ],
)
def test_4xx_raise_their_typed_error_without_retrying(styled_client, emu, sleeps, status, error):
    emu.faults.push("status", status=status, operation="listSpaces")
    with pytest.raises(error) as info:
        styled_client.call("listSpaces")
    assert info.value.status == status and info.value.operation == "listSpaces"
    assert info.value.message and emu.request_count("listSpaces") == 1 and sleeps == []


def test_a_missing_project_is_a_not_found_error(styled_client, emu):
    with pytest.raises(NotFoundError):
        styled_client.call("getProject", projectId="no-such-project")


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_retried_for_reads(styled_client, emu, sleeps, status):
    emu.faults.push("status", count=3, status=status, operation="listSpaces")
    assert styled_client.call("listSpaces")["items"]
    assert emu.request_count("listSpaces") == 4 and len(sleeps) == 3


def test_5xx_beyond_the_budget_is_a_server_error(styled_client, emu):
    emu.faults.push("status", count=4, status=502, operation="listSpaces")
    with pytest.raises(ServerError) as info:
        styled_client.call("listSpaces")
    assert info.value.status == 502 and emu.request_count("listSpaces") == 4


def test_5xx_on_a_write_is_not_repeated(styled_client, emu):
    emu.faults.push("status", count=1, status=500, operation="createProject")
    with pytest.raises(ServerError):
        styled_client.call(
            "createProject", folderId="x", contentType="text/markdown", content="# t"
        )
    assert emu.request_count("createProject") == 1


def test_a_400_for_a_too_large_limit_runs_the_page_size_fallback(styled_client, emu):
    project = a_project(styled_client)
    everything = styled_client.fetch_all("listTasks", projectId=project, limit=100).items
    emu.max_limit = 100
    listing = styled_client.fetch_all("listTasks", projectId=project)
    assert listing.report.limit_fallback and listing.report.complete
    assert [t["id"] for t in listing.items] == [t["id"] for t in everything]
    statuses = [r["status"] for r in emu.requests if r["operation"] == "listTasks"]
    assert statuses.count(400) == 1


def test_a_bad_request_is_a_bad_request_error(styled_client, emu):
    with pytest.raises(BadRequestError) as info:
        styled_client.call("listTasks", projectId=123)
    assert info.value.status == 400 and info.value.message


def test_only_a_2xx_that_is_not_an_envelope_is_an_invalid_response(styled_client, emu):
    emu.faults.push("truncated", count=4, operation="listSpaces")
    with pytest.raises(InvalidResponseError) as info:
        styled_client.call("listSpaces")
    assert info.value.status == 200 and "not JSON" in str(info.value)


def test_the_error_message_keeps_a_short_excerpt_of_the_body(styled_client, emu):
    emu.faults.push(
        "status", count=4, status=503, operation="listSpaces", message="maintenance until noon"
    )
    with pytest.raises(ServerError) as info:
        styled_client.call("listSpaces")
    text = str(info.value)
    expected = "maintenance until noon" if emu.error_style == "envelope" else "Service Unavailable"
    assert expected in text and len(text) < 400
