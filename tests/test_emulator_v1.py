"""The emulator's v1 task-detail routes, over real HTTP, checked against the v1 spec.

Responses are validated twice: against the compact schemas the emulator
carries (``v1_schemas.json``) and against the verbatim v1 spec, read here with
its own ``nullable`` translation so that a slip in the derivation cannot hide.
"""

from __future__ import annotations

import copy
import http.client
import json
from datetime import date
from typing import Any

import pytest
from jsonschema import Draft7Validator, Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from taskade_frames.emulator import Emulator, Workspace
from taskade_frames.emulator import _schemas as carried

from .conftest import FAKE_TOKEN

SPEC_FILE = carried.SPEC_DIR / "taskade-api-v1.openapi.json"
PARTS = {
    "assignees": "taskAssigneesGet",
    "date": "taskGetDate",
    "note": "taskNoteGet",
    "fields": "taskFieldsValueGet",
}


def get(
    emu: Emulator,
    path: str,
    *,
    method: str = "GET",
    token: str | None = FAKE_TOKEN,
    body: bytes = b"",
) -> tuple[int, Any]:
    conn = http.client.HTTPConnection(emu.host, emu.port, timeout=10)
    try:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        conn.request(method, f"/api/v1{path}", body=body or None, headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def detail(emu: Emulator, project_id: str, task_id: str, part: str, **kw: Any):
    return get(emu, f"/projects/{project_id}/tasks/{task_id}/{part}", **kw)


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return json.loads(SPEC_FILE.read_text(encoding="utf-8"))


def _spec_validator(spec: dict[str, Any], path: str) -> Draft7Validator:
    def translate(node: Any) -> Any:
        if isinstance(node, list):
            return [translate(item) for item in node]
        if not isinstance(node, dict):
            return node
        out = {key: translate(value) for key, value in node.items()}
        if out.get("nullable") is True and (
            "type" in out or "allOf" in out or "anyOf" in out or "$ref" in out
        ):
            del out["nullable"]
            return {"anyOf": [out, {"type": "null"}]}
        return out

    document = translate(copy.deepcopy(spec))
    registry = Registry().with_resource("urn:taskade-v1", Resource.from_contents(document, DRAFT7))
    escaped = path.replace("~", "~0").replace("/", "~1")
    pointer = f"/paths/{escaped}/get/responses/200/content/application~1json/schema"
    return Draft7Validator({"$ref": f"urn:taskade-v1#{pointer}"}, registry=registry)


def _tasks(emu: Emulator) -> list[tuple[str, str]]:
    """(project_id, task_id) of every task in the sample but the 1,000-task backlog,
    plus its first 60 tasks."""
    out = []
    for p in emu.workspace.projects.values():
        n = len(p.tasks) if len(p.tasks) < 100 else 60
        out += [(p.id, p.tasks.id_at(i)) for i in range(n)]
    return out


@pytest.mark.parametrize("part", sorted(PARTS))
def test_every_answer_matches_carried_schema_and_the_spec(emulator, spec, part):
    op = PARTS[part]
    route = carried.load_v1()["routes"][op]
    mine = Draft202012Validator(route["response"])
    theirs = _spec_validator(spec, route["path"])
    error = Draft202012Validator(carried.load_v1()["error"])
    statuses = set()
    for project_id, task_id in _tasks(emulator):
        status, payload = detail(emulator, project_id, task_id, part)
        statuses.add(status)
        if status == 200:
            mine.validate(payload)
            theirs.validate(payload)
        else:
            assert (part, status) == ("date", 404), payload
            error.validate(payload)
    assert 200 in statuses


def test_carried_v1_schemas_are_derived_from_the_current_spec():
    raw = SPEC_FILE.read_bytes()
    derived = json.loads(json.dumps(carried.derive_v1(json.loads(raw), raw)))
    assert derived == carried.load_v1(), "run: python -m taskade_frames.emulator._schemas"
    assert set(derived["routes"]) == set(PARTS.values())


def test_sample_has_every_date_shape_and_overdue_open_work(emulator):
    starts, ends, overdue = set(), set(), 0
    for p in emulator.workspace.projects.values():
        completed = {r["id"]: r["completed"] for r in p.tasks.records()}
        for task_id, d in p.details.items():
            if "date" not in d:
                continue
            start, end = d["date"]["start"], d["date"].get("end", "absent")
            starts.add(tuple(sorted(k for k, v in start.items() if v is not None)))
            ends.add(
                "period"
                if isinstance(end, dict) and "period" in end
                else "date"
                if isinstance(end, dict)
                else str(end)
            )
            due = date.fromisoformat(
                (end if isinstance(end, dict) and "date" in end else start)["date"]
            )
            overdue += due < emulator.now.date() and not completed[task_id]
    assert starts == {("date",), ("date", "time"), ("date", "time", "timezone")}
    assert ends == {"date", "period", "None", "absent"}
    assert overdue >= 10


def test_sample_gives_a_value_for_every_field_type(emulator):
    for p in emulator.workspace.projects.values():
        valued = {fid for d in p.details.values() for fid in d.get("fields", {})}
        assert valued == {f["id"] for f in p.fields}, p.name
    kinds = {f["data"]["type"] for p in emulator.workspace.projects.values() for f in p.fields}
    assert {"Select", "number", "string", "DateTime", "boolean", "Rating", "Assign"} <= kinds


def test_assignees_are_project_members_with_display_names(emulator):
    p = next(p for p in emulator.workspace.projects.values() if p.name == "Q3 Product Roadmap")
    members = {m["handle"]: m["displayName"] for m in p.members}
    task_id = next(t for t, d in p.details.items() if d.get("assignees"))
    status, payload = detail(emulator, p.id, task_id, "assignees")
    assert status == 200 and payload["items"]
    for user in payload["items"]:
        assert members[user["handle"]] == user["displayName"]


def test_empty_note_and_missing_date(emulator):
    p = next(iter(emulator.workspace.projects.values()))
    task_id = p.tasks.id_at(0)
    emulator.workspace.set_task_details(p.id, task_id, date=None, note=None)
    assert detail(emulator, p.id, task_id, "note") == (200, {"ok": True, "item": None})
    status, payload = detail(emulator, p.id, task_id, "date")
    assert status == 404 and payload["code"] == "not_found"


def test_deleted_task_forbidden_ids_and_wrong_methods(emulator):
    p = next(iter(emulator.workspace.projects.values()))
    task_id = p.tasks.id_at(len(p.tasks) - 1)
    error = Draft202012Validator(carried.load_v1()["error"])
    emulator.workspace.delete_task(p.id, task_id)
    for part in PARTS:
        status, payload = detail(emulator, p.id, task_id, part)
        assert status == 404 and payload["message"] == "Task not found"
    assert detail(emulator, "missing", task_id, "fields")[0] == 404
    emulator.forbidden = {p.id}
    status, payload = detail(emulator, p.id, p.tasks.id_at(0), "assignees")
    assert status == 403
    error.validate(payload)
    assert detail(emulator, p.id, p.tasks.id_at(0), "date", method="PUT")[0] == 501
    assert detail(emulator, p.id, p.tasks.id_at(0), "note", method="POST")[0] == 405
    assert detail(emulator, p.id, p.tasks.id_at(0), "fields", token=None)[0] == 401
    assert detail(emulator, p.id, p.tasks.id_at(0), "fields", body=b"{}")[0] == 400
    assert get(emulator, "/nothing/here")[0] == 404


def test_faults_and_rate_limit_apply_to_v1_routes(emulator):
    p = next(iter(emulator.workspace.projects.values()))
    task_id = p.tasks.id_at(0)
    emulator.faults.push("status", count=2, operation="taskNoteGet", status=429, retry_after="1")
    assert detail(emulator, p.id, task_id, "assignees")[0] == 200  # other routes unaffected
    assert [detail(emulator, p.id, task_id, "note")[0] for _ in range(3)] == [429, 429, 200]
    emulator.rate_limit = (1, 60.0)
    statuses = [detail(emulator, p.id, task_id, "fields")[0] for _ in range(2)]
    assert statuses == [200, 429]
    logged = [r["operation"] for r in emulator.requests]
    assert logged.count("taskNoteGet") == 3 and "taskFieldsValueGet" in logged


def test_details_survive_a_json_round_trip_and_copies(emulator):
    ws = emulator.workspace
    again = Workspace.from_json(json.loads(json.dumps(ws.to_json())))
    assert {p.id: p.details for p in again.projects.values()} == {
        p.id: p.details for p in ws.projects.values()
    }
    other = ws.copy()
    p = next(iter(other.projects.values()))
    other.set_task_details(p.id, p.tasks.id_at(0), note={"type": "text/plain", "value": "x"})
    assert ws.projects[p.id].details.get(p.tasks.id_at(0), {}).get("note") != {
        "type": "text/plain",
        "value": "x",
    }
    with pytest.raises(ValueError, match="unknown task detail"):
        ws.set_task_details(p.id, p.tasks.id_at(0), colour="red")
