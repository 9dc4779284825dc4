"""Listings against servers that answer what the reference leaves open, over real HTTP.

Clamped page numbers (a page past the end answers the last page again), a
listing that moves under its cursor between two requests, a project that
grows faster than it is read, ids that Python would confuse, and server text
quoted in errors. Each listing ends complete with a report that says why, or
in a typed error: never silently short.
"""

from __future__ import annotations

import pytest

from taskade_frames import (
    InvalidResponseError,
    ListingChangedError,
    PaginationError,
    TaskadeClient,
    paging,
)
from taskade_frames.errors import register_secret
from taskade_frames.loaders import load_conversations, load_members, load_tasks
from taskade_frames.operations import operation
from taskade_frames.paging import MAX_RELISTS, Pager, item_key

from .conftest import FAKE_TOKEN

MEMBERS = 23


@pytest.fixture
def clamped(emulator):
    """The session emulator answering a page past the end with the last page."""
    emulator.clamp_pages = True
    yield emulator
    emulator.clamp_pages = False


def crowd(emulator, members: int) -> str:
    ws = emulator.workspace
    pid = ws.add_project(next(iter(ws.spaces)), f"{members} members")
    for k in range(members):
        ws.add_member(pid, f"member{k:02d}", f"Member {k}")
    return pid


def handles(emulator, pid: str) -> list[str]:
    return [m["handle"] for m in emulator.workspace.projects[pid].members]


# -- clamped page numbers (issue 11.3) ---------------------------------------------------


