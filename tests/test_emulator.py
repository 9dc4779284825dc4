"""The emulator's behaviour over real loopback HTTP: operations, paging, knobs, faults.

These tests use ``http.client`` directly (not the project's client), so they
pin down what the emulator says on the wire.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import socket
import threading
import time
from typing import Any, NamedTuple

import pytest

from taskade_frames.emulator import DEFAULT_TOKEN, Emulator, Workspace, cli_main
from taskade_frames.emulator._ops import HANDLERS

from .conftest import FAKE_TOKEN

TOKEN = FAKE_TOKEN


class Answer(NamedTuple):
    status: int
    headers: dict[str, str]
    raw: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.raw)


def send(
    conn: http.client.HTTPConnection,
    op: str,
    body: Any = None,
    *,
    token: str | None = TOKEN,
    raw: bytes | None = None,
    method: str = "POST",
    path: str | None = None,
) -> Answer:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = raw if raw is not None else b"" if body is None else json.dumps(body).encode()
    conn.request(method, path or f"/api/v2/{op}", body=data, headers=headers)
    response = conn.getresponse()
    payload = response.read()
    return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, payload)


def post(emu: Emulator, op: str, body: Any = None, **kwargs: Any) -> Answer:
    """One request on a fresh connection."""
    conn = http.client.HTTPConnection(emu.host, emu.port, timeout=kwargs.pop("timeout", 10))
    try:
        return send(conn, op, body, **kwargs)
    finally:
        conn.close()


@pytest.fixture(scope="module")
def server(_emulator):
    """The session's emulator (tests/conftest.py), shared rather than started again."""
    return _emulator


@pytest.fixture
def emu(emulator):
    """The session's emulator, reset before each test and checked for handler errors."""
    return emulator


def by_name(items: dict[str, Any]) -> dict[str, str]:
    return {item.name: item.id for item in items.values()}


@pytest.fixture
def sample(emu) -> dict[str, str]:
    """Ids of the sample workspace by name."""
    ws = emu.workspace
    out = {
        **by_name(ws.spaces),
        **by_name(ws.folders),
        **by_name(ws.projects),
        **by_name(ws.agents),
    }
    return out


# -- operations --------------------------------------------------------------------


def test_list_spaces_accepts_no_body_and_filters_by_name(emu):
    assert [s["name"] for s in post(emu, "listSpaces").json["items"]] == [
        "Acme Product",
        "Personal",
    ]
    contains = {"filterBy": {"name": {"operator": "contains", "value": "acme"}}}
    assert [s["name"] for s in post(emu, "listSpaces", contains).json["items"]] == ["Acme Product"]
    equals = {"filterBy": {"name": {"operator": "equals", "value": "acme product"}}}
    assert post(emu, "listSpaces", equals).json["items"] == []


def test_folders_and_projects_of_a_space(emu, sample):
    folders = post(emu, "listFolders", {"spaceId": sample["Acme Product"]}).json["items"]
    assert [f["name"] for f in folders] == ["Roadmap", "Engineering", "Go-to-Market"]
    # Folder-scoped, as v1 documents: a space id lists its home folder only.
    projects = post(emu, "listProjects", {"spaceId": sample["Personal"]}).json["items"]
    assert [p["name"] for p in projects] == ["Trip to Lisbon"]
    projects = post(emu, "listProjects", {"spaceId": sample["Home"]}).json["items"]
    assert [p["name"] for p in projects] == ["Kitchen Renovation"]
    item = post(emu, "getProject", {"projectId": sample["Trip to Lisbon"]}).json["item"]
    assert item == {"id": sample["Trip to Lisbon"], "name": "Trip to Lisbon"}


def test_tasks_come_in_document_order_with_parent_ids(emu, sample):
    items = post(emu, "listTasks", {"projectId": sample["Trip to Lisbon"]}).json["items"]
    assert [(t["text"], t["completed"]) for t in items] == [
        ("Book flights", False),
        ("Where to eat", False),
        ("Pastéis de Belém 🥐", False),
        ("Time Out Market\nOpen daily 10:00–24:00", False),
        ("Renew passport", True),
    ]
    assert "parentId" not in items[0]
    assert items[2]["parentId"] == items[1]["id"] == items[3]["parentId"]


