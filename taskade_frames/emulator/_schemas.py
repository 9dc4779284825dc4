"""The request and response schemas the emulator carries, derived from the v2 spec.

``response_schemas.json`` holds, for each implemented operation, the JSON
Schema of its request body and of its 200 response, plus the ``Error``
envelope, all self-contained: OpenAPI's ``nullable`` becomes ``anyOf`` with
``null`` and every ``$ref`` is inlined, including the zod-style relative ones
inside ``Field`` and ``getPublicAgent`` that a whole-document dereference
chokes on. The server validates request bodies against these; the tests
validate responses against them.

Regenerate after a spec update (run from the repository root)::

    python -m taskade_frames.emulator._schemas [path/to/taskade-api-v2.openapi.json]
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

SCHEMAS_FILE = Path(__file__).with_name("response_schemas.json")
# The same for the four v1 task-detail routes the emulator serves (see ``derive_v1``).
V1_SCHEMAS_FILE = Path(__file__).with_name("v1_schemas.json")
# The v2 and v1 specs themselves, carried verbatim so a clone needs nothing beside it.
SPEC_DIR = Path(__file__).with_name("spec")
# The spec lives next to the repository, in ``../shared/spec`` of its root.
DEFAULT_SPEC = (
    Path(__file__).resolve().parents[3] / "shared" / "spec" / "taskade-api-v2.openapi.json"
)

IMPLEMENTED = (
    "listSpaces",
    "listFolders",
    "listProjects",
    "getProject",
    "createProject",
    "completeProject",
    "restoreProject",
    "listMyProjects",
    "listTasks",
    "listBlocks",
    "listFields",
    "listProjectMembers",
    "getShareLink",
    "listAgents",
    "getAgent",
    "getPublicAgent",
    "promptAgent",
    "listConversations",
    "getConversation",
    "listMedia",
    "getMedia",
    "listTemplates",
)

# v1 routes served, by operationId (v1 is REST: the method and path name the operation).
V1_IMPLEMENTED = {
    "taskAssigneesGet": "/projects/{projectId}/tasks/{taskId}/assignees",
    "taskGetDate": "/projects/{projectId}/tasks/{taskId}/date",
    "taskNoteGet": "/projects/{projectId}/tasks/{taskId}/note",
    "taskFieldsValueGet": "/projects/{projectId}/tasks/{taskId}/fields",
}

# Annotations that do not constrain anything; dropped to keep the file compact.
_ANNOTATIONS = frozenset({"description", "default", "example", "examples", "title"})


def _pointer(document: Any, pointer: str) -> Any:
    node = document
    for part in pointer.lstrip("#").strip("/").split("/"):
        if part:
            part = part.replace("~1", "/").replace("~0", "~")
            node = node[int(part)] if isinstance(node, list) else node[part]
    return node


class _Inliner:
    """Inline every ``$ref`` of one schema tree.

    ``#/components/...`` points into the document. Any other ``#/...`` was
    written by zod-to-json-schema relative to the schema it generated: the
    component (``Field``) or the operation's response or request schema. So
    each walk remembers the root it entered through.
    """

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document

    def convert(self, node: Any, root: Any, depth: int = 0) -> Any:
        if depth > 64:
            raise ValueError("schema nests too deeply (a recursive $ref?)")
        if isinstance(node, list):
            return [self.convert(item, root, depth + 1) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            ref = node["$ref"]
            if ref.startswith("#/components/"):
                parts = ref.split("/")
                new_root = _pointer(self.document, "/".join(parts[:4]))
                target = _pointer(self.document, ref)
            else:
                new_root, target = root, _pointer(root, ref)
            merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
            return self.convert(merged, new_root, depth + 1)
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in _ANNOTATIONS or key == "nullable":
                continue
            if key == "properties":
                out[key] = {name: self.convert(sub, root, depth + 1) for name, sub in value.items()}
            elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
                out[key] = self.convert(value, root, depth + 1)
            elif key in ("anyOf", "allOf", "oneOf"):
                out[key] = [self.convert(sub, root, depth + 1) for sub in value]
            else:
                out[key] = value
        if list(out) == ["allOf"] and len(out["allOf"]) == 1:
            out = out["allOf"][0]
        if node.get("nullable"):
            return {"anyOf": [out, {"type": "null"}]}
        return out


def derive(spec: dict[str, Any], spec_bytes: bytes = b"") -> dict[str, Any]:
    """Build the carried-schema document from the parsed spec."""
    inliner = _Inliner(spec)
    responses: dict[str, Any] = {}
    requests: dict[str, Any] = {}
    for op in IMPLEMENTED:
        post = spec["paths"][f"/{op}"]["post"]
        response = post["responses"]["200"]["content"]["application/json"]["schema"]
        responses[op] = inliner.convert(response, response)
        body = post.get("requestBody", {}).get("content", {}).get("application/json", {})
        request = body.get("schema", {"type": "object", "additionalProperties": False})
        requests[op] = inliner.convert(request, request)
    error = spec["components"]["schemas"]["Error"]
    spec_paths = sorted(
        f"{method.upper()} {path}" for path, item in spec["paths"].items() for method in item
    )
    return {
        "$comment": "Derived from the Taskade v2 OpenAPI spec by "
        "taskade_frames.emulator._schemas; do not edit by hand.",
        "spec": {
            "title": spec["info"]["title"],
            "version": spec["info"]["version"],
            "sha256": hashlib.sha256(spec_bytes).hexdigest() if spec_bytes else None,
        },
        "paths": spec_paths,
        "error": inliner.convert(error, error),
        "responses": responses,
        "requests": requests,
    }


def derive_v1(spec: dict[str, Any], spec_bytes: bytes = b"") -> dict[str, Any]:
    """The v1 counterpart of :func:`derive`: 200 schemas and path parameters of the
    GET routes in ``V1_IMPLEMENTED``, the ``Error`` envelope, and every v1 route."""
    inliner = _Inliner(spec)
    routes: dict[str, Any] = {}
    for op_id, path in V1_IMPLEMENTED.items():
        get = spec["paths"][path]["get"]
        if get.get("operationId") != op_id:
            raise ValueError(f"GET {path} is no longer {op_id} in the v1 spec")
        response = get["responses"]["200"]["content"]["application/json"]["schema"]
        params = [
            {
                "name": p["name"],
                "in": p["in"],
                "required": bool(p.get("required")),
                "schema": inliner.convert(p.get("schema", {}), p),
            }
            for p in get.get("parameters", [])
        ]
        routes[op_id] = {
            "method": "GET",
            "path": path,
            "parameters": params,
            "response": inliner.convert(response, response),
        }
    error = spec["components"]["schemas"]["Error"]
    return {
        "$comment": "Derived from the Taskade v1 OpenAPI spec by "
        "taskade_frames.emulator._schemas; do not edit by hand.",
        "spec": {
            "title": spec["info"]["title"],
            "version": spec["info"]["version"],
            "sha256": hashlib.sha256(spec_bytes).hexdigest() if spec_bytes else None,
        },
        "paths": sorted(
            f"{method.upper()} {path}"
            for path, item in spec["paths"].items()
            for method in item
            if method != "parameters"
        ),
        "error": inliner.convert(error, error),
        "routes": routes,
    }


@cache
def load_v1() -> dict[str, Any]:
    """The carried v1 schemas (read once)."""
    with V1_SCHEMAS_FILE.open(encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data


@cache
def load() -> dict[str, Any]:
    """The carried schemas (read once)."""
    with SCHEMAS_FILE.open(encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data


def spec_path_patterns() -> list[tuple[str, re.Pattern[str]]]:
    """``(METHOD, regex)`` for every path of the spec, templates as wildcards."""
    out = []
    for entry in load()["paths"]:
        method, path = entry.split(" ", 1)
        out.append((method, re.compile(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)) + "$")))
    return out


# -- request validation ----------------------------------------------------------

_TYPES: dict[str, Any] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool))
        or (isinstance(v, float) and v.is_integer())
    ),
}


def _where(path: str) -> str:
    return f"'{path}'" if path else "the request body"


def check(schema: dict[str, Any], value: Any, path: str = "") -> str | None:
    """The first way ``value`` breaks ``schema``, as a message; ``None`` if it fits.

    Covers the subset of JSON Schema the v2 request bodies use. Messages name
    the field, because a 400 is only useful if it says what to fix.
    """
    if "anyOf" in schema:
        branches = schema["anyOf"]
        errors = [check(branch, value, path) for branch in branches]
        if any(error is None for error in errors):
            return None
        real = [e for b, e in zip(branches, errors, strict=True) if b.get("type") != "null"]
        return real[0] if len(real) == 1 else f"{_where(path)} matches none of the allowed forms"
    for sub in schema.get("allOf", ()):
        error = check(sub, value, path)
        if error is not None:
            return error
    kind = schema.get("type")
    if kind is not None and not _TYPES[kind](value):
        article = "an" if kind[0] in "aeiou" else "a"
        return f"{_where(path)} must be {article} {kind}"
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(json.dumps(v) for v in schema["enum"])
        return f"{_where(path)} must be one of {allowed}"
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            return (
                f"{_where(path)} must not be empty"
                if schema["minLength"] == 1
                else f"{_where(path)} is shorter than {schema['minLength']} characters"
            )
        if "pattern" in schema and re.search(schema["pattern"], value) is None:
            return f"{_where(path)} does not match {schema['pattern']}"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            return f"{_where(path)} must be at least {schema['minimum']}"
        if "maximum" in schema and value > schema["maximum"]:
            return f"{_where(path)} must be at most {schema['maximum']}"
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for name in schema.get("required", ()):
            if name not in value:
                return f"missing required field '{_join(path, name)}'"
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            if name in properties:
                error = check(properties[name], item, _join(path, name))
            elif extra is False:
                return f"unknown field '{_join(path, name)}'"
            elif isinstance(extra, dict):
                error = check(extra, item, _join(path, name))
            else:
                error = None
            if error is not None:
                return error
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            error = check(schema["items"], item, f"{path}[{i}]")
            if error is not None:
                return error
    return None


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def main(argv: Sequence[str] | None = None) -> int:
    """Rewrite ``response_schemas.json`` (v2) and ``v1_schemas.json`` from the specs."""
    args = list(sys.argv[1:] if argv is None else argv)
    spec_file = Path(args[0]) if args else DEFAULT_SPEC
    raw = spec_file.read_bytes()
    derived = derive(json.loads(raw), raw)
    SCHEMAS_FILE.write_text(
        json.dumps(derived, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    print(f"wrote {SCHEMAS_FILE.name}: {len(derived['responses'])} operations")
    raw_v1 = (SPEC_DIR / "taskade-api-v1.openapi.json").read_bytes()
    derived_v1 = derive_v1(json.loads(raw_v1), raw_v1)
    V1_SCHEMAS_FILE.write_text(
        json.dumps(derived_v1, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    print(f"wrote {V1_SCHEMAS_FILE.name}: {len(derived_v1['routes'])} routes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
