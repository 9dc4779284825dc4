"""Every emulator response validates against the v2 spec's schemas.

Two checks per operation, over real HTTP: against the compact schemas the
emulator carries (``response_schemas.json``), and against the spec itself
(the verbatim copy in ``taskade_frames/emulator/spec``),
read here with its own small ``nullable`` translation so that a mistake in the
emulator's schema derivation cannot hide.
"""

from __future__ import annotations

import copy
import http.client
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator, Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from taskade_frames.emulator import Emulator
from taskade_frames.emulator import _schemas as carried

from .conftest import FAKE_TOKEN

SPEC_FILE = carried.SPEC_DIR / "taskade-api-v2.openapi.json"
TOKEN = FAKE_TOKEN


@pytest.fixture(scope="module")
def server(_emulator):
    """The session's emulator (tests/conftest.py), shared rather than started again."""
    return _emulator


@pytest.fixture
def emu(emulator):
    """The session's emulator, reset before each test and checked for handler errors."""
    return emulator


def post(
    emu: Emulator, op: str, body: Any = None, *, token: str | None = TOKEN, method: str = "POST"
) -> tuple[int, Any]:
    conn = http.client.HTTPConnection(emu.host, emu.port, timeout=10)
    try:
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        data = b"" if body is None else json.dumps(body).encode()
        conn.request(method, f"/api/v2/{op}", body=data, headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def ids(emu: Emulator) -> dict[str, str]:
    """Sample ids by role, looked up by name so the test reads like the data."""
    ws = emu.workspace
    project = {p.name: p.id for p in ws.projects.values()}
    agent = {a.name: a.id for a in ws.agents.values()}
    folder = {f.name: f.id for f in ws.folders.values()}
    space = {s.name: s.id for s in ws.spaces.values()}
    roadmap_agent = agent["Roadmap Assistant"]
    convo = next(c.id for c in ws.conversations.values() if c.agent_id == roadmap_agent)
    return {
        "space": space["Acme Product"],
        "project": project["Q3 Product Roadmap"],
        "bugs": project["Bug Triage Backlog"],
        "launch": project["Mobile App 2.0 Launch"],
        "unshared": project["Bug Triage Backlog"],
        "agent": roadmap_agent,
        "public_agent": agent["Marketing Copywriter"],
        "convo": convo,
        "gtm": folder["Go-to-Market"],
        "roadmap_folder": folder["Roadmap"],
        "media": next(iter(ws.media)),
    }


# (operation, body built from ids) -- at least one per implemented operation.
CASES: list[tuple[str, Any]] = [
    ("listSpaces", lambda i: None),
    ("listSpaces", lambda i: {"filterBy": {"name": {"operator": "contains", "value": "acme"}}}),
    ("listFolders", lambda i: {"spaceId": i["space"]}),
    ("listProjects", lambda i: {"spaceId": i["space"]}),
    ("getProject", lambda i: {"projectId": i["project"]}),
    (
        "createProject",
        lambda i: {
            "spaceId": i["space"],
            "contentType": "text/markdown",
            "content": "# New\n- [ ] one\n  - [x] two",
        },
    ),
    ("completeProject", lambda i: {"projectId": i["project"]}),
    ("restoreProject", lambda i: {"projectId": i["project"]}),
    ("listMyProjects", lambda i: {"limit": 5, "page": 1, "sort": "viewed-asc"}),
    ("listTasks", lambda i: {"projectId": i["bugs"], "limit": 100}),
    ("listBlocks", lambda i: {"projectId": i["project"]}),
    ("listFields", lambda i: {"projectId": i["launch"]}),
    ("listFields", lambda i: {"projectId": i["bugs"]}),
    ("listProjectMembers", lambda i: {"projectId": i["launch"], "page": 2}),
    ("getShareLink", lambda i: {"projectId": i["project"]}),
    ("getShareLink", lambda i: {"projectId": i["unshared"]}),
    ("listAgents", lambda i: {"spaceId": i["space"]}),
    ("getAgent", lambda i: {"agentId": i["agent"]}),
    ("getPublicAgent", lambda i: {"agentId": i["public_agent"]}),
    (
        "promptAgent",
        lambda i: {"spaceId": i["space"], "agentId": i["agent"], "prompt": "What is blocked?"},
    ),
    ("listConversations", lambda i: {"agentId": i["agent"]}),
    (
        "getConversation",
        lambda i: {"agentId": i["agent"], "convoId": i["convo"], "includeTranscript": True},
    ),
    ("listMedia", lambda i: {"folderId": i["gtm"]}),
    ("getMedia", lambda i: {"mediaId": i["media"]}),
    ("listTemplates", lambda i: {"folderId": i["roadmap_folder"]}),
]

# (operation, body, expected status) for error envelopes.
ERROR_CASES: list[tuple[str, Any, int]] = [
    ("getProject", lambda i: {"projectId": "missing"}, 404),
    ("listTasks", lambda i: {"projectId": i["bugs"], "after": "missing"}, 404),
    ("listTasks", lambda i: {"projectId": i["bugs"], "surprise": 1}, 400),
    ("listTasks", lambda i: {"projectId": i["bugs"], "limit": "ten"}, 400),
    ("getPublicAgent", lambda i: {"agentId": i["agent"]}, 404),
    ("deleteAgent", lambda i: {"agentId": i["agent"]}, 501),
    ("noSuchOperation", lambda i: {}, 404),
]


def test_every_implemented_operation_has_a_case():
    assert {op for op, _ in CASES} == set(carried.IMPLEMENTED)


def _spec_validator(spec: dict[str, Any], op: str) -> Draft7Validator:
    """Validate against the spec document itself; OpenAPI 3.0's ``nullable`` is
    translated to ``anyOf [..., null]``, ``$ref``s resolve lazily in the document."""

    def translate(node: Any) -> Any:
        if isinstance(node, list):
            return [translate(item) for item in node]
        if not isinstance(node, dict):
            return node
        out = {key: translate(value) for key, value in node.items()}
        if out.get("nullable") is True and ("type" in out or "allOf" in out or "$ref" in out):
            del out["nullable"]
            return {"anyOf": [out, {"type": "null"}]}
        return out

    document = translate(copy.deepcopy(spec))
    registry = Registry().with_resource("urn:taskade-v2", Resource.from_contents(document, DRAFT7))
    pointer = f"/paths/~1{op}/post/responses/200/content/application~1json/schema"
    return Draft7Validator({"$ref": f"urn:taskade-v2#{pointer}"}, registry=registry)


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return json.loads(SPEC_FILE.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("op", "make_body"), CASES, ids=[f"{op}-{n}" for n, (op, _) in enumerate(CASES)]
)
def test_response_matches_carried_schema(emu, op, make_body):
    status, payload = post(emu, op, make_body(ids(emu)))
    assert status == 200, payload
    Draft202012Validator(carried.load()["responses"][op]).validate(payload)


@pytest.mark.parametrize(
    ("op", "make_body"), CASES, ids=[f"{op}-{n}" for n, (op, _) in enumerate(CASES)]
)
def test_response_matches_the_spec_itself(emu, spec, op, make_body):
    if spec is None:
        pytest.fail("the package no longer carries the v2 spec")
    status, payload = post(emu, op, make_body(ids(emu)))
    assert status == 200, payload
    _spec_validator(spec, op).validate(payload)


@pytest.mark.parametrize(
    ("op", "make_body", "expected"),
    ERROR_CASES,
    ids=[f"{op}-{status}" for op, _, status in ERROR_CASES],
)
def test_error_envelopes_match_error_schema(emu, spec, op, make_body, expected):
    status, payload = post(emu, op, make_body(ids(emu)))
    assert status == expected
    Draft202012Validator(carried.load()["error"]).validate(payload)
    if spec is not None:
        Draft7Validator(spec["components"]["schemas"]["Error"]).validate(payload)


def test_knob_and_fault_errors_match_error_schema(emu):
    i = ids(emu)
    error = Draft202012Validator(carried.load()["error"])
    assert post(emu, "listSpaces", {}, token=None)[0] == 401
    error.validate(post(emu, "listSpaces", {}, token="wrong")[1])
    emu.forbidden = {i["project"]}
    status, payload = post(emu, "getProject", {"projectId": i["project"]})
    assert status == 403
    error.validate(payload)
    emu.credits = 0
    status, payload = post(
        emu, "promptAgent", {"spaceId": i["space"], "agentId": i["agent"], "prompt": "hi"}
    )
    assert status == 402
    error.validate(payload)
    emu.faults.push("status", status=503)
    status, payload = post(emu, "listSpaces", {})
    assert status == 503
    error.validate(payload)
    emu.faults.push("ok_false")
    status, payload = post(emu, "listSpaces", {})
    assert status == 200
    error.validate(payload)


def test_null_items_are_allowed_where_the_spec_allows_them(emu, spec):
    emu.faults.push("null_items", operation="listMedia")
    status, payload = post(emu, "listMedia", {"folderId": ids(emu)["gtm"]})
    assert status == 200 and None in payload["items"]
    Draft202012Validator(carried.load()["responses"]["listMedia"]).validate(payload)
    if spec is not None:
        _spec_validator(spec, "listMedia").validate(payload)


def test_carried_schemas_are_derived_from_the_current_spec():
    if not SPEC_FILE.is_file():
        pytest.fail("the package no longer carries the v2 spec")
    raw = SPEC_FILE.read_bytes()
    derived = json.loads(json.dumps(carried.derive(json.loads(raw), raw)))
    assert derived == carried.load(), "run: python -m taskade_frames.emulator._schemas"


def test_carried_schemas_are_self_contained():
    text = carried.SCHEMAS_FILE.read_text(encoding="utf-8")
    assert '"$ref"' not in text
    assert '"nullable"' not in text
    for schema in carried.load()["responses"].values():
        Draft202012Validator.check_schema(schema)


SHARED_SPEC = Path(__file__).resolve().parents[2] / "shared" / "spec"


@pytest.mark.parametrize("name", ["taskade-api-v2.openapi.json", "taskade-api-v1.openapi.json"])
def test_carried_spec_is_a_verbatim_copy_of_the_reference(name):
    """Where the reference copy sits beside the repository, ours must equal it byte for byte."""
    reference = SHARED_SPEC / name
    if not reference.is_file():
        pytest.skip("no reference copy beside the repository (a user's clone); nothing to compare")
    assert (carried.SPEC_DIR / name).read_bytes() == reference.read_bytes()
