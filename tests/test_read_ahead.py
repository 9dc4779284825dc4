"""Reading ahead: the next page is asked before this one is decoded, and nothing changes.

A cursor listing sends the request for page N+1 as soon as page N's bytes
arrive, guessing its cursor from them (``_ahead.last_ids``), and reads that
answer only when the request the pager builds after all its checks is the
same. Over real HTTP against the emulator: the frames and the request count
are those of a listing that never reads ahead, however the server writes its
pages; a guess that misses costs one request and turns reading ahead off.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taskade_frames import ReadTimeoutError, ServerError, TaskadeClient, TransportError
from taskade_frames._ahead import last_ids
from taskade_frames._http import Transport
from taskade_frames.loaders import load_tasks, typed_decoder
from taskade_frames.operations import operation

from .conftest import FAKE_TOKEN, recording

ROOTS = 30
TASKS = ROOTS * 7 + 1  # each root: three children with a leaf each; one more root at the end
PAGE_CAP = 20  # 13 requests: 11 full pages, one of 2 items, one of the overlap alone


@pytest.fixture
def project(emulator):
    """211 tasks, three levels deep, served 20 to a page."""
    ws = emulator.workspace
    pid = ws.add_project(next(iter(ws.spaces)), "Read ahead")
    for i in range(ROOTS):
        root = ws.add_task(pid, f"root {i}", completed=i % 3 == 0)
        for j in range(3):
            child = ws.add_task(pid, f'child {i}.{j} \u00e9 \\ "q"', parent_id=root)
            ws.add_task(pid, f"leaf {i}.{j}", parent_id=child, completed=True)
    ws.add_task(pid, "last")
    emulator.page_cap = PAGE_CAP
    return pid


def _client(emulator, sleeps, **settings) -> TaskadeClient:
    return TaskadeClient(
        FAKE_TOKEN, base_url=emulator.base_url, timeout=10, _hooks=recording(sleeps), **settings
    )


def _load(emulator, sleeps, project, read_ahead: bool):
    before = emulator.request_count("listTasks")
    with _client(emulator, sleeps, read_ahead=read_ahead) as client:
        df = load_tasks(project, client)
        stats = dict(client.stats)
    return df, emulator.request_count("listTasks") - before, stats


@pytest.mark.parametrize("shape", [None, "pretty", "extra_fields"])
def test_read_ahead_gives_the_same_frame_with_the_same_requests(emulator, sleeps, project, shape):
    if shape is not None:
        emulator.faults.always(shape, operation="listTasks")
    plain, plain_requests, _ = _load(emulator, sleeps, project, read_ahead=False)
    ahead, ahead_requests, stats = _load(emulator, sleeps, project, read_ahead=True)

    report = ahead.attrs["reports"][0]
    assert len(plain) == TASKS and ahead.equals(plain) and report["complete"]
    # Every request sent ahead was the one the pager asked next: none wasted.
    assert ahead_requests == plain_requests == report["pages"] == 13
    assert stats["requests"] == ahead_requests


def test_a_guess_that_misses_costs_one_request_and_stops_reading_ahead(emulator, sleeps, project):
    # Each item ends with an object of its own that has an "id": the last ids in the
    # bytes are those, not the items', so the first guess is wrong.
    emulator.faults.always("nested_ids", operation="listTasks")
    plain, plain_requests, _ = _load(emulator, sleeps, project, read_ahead=False)
    ahead, ahead_requests, stats = _load(emulator, sleeps, project, read_ahead=True)

    assert ahead.equals(plain) and len(ahead) == TASKS
    assert ahead_requests == plain_requests + 1
    assert stats["requests"] == ahead_requests and stats["by_status"]["unread"] == 1


def test_the_next_request_leaves_before_the_page_is_decoded(emulator, client, project):
    events: list[str] = []
    decoder = typed_decoder("tasks")
    assert decoder is not None
    real_send_early = client.send_early

    def send_early(op, body):
        events.append(f"sent after {body.get('after')}")
        return real_send_early(op, body)

    def decode(content: bytes):
        page = decoder(content)
        assert page is not None
        events.append(f"decoded up to {page['items'].keys[-1]}")
        return page

    client.send_early = send_early  # a spy on the real method: the requests are real
    pager = client.paginate("listTasks", projectId=project, decode=decode)
    pages = list(pager.pages())

    assert pager.report.complete and sum(len(p) for p in pages) == TASKS
    # Each page is decoded after the request for the next one left; the last page
    # (the one item that shows the listing ended) has nothing after it.
    pages_read = pager.report.pages
    kinds = [e.split()[0] for e in events]
    assert kinds == ["sent", "decoded"] * (pages_read - 1) + ["decoded"]


def test_a_failure_to_send_ahead_stops_reading_ahead_and_loses_nothing(emulator, client, project):
    calls = []

    def send_early(op, body):  # as a urllib3 without the pool methods used would fail
        calls.append(body)
        raise AttributeError("no _get_conn")

    client.send_early = send_early
    df = load_tasks(project, client)

    report = df.attrs["reports"][0]
    assert len(df) == TASKS and report["complete"]
    assert len(calls) == 1 and emulator.request_count("listTasks") == report["pages"]


def test_a_fault_on_the_request_sent_ahead_is_retried_like_any_other(
    emulator, client, project, sleeps
):
    emulator.faults.push("delay", count=1, operation="listTasks", seconds=0)
    emulator.faults.push("status", count=2, operation="listTasks", status=503, retry_after="0")

    df = load_tasks(project, client)

    report = df.attrs["reports"][0]
    assert len(df) == TASKS and report["complete"]
    # Request 2 left early and met the 503s: two retries, as for any request.
    assert client.stats["retries"] == 2 and client.stats["by_status"][503] == 2
    assert emulator.request_count("listTasks") == report["pages"] + 2


def test_no_read_ahead_through_a_proxy_or_when_turned_off(emulator, project):
    through_proxy = Transport(
        emulator.base_url,
        FAKE_TOKEN,
        timeout=5,
        proxies={"http": "http://127.0.0.1:9"},
        allow_insecure_http=True,
    )
    assert through_proxy.post_early("listSpaces", {}) is None
    with TaskadeClient(FAKE_TOKEN, base_url=emulator.base_url, read_ahead=False) as client:
        calls = []
        real_send_early = client.send_early
        client.send_early = lambda op, body: calls.append(body) or real_send_early(op, body)
        assert len(load_tasks(project, client)) == TASKS
    assert calls == []


def test_a_cancelled_thread_sends_nothing_ahead(emulator, client):
    import threading

    stop = threading.Event()
    stop.set()
    with client.cancel_scope(stop):
        assert client.send_early(operation("listSpaces"), {}) is None
    assert emulator.request_count("listSpaces") == 0


# -- the transport's early request ---------------------------------------------------------


@pytest.fixture
def transport(emulator):
    t = Transport(emulator.base_url, FAKE_TOKEN, timeout=5, allow_insecure_http=True)
    yield t
    t.close()


def test_an_early_post_answers_what_post_answers(transport, emulator):
    early = transport.post_early("listSpaces", {})
    assert early is not None
    assert early.finish() == transport.post("listSpaces", {})
    with pytest.raises(RuntimeError):
        early.finish()


def test_a_discarded_early_post_leaves_the_connection_pool_working(transport, emulator):
    for _ in range(20):  # more than the pool holds
        early = transport.post_early("listSpaces", {})
        assert early is not None
        early.discard()
        early.discard()  # twice is harmless
    assert transport.post("listSpaces", {})["ok"] is True


def test_an_early_post_raises_the_typed_errors_of_post(transport, emulator):
    emulator.faults.push("status", operation="listSpaces", status=500)
    early = transport.post_early("listSpaces", {})
    assert early is not None
    with pytest.raises(ServerError) as info:
        early.finish()
    assert info.value.operation == "listSpaces" and FAKE_TOKEN not in str(info.value)

    emulator.faults.push("delay", operation="listSpaces", seconds=3)
    slow = Transport(emulator.base_url, FAKE_TOKEN, timeout=0.5, allow_insecure_http=True)
    early = slow.post_early("listSpaces", {})
    assert early is not None
    with pytest.raises(ReadTimeoutError):
        early.finish()
    slow.close()


def test_an_early_post_to_nothing_listening_is_a_transport_error_when_read(emulator):
    dead = Transport("http://127.0.0.1:9/api/v2", FAKE_TOKEN, timeout=2, allow_insecure_http=True)
    early = dead.post_early("listSpaces", {})
    assert early is not None  # the failure is kept for whoever reads the answer
    with pytest.raises(TransportError, match="refused") as info:
        early.finish()
    assert info.value.sent is False


# -- the guess ----------------------------------------------------------------------------

ids = st.text(min_size=1, max_size=12)
texts = st.one_of(st.none(), st.text(max_size=30))


@settings(max_examples=200, deadline=None)
@given(
    items=st.lists(
        st.fixed_dictionaries(
            {"id": ids},
            optional={"text": texts, "parentId": ids, "completed": st.booleans()},
        ),
        min_size=2,
        max_size=30,
    ),
    indent=st.sampled_from([None, 1, 2]),
    ascii_only=st.booleans(),
)
def test_the_last_two_ids_are_read_from_any_flat_page(items, indent, ascii_only):
    content = json.dumps({"ok": True, "items": items}, indent=indent, ensure_ascii=ascii_only)
    raw = content.encode("utf-8", "surrogatepass")
    assert last_ids(raw, "id") == [items[-2]["id"], items[-1]["id"]]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_give_two_strings_or_none(content):
    found = last_ids(content, "id")
    assert found is None or (len(found) == 2 and all(isinstance(i, str) for i in found))


def test_a_page_cut_short_gives_no_guess():
    page = b'{"ok":true,"items":[{"id":"a"},{"id":"b"},{"id":"c"}]}'
    assert last_ids(page, "id") == ["b", "c"]
    assert last_ids(page[:-7], "id") is None
    assert last_ids(page + b"\n ", "id") == ["b", "c"]
    assert last_ids(b'{"ok":true,"items":[{"id":"a"}]}', "id") is None
