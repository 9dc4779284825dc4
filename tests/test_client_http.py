"""The client against the emulator over real loopback HTTP: paging, retries, errors."""

from __future__ import annotations

import logging
import time

import pytest

from taskade_frames import (
    APIError,
    AuthenticationError,
    InvalidResponseError,
    NotFoundError,
    PaginationError,
    RateLimitError,
    ServerError,
    TaskadeClient,
    TransportError,
)
from taskade_frames._http import Hooks, RetryPolicy

from .conftest import FAKE_TOKEN


def find_project(client, *, tasks=None, members=None):
    """The sample project with exactly this many tasks or members."""
    for space in client.call("listSpaces")["items"]:
        # A space id lists its home folder; each folder lists its own projects.
        homes = [
            space["id"],
            *(f["id"] for f in client.call("listFolders", spaceId=space["id"])["items"]),
        ]
        projects = [p for home in homes for p in client.call("listProjects", spaceId=home)["items"]]
        for project in projects:
            listing = client.fetch_all("listTasks", projectId=project["id"])
            if tasks is not None and len(listing.items) == tasks:
                return project["id"]
            if (
                members is not None
                and len(client.fetch_all("listProjectMembers", projectId=project["id"]).items)
                == members
            ):
                return project["id"]
    raise AssertionError("the sample workspace has no such project")


@pytest.fixture
def big_project(client):
    return find_project(client, tasks=1000)


@pytest.fixture
def crowded_project(client):
    return find_project(client, members=45)