def test_list_tasks_walks_1000_tasks_with_after(emu, sample):
    project = sample["Bug Triage Backlog"]
    seen: list[dict[str, Any]] = []
    body: dict[str, Any] = {"projectId": project}
    while True:
        page = post(emu, "listTasks", body).json["items"]
        if not page:
            break
        assert len(page) <= 100
        seen.extend(page)
        body = {"projectId": project, "after": page[-1]["id"]}
    assert len(seen) == 1000
    assert seen == emu.workspace.tasks(project)
    assert emu.request_count("listTasks") == 11


def test_before_returns_the_tasks_preceding_the_cursor(emu, sample):
    tasks = emu.workspace.tasks(sample["Bug Triage Backlog"])
    page = post(
        emu,
        "listTasks",
        {"projectId": sample["Bug Triage Backlog"], "limit": 5, "before": tasks[12]["id"]},
    ).json["items"]
    assert page == tasks[7:12]
    page = post(
        emu,
        "listTasks",
        {"projectId": sample["Bug Triage Backlog"], "limit": 5, "before": tasks[2]["id"]},
    ).json["items"]
    assert page == tasks[:2]


def test_cursor_errors(emu, sample):
    body = {"projectId": sample["Bug Triage Backlog"], "after": "no-such-task"}
    answer = post(emu, "listTasks", body)
    assert answer.status == 404
    assert answer.json["code"] == "not_found" and "cursor" in answer.json["message"]
    tasks = emu.workspace.tasks(sample["Bug Triage Backlog"])
    both = {
        "projectId": sample["Bug Triage Backlog"],
        "after": tasks[0]["id"],
        "before": tasks[5]["id"],
    }
    assert post(emu, "listTasks", both).status == 400


def test_blocks_page_like_tasks(emu, sample):
    items = post(emu, "listBlocks", {"projectId": sample["Q3 Product Roadmap"]}).json["items"]
    assert [b["text"] for b in items] == [
        "Goals for the quarter",
        "Owner: Priya Patel",
        "Review with leadership on 2 September",
    ]
    assert all(set(b) == {"id", "text", "completed"} for b in items)
    after = post(
        emu,
        "listBlocks",
        {"projectId": sample["Q3 Product Roadmap"], "limit": 1, "after": items[0]["id"]},
    ).json["items"]
    assert after == items[1:2]


def test_fields_members_and_share_links(emu, sample):
    fields = post(emu, "listFields", {"projectId": sample["Mobile App 2.0 Launch"]}).json["items"]
    kinds = [f["data"]["type"] for f in fields]
    assert kinds == ["Select", "Assign", "DateTime", "number", "boolean"]
    members = [
        post(
            emu, "listProjectMembers", {"projectId": sample["Mobile App 2.0 Launch"], "page": page}
        ).json["items"]
        for page in (1, 2, 3, 4)
    ]
    assert [len(m) for m in members] == [20, 20, 5, 0]
    assert len({m["handle"] for page in members for m in page}) == 45
    shared = post(emu, "getShareLink", {"projectId": sample["Q3 Product Roadmap"]}).json["item"]
    assert shared["viewUrl"].startswith("https://")
    assert post(emu, "getShareLink", {"projectId": sample["Acme Inbox"]}).json["item"] is None


def test_my_projects_by_recency(emu):
    newest = post(emu, "listMyProjects", {"limit": 3}).json["items"]
    assert [p["name"] for p in newest] == [
        "Acme Inbox",
        "Mobile App 2.0 Launch",
        "Bug Triage Backlog",
    ]
    oldest = post(emu, "listMyProjects", {"sort": "viewed-asc", "limit": 1}).json["items"]
    assert oldest[0]["name"] == "Reading List & Courses"
    everything = post(emu, "listMyProjects", None).json["items"]
    assert len(everything) == 9


