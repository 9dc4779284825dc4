"""Pagination anomalies over real HTTP: short pages, overlaps, repeats, deletions, nulls.

The cursor listing (``listTasks``) and a page-numbered one (``listProjectMembers``)
are walked while the emulator misbehaves or while the workspace changes between
two pages. Each walk ends with every item exactly once and a report that says so,
or with a typed error after a bounded number of requests. Plain capped pages and
``limit`` fallbacks are covered in ``test_client_http.py``; random caps and page
sizes in ``test_properties.py``.
"""

from __future__ import annotations

import pytest

from taskade_frames import NotFoundError, PaginationError
from taskade_frames.loaders import load_members, load_tasks
from taskade_frames.paging import MAX_CURSOR_FALLBACKS

TASKS = 25
MEMBERS = 23


@pytest.fixture
def project(emulator):
    """25 tasks (5 roots with 4 children each) and 23 members, made for these tests."""
    ws = emulator.workspace
    space = next(iter(ws.spaces))
    pid = ws.add_project(space, "Paging drill")
    for i in range(5):
        root = ws.add_task(pid, f"root {i}")
        for j in range(4):
            ws.add_task(pid, f"child {i}.{j}", parent_id=root, completed=j % 2 == 1)
    for k in range(MEMBERS):
        ws.add_member(pid, f"member{k:02d}", f"Member {k}")
    return pid


def task_ids(emulator, pid: str) -> list[str]:
    return [t["id"] for t in emulator.workspace.tasks(pid)]


def handles(emulator, pid: str) -> list[str]:
    return [m["handle"] for m in emulator.workspace.projects[pid].members]


# -- the cursor item deleted between two pages ------------------------------------------


@pytest.mark.parametrize(("cap", "what"), [(5, "a leaf"), (6, "a root with 4 children")])
def test_cursor_item_deleted_between_two_pages(client, emulator, project, cap, what):
    emulator.page_cap = cap
    pager = client.paginate("listTasks", projectId=project)
    pages = pager.pages()

    first = next(pages)
    last = first[-1]["id"]
    removed = emulator.workspace.delete_task(project, last)
    rest = [item for page in pages for item in page]

    assert removed == (1 if what == "a leaf" else 5)
    seen = [t["id"] for t in first]
    remaining = task_ids(emulator, project)
    # What page one showed (the deleted task included: it was there when it was read),
    # then every task still in the project, once each, in document order.
    assert seen + [t["id"] for t in rest] == seen + [i for i in remaining if i not in seen]
    assert pager.report.cursor_fallbacks == 1
    assert pager.report.complete and pager.report.duplicates_dropped == 0


def test_a_whole_deleted_page_of_cursors_is_a_typed_error(client, emulator, project):
    """Every item the client could fall back to is gone: it says so instead of guessing."""
    emulator.page_cap = 3
    pager = client.paginate("listTasks", projectId=project)
    pages = pager.pages()
    first = next(pages)
    for task in reversed(first):  # root 0 and two of its children
        emulator.workspace.delete_task(project, task["id"])
    before = emulator.request_count("listTasks")

    with pytest.raises(NotFoundError, match="cursor"):
        list(pages)

    assert emulator.request_count("listTasks") - before == len(first)  # last, then 2 fallbacks
    assert not pager.report.complete


def test_a_project_deleted_mid_listing_is_a_typed_error(client, emulator, project):
    emulator.page_cap = 5
    pager = client.paginate("listTasks", projectId=project)
    pages = pager.pages()
    next(pages)
    with emulator.workspace.lock:
        del emulator.workspace.projects[project]
    before = emulator.request_count("listTasks")

    with pytest.raises(NotFoundError, match="Project not found"):
        list(pages)

    # Bounded: the next page, then at most the cursor fallbacks.
    assert emulator.request_count("listTasks") - before <= 1 + MAX_CURSOR_FALLBACKS
    assert not pager.report.complete and pager.report.stop_reason == "not finished"


def test_a_project_deleted_before_the_listing_is_one_request(client, emulator, project):
    with emulator.workspace.lock:
        del emulator.workspace.projects[project]

    with pytest.raises(NotFoundError):
        load_tasks(project, client)
    assert emulator.request_count("listTasks") == 1


# -- the same item on two pages ---------------------------------------------------------


def test_overlapping_cursor_pages_load_every_task_once(client, emulator, project):
    emulator.page_cap = 5
    emulator.faults.always("duplicate", operation="listTasks")

    df = load_tasks(project, client)

    assert df["id"].tolist() == task_ids(emulator, project)
    assert not df["is_duplicate"].any()
    (report,) = df.attrs["reports"]
    # pages of 5 then 4 new (one repeats the cursor item): the echo on each of 6 later pages
    assert report["complete"] and report["duplicates_dropped"] == 6