@pytest.mark.parametrize(("members", "cap"), [(23, 5), (20, 5), (3, None), (5, 5), (1, 1)])
def test_a_clamped_listing_ends_complete_and_says_why(client, clamped, members, cap):
    """Short last page, full last page, one page, one full page, one item."""
    pid = crowd(clamped, members)
    clamped.page_cap = cap

    df = load_members(pid, client)

    assert df["handle"].tolist() == handles(clamped, pid)
    (report,) = df.attrs["reports"]
    assert report["complete"] and report["stop_reason"].startswith("clamped: page")
    assert report["rows"] == members  # the clamped page's repeats are dropped, not rows
    # every page once, the clamped page, and one probe for the item after the last
    pages = -(-members // (cap or 20))
    assert clamped.request_count("listProjectMembers") == pages + 2


def test_a_single_repeated_page_mid_listing_still_loses_nothing_when_clamped(client, clamped):
    pid = crowd(clamped, MEMBERS)
    clamped.page_cap = 5
    pager = client.paginate("listProjectMembers", projectId=pid)
    pages = pager.pages()
    got = list(next(pages))
    clamped.faults.push("repeat_page", operation="listProjectMembers")  # page 2 = page 1

    got += [m for page in pages for m in page]

    assert [m["handle"] for m in got] == handles(clamped, pid)
    assert pager.report.complete and pager.report.stop_reason.startswith("clamped")


def test_a_server_stuck_on_page_one_still_raises_when_clamped(client, clamped):
    pid = crowd(clamped, MEMBERS)
    clamped.page_cap = 5
    clamped.faults.always("repeat_page", operation="listProjectMembers")

    with pytest.raises(PaginationError, match="repeated items"):
        load_members(pid, client)
    assert clamped.request_count("listProjectMembers") == 3  # page 1, page 2, the probe


def test_a_server_that_wraps_around_to_page_one_raises(client, emulator):
    """Past the end it answers page 1, not the page before: that is no clamped end."""
    pid = crowd(emulator, MEMBERS)
    emulator.page_cap = 5
    pager = client.paginate("listProjectMembers", projectId=pid)
    pages = pager.pages()
    got = [m for _, page in zip(range(5), pages, strict=False) for m in page]
    assert len(got) == MEMBERS
    emulator.faults.push("repeat_page", count=5, operation="listProjectMembers")

    with pytest.raises(PaginationError, match="repeated items"):
        list(pages)
    assert not pager.report.complete


def test_members_and_conversations_are_complete_under_every_profile(
    profile_emulator, profile_client
):
    ws = profile_emulator.workspace
    pid = crowd(profile_emulator, 7)
    agent = ws.add_agent(next(iter(ws.spaces)), "Pager")
    convos = [ws.add_conversation(agent, f"talk {i}") for i in range(7)]
    profile_emulator.page_cap = 3

    members = load_members(pid, profile_client)
    talks = load_conversations(agent, profile_client)

    assert members["handle"].tolist() == handles(profile_emulator, pid)
    assert sorted(talks["id"]) == sorted(convos)
    for df in (members, talks):
        assert df.attrs["reports"][0]["complete"]


# -- a listing that moves under the cursor (issue 12.5) ----------------------------------


@pytest.fixture
def moving_project(emulator):
    """27 tasks, pages of 10: root A, nine roots, then T (the 10th) with 5 children, 11 more."""
    ws = emulator.workspace
    pid = ws.add_project(next(iter(ws.spaces)), "Moving")
    first = ws.add_task(pid, "A")
    for i in range(8):
        ws.add_task(pid, f"root {i}")
    moved = ws.add_task(pid, "T")
    for j in range(5):
        ws.add_task(pid, f"T.{j}", parent_id=moved)
    for i in range(12):
        ws.add_task(pid, f"late {i}")
    emulator.page_cap = 10
    assert [t["id"] for t in ws.tasks(pid)].index(moved) == 9
    return pid, first, moved


@pytest.fixture
def forward_project(emulator):
    """27 tasks, pages of 10: A with 8 children, T (the 10th) under the 8th with 5
    children, a 9th child of A, 11 roots. Moving T under A moves it forward, past
    the 9th child: paging after T would skip that child without a trace."""
    ws = emulator.workspace
    pid = ws.add_project(next(iter(ws.spaces)), "Moving forward")
    first = ws.add_task(pid, "A")
    children = [ws.add_task(pid, f"A.{i}", parent_id=first) for i in range(8)]
    moved = ws.add_task(pid, "T", parent_id=children[-1])
    for j in range(5):
        ws.add_task(pid, f"T.{j}", parent_id=moved)
    ws.add_task(pid, "A.8", parent_id=first)
    for i in range(11):
        ws.add_task(pid, f"late {i}")
    emulator.page_cap = 10
    assert [t["id"] for t in ws.tasks(pid)].index(moved) == 9
    return pid, first, moved


@pytest.mark.parametrize("shape", ["moving_project", "forward_project"])
def test_a_moved_cursor_subtree_is_not_reported_complete(client, emulator, shape, request):
    """The issue's case: with pages of 10, the task at the end of page 1 and its 5
    children moved under the first task between two requests (back or forward)."""
    pid, first, moved = request.getfixturevalue(shape)
    emulator.faults.push(
        "move", operation="listTasks", project=pid, skip=1, task_id=moved, parent_id=first
    )

    with pytest.raises(ListingChangedError, match="moved"):
        list(client.paginate("listTasks", projectId=pid))

    emulator.faults.push(
        "move", operation="listTasks", project=pid, skip=1, task_id=moved, parent_id=None
    )
    listing = client.fetch_all("listTasks", projectId=pid)  # reads it again
    now = emulator.workspace.tasks(pid)
    assert [(t["id"], t.get("parentId")) for t in listing.items] == [
        (t["id"], t.get("parentId")) for t in now
    ]
    assert len(now) == 27 and listing.report.complete and listing.report.relists <= 1


def test_a_subtree_moved_back_between_two_pages_is_not_reported_complete(
    client, emulator, moving_project
):
    pid, first, moved = moving_project
    # after page 1, T (the cursor) and its 5 children go under A, before the cursor
    emulator.faults.push(
        "move", operation="listTasks", project=pid, skip=1, task_id=moved, parent_id=first
    )

    with pytest.raises(ListingChangedError, match="moved"):
        list(client.paginate("listTasks", projectId=pid))


def test_load_tasks_reads_a_moved_listing_again_like_fetch_all(client, emulator, moving_project):
    pid, first, moved = moving_project
    emulator.faults.push(
        "move", operation="listTasks", project=pid, skip=1, task_id=moved, parent_id=first
    )

    df = load_tasks(pid, client)

    now = emulator.workspace.tasks(pid)
    assert list(
        zip(
            df["id"],
            df["parent_id"].astype(object).where(df["parent_id"].notna(), None),
            strict=True,
        )
    ) == [(t["id"], t.get("parentId")) for t in now]
    report = df.attrs["reports"][0]
    assert report["complete"] and report["relists"] == 1


def test_fetch_all_reads_a_moved_listing_again_and_gets_all_of_it(client, emulator, moving_project):
    pid, first, moved = moving_project
    emulator.faults.push(
        "move", operation="listTasks", project=pid, skip=1, task_id=moved, parent_id=first
    )

    listing = client.fetch_all("listTasks", projectId=pid)

    now = emulator.workspace.tasks(pid)
    assert [(t["id"], t.get("parentId")) for t in listing.items] == [
        (t["id"], t.get("parentId")) for t in now
    ]
    assert listing.report.complete and listing.report.relists == 1


def test_a_cursor_item_seen_again_under_another_parent_is_a_move(client, emulator, moving_project):
    """A server that overlaps pages by one shows the cursor item again: its parent changed."""
    pid, _, moved = moving_project
    emulator.faults.always("duplicate", operation="listTasks")
    ws = emulator.workspace
    pager = client.paginate("listTasks", projectId=pid)
    pages = pager.pages()
    next(pages)
    # T becomes the last child of the root before it: same place in the document
    ws.update_task(pid, moved, parent_id=ws.tasks(pid)[8]["id"])

    with pytest.raises(ListingChangedError, match="another parent"):
        list(pages)
    assert not pager.report.complete


# -- a listing that never ends (issue 12.12) ---------------------------------------------


def test_a_project_growing_faster_than_it_is_read_ends_at_the_deadline(
    client, emulator, moving_project
):
    pid = moving_project[0]
    emulator.faults.push("grow", count=10_000, operation="listTasks", n=20)
    ticks = iter(range(10**6))
    pager = Pager(
        client, operation("listTasks"), {"projectId": pid}, clock=lambda: float(next(ticks))
    )  # one "second" per look at the clock
    client.listing_deadline = 30

    with pytest.raises(PaginationError, match="growing faster") as info:
        list(pager)

    assert not pager.report.complete and pager.report.stop_reason == "deadline"
    assert info.value.pages <= 30 and emulator.request_count("listTasks") == info.value.pages


def test_the_default_deadline_is_a_setting_of_the_client(client, emulator):
    assert client.listing_deadline == 3600.0
    with TaskadeClient(FAKE_TOKEN, base_url=emulator.base_url, listing_deadline=None) as c:
        assert c.listing_deadline is None


@pytest.mark.parametrize("bad", ["30", 0, -1, float("inf"), True])
def test_a_bad_listing_deadline_is_refused_when_it_is_set(client, emulator, bad):
    """Checked when set, at construction or later, not as a TypeError mid-listing."""
    with pytest.raises((TypeError, ValueError), match="listing_deadline"):
        TaskadeClient(FAKE_TOKEN, base_url=emulator.base_url, listing_deadline=bad)
    with pytest.raises((TypeError, ValueError), match="listing_deadline"):
        client.listing_deadline = bad


def test_max_pages_still_bounds_a_growing_listing(emulator, moving_project):
    emulator.faults.push("grow", count=10_000, operation="listTasks", n=20)
    with (
        TaskadeClient(FAKE_TOKEN, base_url=emulator.base_url, max_pages=7) as c,
        pytest.raises(PaginationError, match="max_pages"),
    ):
        c.fetch_all("listTasks", projectId=moving_project[0])
    assert emulator.request_count("listTasks") == 7


# -- ids Python would confuse, and server text in messages (issue 12.13, 12.2) ------------


def test_distinct_json_ids_stay_distinct():
    keys = [item_key(v) for v in ("5", 5, 1, True, False, 0, "true", 5.5)]
    assert len(set(keys)) == len(keys)
    assert item_key(5) == item_key(5.0)  # one JSON number
    for bad in ([1], {"a": 1}, None):
        with pytest.raises(TypeError):
            item_key(bad)


class FakeSource:
    """A stand-in server for the pager: pure unit tests of the loop's rules."""

    max_pages = 100
    listing_deadline = None

    def __init__(self, pages):
        self.pages = list(pages)
        self.sent = []

    def send(self, op, body):
        self.sent.append(body)
        return {"ok": True, "items": self.pages.pop(0) if self.pages else []}

    def page_limit(self, op):
        return 100

    def learn_limit(self, op, limit):
        pass


def test_ids_1_and_true_are_two_items_and_5_and_five_are_two():
    source = FakeSource([[{"id": 1}, {"id": True}, {"id": 5}, {"id": "5"}]])
    items = list(Pager(source, operation("listSpaces"), {}))
    assert [i["id"] for i in items] == [1, True, 5, "5"]


@pytest.mark.parametrize("bad", [[1, 2], {"nested": "id"}])
def test_an_unhashable_id_is_a_typed_error(bad):
    source = FakeSource([[{"id": "a"}, {"id": bad}]])
    with pytest.raises(InvalidResponseError, match="not a string or a number"):
        list(Pager(source, operation("listSpaces"), {}))


def test_a_listing_that_keeps_moving_ends_in_a_typed_error():
    """Read again at most MAX_RELISTS times: then the error, not a loop."""
    first = [{"id": "a"}, {"id": "b"}, {"id": "c"}]
    moved = [{"id": "c"}, {"id": "d"}, {"id": "a"}]  # "a" now after the cursor
    source = FakeSource([first, moved] * (MAX_RELISTS + 2))
    with pytest.raises(ListingChangedError, match="moved"):
        paging.fetch_all(source, operation("listTasks"), {"projectId": "p"})
    assert len(source.sent) == 2 * (MAX_RELISTS + 1)


def test_a_token_echoed_in_an_item_without_id_is_redacted_before_the_cut():
    token = "tok_" + "e" * 70 + "Z9"
    register_secret(token)
    # the token straddles the 80-character excerpt: cutting first would show most of it
    source = FakeSource([[{"id": "a"}, {"note": token}]])
    with pytest.raises(InvalidResponseError) as info:
        list(Pager(source, operation("listSpaces"), {}))
    assert "e" * 9 not in str(info.value) and "<redacted>" in str(info.value)


def test_a_token_echoed_as_a_repeated_cursor_is_redacted():
    token = "tok_" + "c" * 90
    register_secret(token)
    page = [{"id": "a"}, {"id": token}]
    source = FakeSource([page, page])
    with pytest.raises(PaginationError, match="repeated the cursor") as info:
        list(Pager(source, operation("listTasks"), {"projectId": "p"}))
    assert "c" * 9 not in str(info.value)