def test_agents_and_public_agent(emu, sample):
    # Acme's agents are all in folders; its home folder (the space id) has none.
    assert post(emu, "listAgents", {"spaceId": sample["Acme Product"]}).json["items"] == []
    agents = [
        a
        for folder in ("Roadmap", "Engineering", "Go-to-Market")
        for a in post(emu, "listAgents", {"spaceId": sample[folder]}).json["items"]
    ]
    assert [a["name"] for a in agents] == [
        "Roadmap Assistant",
        "Bug Triage Bot",
        "Marketing Copywriter",
    ]
    assert all(isinstance(a["tools"], dict) and a["description"] for a in agents)
    home = post(emu, "listAgents", {"spaceId": sample["Personal"]}).json["items"]
    assert [a["name"] for a in home] == ["Home Planner"]
    filtered = post(
        emu,
        "listAgents",
        {
            "spaceId": sample["Engineering"],
            "filterBy": {"name": {"operator": "contains", "value": "bot"}},
        },
    ).json["items"]
    assert [a["name"] for a in filtered] == ["Bug Triage Bot"]
    item = post(emu, "getAgent", {"agentId": sample["Home Planner"]}).json["item"]
    assert item["space_id"] == sample["Personal"] and "commands" in item["data"]
    public = post(emu, "getPublicAgent", {"agentId": sample["Marketing Copywriter"]}).json
    assert public["item"]["preferences"]["mode"] == "chatbot"
    assert post(emu, "getPublicAgent", {"agentId": sample["Home Planner"]}).status == 404


def test_conversations_page_and_transcripts(emu, sample):
    agent = sample["Roadmap Assistant"]
    first = post(emu, "listConversations", {"agentId": agent}).json["items"]
    second = post(emu, "listConversations", {"agentId": agent, "page": 2}).json["items"]
    assert (len(first), len(second)) == (20, 5)
    convo = first[0]
    assert convo["space_agent_id"] == agent and convo["data"]["llm"]["type"] == "openai"
    plain = post(emu, "getConversation", {"agentId": agent, "convoId": convo["id"]}).json
    assert "transcript" not in plain
    full = post(
        emu,
        "getConversation",
        {"agentId": agent, "convoId": convo["id"], "includeTranscript": True},
    ).json
    assert full["transcript"].startswith("User: ") and "\nAssistant: " in full["transcript"]
    other = post(
        emu, "getConversation", {"agentId": sample["Home Planner"], "convoId": convo["id"]}
    )
    assert other.status == 404


def test_media_and_templates_by_folder(emu, sample):
    gtm = sample["Go-to-Market"]
    pages = [post(emu, "listMedia", {"folderId": gtm, "page": p}).json["items"] for p in (1, 2)]
    assert [len(p) for p in pages] == [100, 30]
    media = pages[0][0]
    assert post(emu, "getMedia", {"mediaId": media["id"]}).json["item"] == media
    templates = post(emu, "listTemplates", {"folderId": sample["Roadmap"]}).json["items"]
    assert len(templates) == 20
    assert (
        post(emu, "listTemplates", {"folderId": sample["Roadmap"], "page": 2, "limit": 20}).json[
            "items"
        ][-1]["name"]
        == "Quarterly review"
    )
    # A space id stands for the space's home folder: Acme's is empty, Personal's is not.
    assert post(emu, "listMedia", {"folderId": sample["Acme Product"]}).json["items"] == []
    home = post(emu, "listMedia", {"folderId": sample["Personal"]}).json["items"]
    assert len(home) == 2
    templates = post(emu, "listTemplates", {"folderId": sample["Personal"]}).json["items"]
    assert [t["name"] for t in templates] == ["Packing list", "Home maintenance"]