def test_overlapping_numbered_pages_load_every_member_once(client, emulator, project):
    emulator.page_cap = 5
    emulator.faults.always("duplicate", operation="listProjectMembers")

    df = load_members(project, client)

    assert df["handle"].tolist() == handles(emulator, project)
    (report,) = df.attrs["reports"]
    assert report["complete"] and report["duplicates_dropped"] == MEMBERS // 5


# -- a repeated page or cursor: bounded, clear error ------------------------------------


def test_a_server_stuck_on_one_cursor_page_stops_the_loader(client, emulator, project):
    emulator.page_cap = 5
    emulator.faults.always("repeat_page", operation="listTasks")

    with pytest.raises(PaginationError, match="repeated the cursor") as info:
        load_tasks(project, client)

    assert info.value.operation == "listTasks" and info.value.pages == 2
    assert emulator.request_count("listTasks") == 2


def test_a_server_stuck_on_page_one_stops_the_loader(client, emulator, project):
    emulator.page_cap = 5
    emulator.faults.always("repeat_page", operation="listProjectMembers")

    with pytest.raises(PaginationError, match="repeated items") as info:
        load_members(project, client)

    assert info.value.pages == 3 and emulator.request_count("listProjectMembers") == 3


def test_a_single_repeated_cursor_page_is_an_error_not_a_loop(client, emulator, project):
    emulator.page_cap = 5
    pager = client.paginate("listTasks", projectId=project)
    pages = pager.pages()
    next(pages)
    emulator.faults.push("repeat_page", operation="listTasks")  # page 2 comes back as page 1

    with pytest.raises(PaginationError, match="repeated the cursor"):
        list(pages)
    assert emulator.request_count("listTasks") == 2 and not pager.report.complete


def test_a_single_repeated_numbered_page_loses_nothing(client, emulator, project):
    emulator.page_cap = 5
    pager = client.paginate("listProjectMembers", projectId=project)
    pages = pager.pages()
    got = list(next(pages))
    emulator.faults.push("repeat_page", operation="listProjectMembers")  # page 2 = page 1

    try:
        got += [m for page in pages for m in page]
    except PaginationError:
        assert not pager.report.complete
        return  # a clear error is an acceptable outcome too
    assert [m["handle"] for m in got] == handles(emulator, project)
    assert pager.report.complete


# -- null items ---------------------------------------------------------------------------


def test_null_items_in_cursor_pages_are_skipped_and_counted(client, emulator, project):
    emulator.page_cap = 5
    emulator.faults.always("null_items", operation="listTasks")

    df = load_tasks(project, client)

    assert df["id"].tolist() == task_ids(emulator, project)
    (report,) = df.attrs["reports"]
    # two per page: 5 items, then 4 new a page (one repeats the cursor item), then the end
    assert report["complete"] and report["null_items"] == 2 * (1 + (TASKS - 5) // 4 + 1)


def test_null_items_in_numbered_pages_are_skipped_and_counted(client, emulator, project):
    emulator.page_cap = 5
    emulator.faults.always("null_items", operation="listProjectMembers")

    df = load_members(project, client)

    assert df["handle"].tolist() == handles(emulator, project)
    (report,) = df.attrs["reports"]
    assert report["complete"] and report["null_items"] == 2 * -(-MEMBERS // 5)


def test_nulls_duplicates_and_extra_fields_at_once(client, emulator, project):
    emulator.page_cap = 4
    for kind in ("null_items", "duplicate", "extra_fields"):
        emulator.faults.always(kind, operation="listTasks")

    df = load_tasks(project, client)

    assert df["id"].tolist() == task_ids(emulator, project)
    assert df.attrs["reports"][0]["complete"]


# -- the limit of numbered pages --------------------------------------------------------


def test_numbered_pages_cannot_see_a_member_removed_between_pages(client, emulator, project):
    """A documented limit, not a client bug: offset paging shifts when an earlier item
    goes, and the API gives no total to check against. The member that moved up into
    page one is missed and nothing can tell. Cursor listings (tasks, blocks) do not
    have this problem; see RELIABILITY.md."""
    emulator.page_cap = 5
    pager = client.paginate("listProjectMembers", projectId=project)
    pages = pager.pages()
    first = next(pages)
    emulator.workspace.projects[project].members.pop(0)
    rest = [m for page in pages for m in page]

    got = [m["handle"] for m in first + rest]
    now = handles(emulator, project)
    missed = [h for h in now if h not in got]
    assert missed == ["member05"]
    assert pager.report.complete  # the report cannot know