class TestCompletePagination:
    def test_all_1000_tasks_with_pages_capped_at_7(self, client, emulator, big_project):
        emulator.page_cap = 7
        listing = client.fetch_all("listTasks", projectId=big_project)
        assert len(listing.items) == 1000
        assert len({t["id"] for t in listing.items}) == 1000
        report = listing.report
        assert report.complete and report.stop_reason == "empty page"
        # 7, then 6 new a page (each repeats the cursor item, the proof nothing moved), then the end
        assert report.rows == 1000 and report.pages == 1 + -(-(1000 - 7) // 6) + 1

    def test_all_45_members_with_pages_capped_at_7(self, client, emulator, crowded_project):
        emulator.page_cap = 7
        listing = client.fetch_all("listProjectMembers", projectId=crowded_project)
        assert len(listing.items) == 45
        assert len({m["handle"] for m in listing.items}) == 45
        assert listing.report.complete

    def test_document_order_is_kept(self, client, emulator, big_project):
        whole = [t["id"] for t in client.fetch_all("listTasks", projectId=big_project).items]
        emulator.page_cap = 7
        capped = [t["id"] for t in client.fetch_all("listTasks", projectId=big_project).items]
        assert capped == whole

    @pytest.mark.parametrize("page_size", [1, 3, 20, 1000])
    def test_any_page_size(self, emulator, crowded_project, page_size, sleeps):
        with TaskadeClient(
            FAKE_TOKEN,
            base_url=emulator.base_url,
            page_size=page_size,
            _hooks=Hooks(sleep=sleeps.append),
        ) as c:
            assert len(c.fetch_all("listProjectMembers", projectId=crowded_project).items) == 45

    def test_duplicates_across_pages_are_dropped(self, client, emulator, big_project):
        emulator.page_cap = 50
        emulator.faults.always("duplicate", operation="listTasks")
        listing = client.fetch_all("listTasks", projectId=big_project)
        assert len(listing.items) == 1000
        assert listing.report.duplicates_dropped > 0

    def test_repeating_cursor_ends_in_error(self, client, emulator, big_project):
        emulator.page_cap = 10
        emulator.faults.always("repeat_page", operation="listTasks")
        before = emulator.request_count("listTasks")
        with pytest.raises(PaginationError, match="repeated"):
            client.fetch_all("listTasks", projectId=big_project)
        assert emulator.request_count("listTasks") - before <= 3

    def test_repeating_page_ends_in_error(self, client, emulator, crowded_project):
        emulator.page_cap = 5
        emulator.faults.always("repeat_page", operation="listProjectMembers")
        before = emulator.request_count("listProjectMembers")
        with pytest.raises(PaginationError):
            client.fetch_all("listProjectMembers", projectId=crowded_project)
        assert emulator.request_count("listProjectMembers") - before <= 4

    def test_too_large_limit_falls_back_to_spec_default_once(self, client, emulator, big_project):
        emulator.max_limit = 100
        before = emulator.request_count("listTasks")
        listing = client.fetch_all("listTasks", projectId=big_project)
        assert len(listing.items) == 1000 and listing.report.limit_fallback
        first = emulator.request_count("listTasks")
        assert first - before == 13  # one 400, 100 then 99 new a page (11 pages), the end
        again = client.fetch_all("listTasks", projectId=big_project)
        assert len(again.items) == 1000 and not again.report.limit_fallback
        assert emulator.request_count("listTasks") - first == 12  # remembered: no extra 400

    def test_single_call_listing(self, client):
        listing = client.fetch_all("listSpaces")
        assert len(listing.items) >= 2 and listing.report.stop_reason == "single call"


class TestRetries:
    def test_429_with_retry_after_1_is_waited_out(self, client, emulator, sleeps):
        emulator.faults.push("status", status=429, retry_after="1", operation="listSpaces")
        assert client.call("listSpaces")["items"]
        assert sleeps == [1.0]
        assert emulator.request_count("listSpaces") == 2

    def test_retry_after_zero(self, client, emulator, sleeps):
        emulator.faults.push("status", status=429, retry_after="0", operation="listSpaces")
        client.call("listSpaces")
        assert sleeps == [0.0]

    def test_absurd_retry_after_is_raised_not_slept(self, client, emulator, sleeps):
        emulator.faults.push("status", status=429, retry_after="999999", operation="listSpaces")
        with pytest.raises(RateLimitError) as info:
            client.call("listSpaces")
        assert info.value.retry_after == 999999 and sleeps == []

    def test_three_503s_then_success(self, client, emulator, sleeps):
        emulator.faults.push("status", count=3, status=503, operation="listSpaces")
        assert client.call("listSpaces")["items"]
        assert emulator.request_count("listSpaces") == 4 and len(sleeps) == 3

    def test_four_503s_raise(self, client, emulator):
        emulator.faults.push("status", count=4, status=503, operation="listSpaces")
        with pytest.raises(ServerError) as info:
            client.call("listSpaces")
        assert info.value.status == 503 and emulator.request_count("listSpaces") == 4

    def test_404_after_exactly_one_request(self, client, emulator):
        with pytest.raises(NotFoundError) as info:
            client.call("getProject", projectId="no-such-project")
        assert info.value.operation == "getProject" and info.value.code
        assert emulator.request_count("getProject") == 1

    def test_401_after_exactly_one_request(self, emulator, sleeps):
        with (
            TaskadeClient(
                "wrong-fake-token", base_url=emulator.base_url, _hooks=Hooks(sleep=sleeps.append)
            ) as c,
            pytest.raises(AuthenticationError),
        ):
            c.call("listSpaces")
        assert emulator.request_count("listSpaces") == 1 and sleeps == []

    def test_ok_false_in_a_200_raises(self, client, emulator):
        emulator.faults.push("ok_false", operation="listSpaces")
        with pytest.raises(APIError):
            client.call("listSpaces")
        assert emulator.request_count("listSpaces") == 1

    def test_html_502_is_a_server_error_retried_for_reads(self, client, emulator):
        emulator.faults.push("html", count=4, operation="listSpaces")
        with pytest.raises(ServerError) as info:
            client.call("listSpaces")
        assert info.value.status == 502 and "502 Bad Gateway" in info.value.message
        assert emulator.request_count("listSpaces") == 4

    def test_truncated_body_is_a_typed_error(self, client, emulator):
        emulator.faults.push("truncated", count=4, operation="listSpaces")
        with pytest.raises(InvalidResponseError, match="not JSON"):
            client.call("listSpaces")

    def test_write_is_not_retried_after_a_5xx(self, client, emulator):
        spaces = client.call("listSpaces")["items"]
        # The last space (Personal) keeps its agent in its home folder, the space id.
        agents = client.call("listAgents", spaceId=spaces[-1]["id"])["items"]
        emulator.faults.push("status", status=503, operation="promptAgent")
        with pytest.raises(ServerError):
            client.call(
                "promptAgent", spaceId=spaces[-1]["id"], agentId=agents[0]["id"], prompt="hello"
            )
        assert emulator.request_count("promptAgent") == 1

    def test_write_is_retried_after_a_429(self, client, emulator):
        spaces = client.call("listSpaces")["items"]
        agents = client.call("listAgents", spaceId=spaces[-1]["id"])["items"]
        emulator.faults.push("status", status=429, retry_after="0", operation="promptAgent")
        reply = client.call(
            "promptAgent", spaceId=spaces[-1]["id"], agentId=agents[0]["id"], prompt="hello"
        )
        assert reply["summary"] and emulator.request_count("promptAgent") == 2

    def test_connection_reset_mid_body_is_retried_for_reads(self, client, emulator):
        emulator.faults.push("reset", operation="listSpaces")
        assert client.call("listSpaces")["items"]
        assert emulator.request_count("listSpaces") == 2

    def test_refused_connection_is_a_transport_error(self, sleeps):
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with (
            TaskadeClient(
                FAKE_TOKEN,
                base_url=f"http://127.0.0.1:{port}/api/v2",
                _hooks=Hooks(sleep=sleeps.append),
            ) as c,
            pytest.raises(TransportError) as info,
        ):
            c.call("listSpaces")
        assert info.value.sent is False and len(sleeps) == 3

    def test_read_timeout_is_a_transport_error(self, emulator, sleeps):
        emulator.faults.push("delay", count=1, seconds=1.0, operation="promptAgent")
        with TaskadeClient(
            FAKE_TOKEN, base_url=emulator.base_url, timeout=0.2, _hooks=Hooks(sleep=sleeps.append)
        ) as c:
            space = c.call("listSpaces")["items"][-1]["id"]  # Personal: its agent is in its home
            agent = c.call("listAgents", spaceId=space)["items"][0]["id"]
            with pytest.raises(TransportError) as info:
                c.call("promptAgent", spaceId=space, agentId=agent, prompt="hi")
        assert info.value.sent is True
        # The emulator logs the request when its delayed answer is written.
        deadline = time.monotonic() + 5
        while emulator.request_count("promptAgent") == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert emulator.request_count("promptAgent") == 1  # not retried


def test_no_token_in_errors_reprs_or_logs(emulator, caplog, sleeps):
    caplog.set_level(logging.DEBUG)
    texts = []
    with TaskadeClient(
        FAKE_TOKEN,
        base_url=emulator.base_url,
        _hooks=Hooks(sleep=sleeps.append),
        retry=RetryPolicy(max_retries=1),
    ) as c:
        texts += [repr(c), str(c), repr(c.stats)]
        emulator.faults.push("status", count=2, status=503)
        emulator.faults.push("html", count=2)
        emulator.faults.push("ok_false")
        for call in (
            lambda: c.call("listSpaces"),
            lambda: c.call("listSpaces"),
            lambda: c.call("listSpaces"),
            lambda: c.call("getProject", projectId=FAKE_TOKEN),
        ):
            with pytest.raises(Exception) as info:
                call()
            texts += [str(info.value), repr(info.value), str(info.value.__cause__)]
    with TaskadeClient("another-fake-token", base_url=emulator.base_url) as bad:
        with pytest.raises(AuthenticationError) as info:
            bad.call("listSpaces")
        texts += [str(info.value), repr(info.value)]
    texts += [r.getMessage() for r in caplog.records]
    assert len(texts) > 10
    assert not [t for t in texts if FAKE_TOKEN in t or "another-fake-token" in t]