def test_create_project_from_markdown_round_trips(emu, sample):
    markdown = (
        "# Launch 🚀 plan\n"
        "\n"
        "- [ ] Prepare\n"
        "  - [x] Write the brief\n"
        "    - [ ] Line one\\nline two with a backslash \\\\ here\n"
        "      - [ ] 日本語のタスク\n"
        "  - [ ] Sep\u2028arated by U+2028\n"
        "- Plain bullet\n"
        "* [x] Star bullet\n"
        "\t- Tab child\n"
    )
    answer = post(
        emu,
        "createProject",
        {"spaceId": sample["Personal"], "contentType": "text/markdown", "content": markdown},
    )
    assert answer.status == 200
    project = answer.json["item"]
    assert project["name"] == "Launch 🚀 plan"
    tasks = post(emu, "listTasks", {"projectId": project["id"]}).json["items"]
    rows = [(t["text"], t["completed"]) for t in tasks]
    assert rows == [
        ("Prepare", False),
        ("Write the brief", True),
        ("Line one\nline two with a backslash \\ here", False),
        ("日本語のタスク", False),
        ("Sep\u2028arated by U+2028", False),
        ("Plain bullet", False),
        ("Star bullet", True),
        ("Tab child", False),
    ]
    parents = [t.get("parentId") for t in tasks]
    ids = [t["id"] for t in tasks]
    assert parents == [None, ids[0], ids[1], ids[2], ids[0], None, None, ids[6]]
    listed = post(emu, "listProjects", {"spaceId": sample["Personal"]}).json["items"]
    assert project in listed
    assert post(emu, "listMyProjects", {"limit": 1}).json["items"] == [project]


def test_complete_and_restore_project(emu, sample):
    body = {"projectId": sample["Acme Inbox"]}
    assert post(emu, "completeProject", body).json["item"]["name"] == "Acme Inbox"
    assert emu.workspace.projects[sample["Acme Inbox"]].completed
    post(emu, "restoreProject", body)
    assert not emu.workspace.projects[sample["Acme Inbox"]].completed


def test_prompt_agent_gives_a_canned_summary_of_its_knowledge(emu, sample):
    body = {
        "spaceId": sample["Personal"],
        "agentId": sample["Home Planner"],
        "prompt": "What should I do next for the kitchen?",
    }
    summary = post(emu, "promptAgent", body).json["summary"]
    assert "Home Planner" in summary
    assert "What should I do next for the kitchen?" in summary
    assert "Kitchen Renovation (" in summary and "Trip to Lisbon (" in summary
    wrong_space = dict(body, spaceId=sample["Acme Product"])
    assert post(emu, "promptAgent", wrong_space).status == 404


def test_workspace_changes_show_up_in_responses(emu, sample):
    project = sample["Trip to Lisbon"]
    ws = emu.workspace
    first = ws.tasks(project)[0]["id"]
    new = ws.add_task(project, "Check in online", parent_id=first)
    items = post(emu, "listTasks", {"projectId": project}).json["items"]
    assert items[1] == {"id": new, "text": "Check in online", "parentId": first, "completed": False}
    ws.delete_task(project, first)
    items = post(emu, "listTasks", {"projectId": project}).json["items"]
    assert new not in {t["id"] for t in items} and len(items) == 4


# -- request validation -------------------------------------------------------------

UNKNOWN_IDS: dict[str, dict[str, Any]] = {
    "listFolders": {"spaceId": "missing"},
    "listProjects": {"spaceId": "missing"},
    "getProject": {"projectId": "missing"},
    "createProject": {"spaceId": "missing", "contentType": "text/markdown", "content": "# x"},
    "completeProject": {"projectId": "missing"},
    "restoreProject": {"projectId": "missing"},
    "listTasks": {"projectId": "missing"},
    "listBlocks": {"projectId": "missing"},
    "listFields": {"projectId": "missing"},
    "listProjectMembers": {"projectId": "missing"},
    "getShareLink": {"projectId": "missing"},
    "listAgents": {"spaceId": "missing"},
    "getAgent": {"agentId": "missing"},
    "getPublicAgent": {"agentId": "missing"},
    "promptAgent": {"spaceId": "missing", "agentId": "missing", "prompt": "hi"},
    "listConversations": {"agentId": "missing"},
    "getConversation": {"agentId": "missing", "convoId": "missing"},
    "listMedia": {"folderId": "missing"},
    "getMedia": {"mediaId": "missing"},
    "listTemplates": {"folderId": "missing"},
}
VALID: dict[str, dict[str, Any]] = {
    **{op: {} for op in ("listSpaces", "listMyProjects")},
    **UNKNOWN_IDS,
}


@pytest.mark.parametrize("op", sorted(UNKNOWN_IDS))
def test_unknown_ids_are_404_in_one_request(emu, op):
    answer = post(emu, op, UNKNOWN_IDS[op])
    assert answer.status == 404
    assert answer.json["ok"] is False and answer.json["code"] == "not_found"
    assert answer.json["statusMessage"] == "Not Found"
    assert emu.request_count() == 1


def test_project_not_found_envelope_is_exact(emu):
    assert post(emu, "getProject", {"projectId": "missing"}).json == {
        "ok": False,
        "message": "Project not found",
        "code": "not_found",
        "statusMessage": "Not Found",
    }


@pytest.mark.parametrize("op", sorted(HANDLERS))
def test_unknown_fields_are_400(emu, op):
    answer = post(emu, op, {**VALID[op], "zzUnknown": 1})
    assert answer.status == 400
    assert "zzUnknown" in answer.json["message"]


@pytest.mark.parametrize("op", sorted(HANDLERS))
@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_a_missing_or_wrong_token_is_401(emu, op, token):
    answer = post(emu, op, VALID[op], token=token)
    assert answer.status == 401
    assert answer.json["code"] == "unauthorized"
    assert answer.headers["content-type"] == "application/json; charset=utf-8"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({}, "missing required field 'projectId'"),
        ({"projectId": 7}, "'projectId' must be a string"),
        ({"projectId": ""}, "must not be empty"),
        ({"projectId": "p", "limit": True}, "'limit' must be a number"),
        ([1, 2], "must be an object"),
        ("text", "must be an object"),
        (None, "must be an object"),
    ],
)
def test_malformed_bodies_are_400(emu, body, words):
    answer = post(emu, "listTasks", body)
    assert answer.status == 400
    assert words.lower() in answer.json["message"].lower()


@pytest.mark.parametrize("limit", [0, -1, 2.5])
def test_bad_limits_are_400(emu, sample, limit):
    answer = post(emu, "listTasks", {"projectId": sample["Acme Inbox"], "limit": limit})
    assert (answer.status, answer.json["code"]) == (400, "invalid_limit")


def test_invalid_json_is_400(emu):
    answer = post(emu, "listSpaces", raw=b"{not json")
    assert (answer.status, answer.json["code"]) == (400, "invalid_json")


def test_routes_methods_and_unimplemented_operations(emu):
    assert post(emu, "deleteAgent", {"agentId": "x"}).json["code"] == "not_implemented"
    assert post(emu, "deleteAgent", {"agentId": "x"}).status == 501
    assert post(emu, "", method="GET", path="/api/v2/media/abc/content").status == 501
    assert post(emu, "listSpaces", method="GET").status == 405
    assert post(emu, "noSuchThing", {}).status == 404
    other = post(emu, "", path="/elsewhere")
    assert other.status == 404 and other.headers["content-type"].startswith("application/json")


# -- knobs ----------------------------------------------------------------------------


def test_page_cap_limits_cursor_pages(emu, sample):
    emu.page_cap = 7
    body = {"projectId": sample["Bug Triage Backlog"], "limit": 100}
    assert len(post(emu, "listTasks", body).json["items"]) == 7


def test_page_cap_counts_numbered_pages_in_capped_units(emu, sample):
    emu.page_cap = 7
    members = emu.workspace.projects[sample["Mobile App 2.0 Launch"]].members
    body = {"projectId": sample["Mobile App 2.0 Launch"], "limit": 20, "page": 3}
    assert post(emu, "listProjectMembers", body).json["items"] == members[14:21]
    body["page"] = 7
    assert post(emu, "listProjectMembers", body).json["items"] == members[42:45]


def test_max_limit(emu, sample):
    emu.max_limit = 50
    body = {"projectId": sample["Bug Triage Backlog"], "limit": 51}
    answer = post(emu, "listTasks", body)
    assert (answer.status, answer.json["code"]) == (400, "invalid_limit")
    assert post(emu, "listTasks", dict(body, limit=50)).status == 200
    emu.max_limit = 20
    default = post(emu, "listTasks", {"projectId": sample["Bug Triage Backlog"]})
    assert default.status == 200 and len(default.json["items"]) == 20


def test_latency(emu):
    emu.latency = 0.05
    started = time.perf_counter()
    post(emu, "listSpaces")
    assert time.perf_counter() - started >= 0.05


def test_rate_limit_answers_429_with_retry_after(emu):
    emu.rate_limit = (3, 60.0)
    statuses = [post(emu, "listSpaces").status for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    answer = post(emu, "listSpaces")
    assert answer.json["code"] == "rate_limited"
    assert int(answer.headers["retry-after"]) >= 1


def test_forbidden_ids_are_403(emu, sample):
    emu.forbidden = {sample["Q3 Product Roadmap"]}
    answer = post(emu, "listTasks", {"projectId": sample["Q3 Product Roadmap"]})
    assert (answer.status, answer.json["code"]) == (403, "forbidden")
    assert post(emu, "listTasks", {"projectId": sample["Acme Inbox"]}).status == 200


def test_credits_run_out_with_402(emu, sample):
    emu.credits = 2
    body = {"spaceId": sample["Personal"], "agentId": sample["Home Planner"], "prompt": "hi"}
    statuses = [post(emu, "promptAgent", body).status for _ in range(3)]
    assert statuses == [200, 200, 402]
    assert post(emu, "promptAgent", body).json["message"] == "Out of credits"
    assert post(emu, "promptAgent", body).json["code"] == "out_of_credits"


def test_reset_clears_knobs_log_and_faults(emu, sample):
    emu.page_cap, emu.latency, emu.credits = 3, 0.01, 0
    emu.forbidden = {"x"}
    emu.rate_limit = (1, 1.0)
    emu.faults.push("status")
    emu.workspace.add_task(sample["Acme Inbox"], "extra")
    emu.reset()
    assert (emu.page_cap, emu.latency, emu.credits, emu.rate_limit) == (None, 0.0, None, None)
    assert not emu.forbidden and not emu.faults.pending() and emu.requests == []
    assert len(emu.workspace.tasks(sample["Acme Inbox"])) == 4
    emu.reset(workspace=True)
    assert len(emu.workspace.tasks(sample["Acme Inbox"])) == 3


def test_a_request_that_waited_through_a_reset_leaves_the_next_test_alone(emu, sample):
    """A delayed request from a test that has ended (its client timed out) must not take
    the next test's workspace faults, nor change its workspace, when it wakes."""
    pid = sample["Acme Inbox"]
    emu.faults.push("delay", operation="listTasks", seconds=0.5)
    answers: list[Answer] = []
    waiting = threading.Thread(
        target=lambda: answers.append(post(emu, "listTasks", {"projectId": pid}))
    )
    waiting.start()
    while emu.faults.pending():  # the server took the delay: it is asleep now
        time.sleep(0.005)
    emu.reset(workspace=True)
    emu.faults.push("grow", operation="listTasks", project=pid, n=5)
    waiting.join()

    assert answers[0].status == 503 and answers[0].json["code"] == "reset"
    assert [f.kind for f in emu.faults.pending()] == ["grow"]
    assert len(emu.workspace.tasks(pid)) == 3 and emu.requests == []


def test_request_log(emu, sample):
    post(emu, "getProject", {"projectId": sample["Acme Inbox"]})
    post(emu, "getProject", {"projectId": "missing"})
    post(emu, "listSpaces")
    assert emu.requests == [
        {"operation": "getProject", "body": {"projectId": sample["Acme Inbox"]}, "status": 200},
        {"operation": "getProject", "body": {"projectId": "missing"}, "status": 404},
        {"operation": "listSpaces", "body": None, "status": 200},
    ]
    assert emu.request_count("getProject") == 2 and emu.request_count() == 3


def test_handler_exceptions_become_500_and_are_recorded(emu, sample):
    emu.workspace.projects[sample["Acme Inbox"]].tasks = None  # type: ignore[assignment]
    answer = post(emu, "listTasks", {"projectId": sample["Acme Inbox"]})
    assert (answer.status, answer.json["code"]) == (500, "internal_error")
    assert len(emu.errors) == 1 and isinstance(emu.errors[0], AttributeError)
    emu.errors.clear()


# -- faults ---------------------------------------------------------------------------


def test_status_fault_with_retry_after_then_recovers(emu):
    emu.faults.push("status", count=2, status=503, retry_after="0")
    first, second, third = (post(emu, "listSpaces") for _ in range(3))
    assert (first.status, second.status, third.status) == (503, 503, 200)
    assert first.headers["retry-after"] == "0"
    assert first.json["statusMessage"] == "Service Unavailable"


def test_status_fault_passes_http_dates_verbatim(emu):
    date = "Wed, 21 Oct 2015 07:28:00 GMT"
    emu.faults.push("status", status=429, retry_after=date)
    assert post(emu, "listSpaces").headers["retry-after"] == date


def test_faults_can_target_one_operation(emu, sample):
    emu.faults.push("status", operation="listTasks", status=500)
    assert post(emu, "listSpaces").status == 200
    assert post(emu, "listTasks", {"projectId": sample["Acme Inbox"]}).status == 500
    assert post(emu, "listTasks", {"projectId": sample["Acme Inbox"]}).status == 200


def test_status_fault_answers_instead_of_a_write(emu, sample):
    emu.faults.push("status", status=503)
    body = {"spaceId": sample["Personal"], "contentType": "text/markdown", "content": "# X"}
    assert post(emu, "createProject", body).status == 503
    assert "X" not in {p.name for p in emu.workspace.projects.values()}


def test_html_fault(emu):
    emu.faults.push("html")
    answer = post(emu, "listSpaces")
    assert answer.status == 502
    assert answer.headers["content-type"].startswith("text/html")
    assert b"Bad Gateway" in answer.raw


def test_truncated_fault_keeps_framing_but_breaks_json(emu):
    emu.faults.push("truncated")
    conn = http.client.HTTPConnection(emu.host, emu.port, timeout=10)
    try:
        answer = send(conn, "listSpaces")
        assert answer.status == 200
        assert int(answer.headers["content-length"]) == len(answer.raw)
        with pytest.raises(ValueError):
            json.loads(answer.raw)
        assert send(conn, "listSpaces").json["ok"] is True  # same connection still usable
    finally:
        conn.close()


def test_ok_false_fault(emu):
    emu.faults.push("ok_false", message="Something broke")
    answer = post(emu, "listSpaces")
    assert answer.status == 200
    assert answer.json["ok"] is False and answer.json["message"] == "Something broke"


def test_reset_fault_cuts_the_connection(emu):
    emu.faults.push("reset")
    with pytest.raises((http.client.IncompleteRead, ConnectionError)):
        post(emu, "listSpaces")
    assert post(emu, "listSpaces").status == 200


def test_delay_fault_trips_a_read_timeout(emu):
    emu.faults.push("delay", seconds=0.3)
    with pytest.raises(socket.timeout):
        post(emu, "listSpaces", timeout=0.1)
    assert post(emu, "listSpaces").status == 200
    deadline = time.monotonic() + 5
    while emu.request_count() < 2 and time.monotonic() < deadline:
        time.sleep(0.01)  # the delayed request is logged once its sleep ends
    assert emu.request_count() == 2


def test_requests_straddling_a_reset_stay_out_of_the_new_log(emu):
    emu.faults.push("delay", seconds=0.3)
    with pytest.raises(socket.timeout):
        post(emu, "listSpaces", timeout=0.05)
    emu.reset()
    time.sleep(0.4)
    assert emu.requests == []


def test_repeat_page_fault(emu, sample):
    project = sample["Bug Triage Backlog"]
    first = post(emu, "listTasks", {"projectId": project, "limit": 10}).json["items"]
    emu.faults.push("repeat_page", operation="listTasks")
    again = post(
        emu, "listTasks", {"projectId": project, "limit": 10, "after": first[-1]["id"]}
    ).json["items"]
    assert again == first
    emu.faults.always("repeat_page", operation="listProjectMembers")
    body = {"projectId": sample["Mobile App 2.0 Launch"]}
    page1 = post(emu, "listProjectMembers", body).json["items"]
    assert post(emu, "listProjectMembers", dict(body, page=3)).json["items"] == page1


def test_duplicate_fault_repeats_the_item_before_the_page(emu, sample):
    project = sample["Bug Triage Backlog"]
    first = post(emu, "listTasks", {"projectId": project, "limit": 10}).json["items"]
    emu.faults.push("duplicate")
    second = post(
        emu, "listTasks", {"projectId": project, "limit": 10, "after": first[-1]["id"]}
    ).json["items"]
    assert second[0] == first[-1] and len(second) == 11
    agent = sample["Roadmap Assistant"]
    page1 = post(emu, "listConversations", {"agentId": agent}).json["items"]
    emu.faults.push("duplicate", operation="listConversations")
    page2 = post(emu, "listConversations", {"agentId": agent, "page": 2}).json["items"]
    assert page2[0] == page1[-1] and len(page2) == 6


def test_null_items_and_extra_fields_faults(emu, sample):
    emu.faults.push("null_items")
    items = post(emu, "listSpaces").json["items"]
    assert items.count(None) == 2 and len(items) == 4
    emu.faults.always("extra_fields", operation="listProjects")
    for _ in range(2):
        items = post(emu, "listProjects", {"spaceId": sample["Personal"]}).json["items"]
        assert all(item["zzExtra"] == 1 for item in items)
    assert "zzExtra" not in post(emu, "listSpaces").json["items"][0]


def test_unknown_fault_kinds_are_refused(emu):
    with pytest.raises(ValueError):
        emu.faults.push("gremlins")
    with pytest.raises(ValueError):
        emu.faults.always("status")


# -- HTTP -------------------------------------------------------------------------------


def test_keep_alive_serves_two_requests_on_one_connection(emu):
    conn = http.client.HTTPConnection(emu.host, emu.port, timeout=10)
    try:
        first = send(conn, "listSpaces")
        sock = conn.sock
        second = send(conn, "listSpaces", {})
        assert first.status == second.status == 200
        assert conn.sock is sock and sock is not None
        assert first.headers.get("connection") != "close"
    finally:
        conn.close()


def test_default_emulator_uses_the_sample_and_the_default_token():
    ws = Workspace("tiny")
    ws.add_space("Only space")
    with Emulator(ws) as emu:
        assert emu.token == DEFAULT_TOKEN
        assert emu.base_url == f"http://127.0.0.1:{emu.port}/api/v2"
        items = post(emu, "listSpaces", token=DEFAULT_TOKEN).json["items"]
        assert [s["name"] for s in items] == ["Only space"]
        assert "emulator-token" not in repr(emu)


def test_data_file_option(tmp_path):
    ws = Workspace("from a file")
    space = ws.add_space("Filed")
    ws.add_project(space, "Filed project")
    path = tmp_path / "ws.json"
    ws.save(path)
    with Emulator(data=path, token=TOKEN) as emu:
        projects = post(emu, "listProjects", {"spaceId": space}).json["items"]
    assert [p["name"] for p in projects] == ["Filed project"]


def test_cli_serves_until_stopped():
    ready, stop = threading.Event(), threading.Event()
    out = io.StringIO()
    args = ["--port", "0", "--token", "cli-token", "--page-cap", "5"]
    with contextlib.redirect_stdout(out):
        worker = threading.Thread(
            target=cli_main, args=(args,), kwargs={"ready": ready, "stop": stop}
        )
        worker.start()
        try:
            assert ready.wait(10)
            base_url = next(
                line.split()[-1] for line in out.getvalue().splitlines() if "base URL" in line
            )
            host, port = base_url.split("//")[1].split("/")[0].split(":")
            conn = http.client.HTTPConnection(host, int(port), timeout=10)
            try:
                answer = send(conn, "listMyProjects", {}, token="cli-token")
            finally:
                conn.close()
        finally:
            stop.set()
            worker.join(10)
    assert answer.status == 200 and len(answer.json["items"]) == 5
    assert "cli-token" in out.getvalue()
