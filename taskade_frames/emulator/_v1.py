"""The v1 task-detail routes the emulator serves, beside the v2 operations.

v2's ``listTasks`` has no assignees, dates, notes or field values; v1 has them
per task, on the same host with the same token::

    GET /api/v1/projects/{projectId}/tasks/{taskId}/assignees|date|note|fields

Routes and their parameters come from ``v1_schemas.json`` (derived from the v1
spec). Where the spec leaves an answer open, the emulator picks the one the
spec allows: a note may be ``item: null``, but a date's ``item`` must hold a
``start``, so a task without a date answers 404, as a missing resource does.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any, NamedTuple
from urllib.parse import unquote

from . import _schemas
from ._model import Workspace
from ._ops import EmulatorError

PREFIX = "/api/v1/"


class Route(NamedTuple):
    operation: str
    method: str
    pattern: re.Pattern[str]


def _template(path: str) -> re.Pattern[str]:
    """``/a/{x}/b`` -> a regex with a named group per path parameter."""
    parts = re.split(r"\{([^/{}]+)\}", path)
    out = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>[^/]+)" for i, p in enumerate(parts))
    return re.compile(out + "$")


@cache
def routes() -> tuple[Route, ...]:
    carried = _schemas.load_v1()["routes"]
    return tuple(Route(op, r["method"], _template(r["path"])) for op, r in carried.items())


@cache
def _spec_paths() -> tuple[tuple[str, re.Pattern[str]], ...]:
    out = []
    for entry in _schemas.load_v1()["paths"]:
        method, path = entry.split(" ", 1)
        out.append((method, _template(path)))
    return tuple(out)


def operation_name(method: str, path: str) -> str:
    """The operationId of a served route, else the path (for the log and faults)."""
    rest = "/" + path[len(PREFIX) :]
    for route in routes():
        if route.method == method and route.pattern.match(rest):
            return route.operation
    return rest


def resolve(method: str, path: str) -> tuple[str, dict[str, str]]:
    """``(operationId, path parameters)`` of a served route.

    Raises:
        EmulatorError: 405 for a served path with another method, 501 for a route of
            the v1 spec the emulator does not serve, 404 for anything else.
    """
    rest = "/" + path[len(PREFIX) :]
    allowed = []
    for route in routes():
        found = route.pattern.match(rest)
        if found is None:
            continue
        if route.method == method:
            params = {k: unquote(v) for k, v in found.groupdict().items()}
            _check_params(route.operation, params)
            return route.operation, params
        allowed.append(route.method)
    if any(m == method and rx.match(rest) for m, rx in _spec_paths()):
        raise EmulatorError(
            501, "not_implemented", f"{method} /api/v1{rest} is not implemented by the emulator"
        )
    if allowed:
        raise EmulatorError(
            405,
            "method_not_allowed",
            f"Use {allowed[0]} for /api/v1{rest}",
            {"Allow": ", ".join(allowed)},
        )
    raise EmulatorError(404, "not_found", f"No route for /api/v1{rest}")


def _check_params(operation: str, params: dict[str, str]) -> None:
    for spec in _schemas.load_v1()["routes"][operation]["parameters"]:
        value = params.get(spec["name"])
        if spec["in"] != "path":
            continue
        problem = "is empty" if not value else _schemas.check(spec["schema"], value)
        if problem is not None:
            raise EmulatorError(400, "invalid_request", f"Path parameter {spec['name']} {problem}")


def answer(ws: Workspace, operation: str, params: dict[str, str]) -> dict[str, Any]:
    """The 200 payload of one route, read under the workspace lock."""
    with ws.lock:
        project = ws.projects.get(params["projectId"])
        if project is None:
            raise EmulatorError(404, "not_found", "Project not found")
        task_id = params["taskId"]
        if task_id not in project.tasks:
            raise EmulatorError(404, "not_found", "Task not found")
        details = project.details.get(task_id, {})
        if operation == "taskAssigneesGet":
            names = {m["handle"]: m.get("displayName") for m in project.members}
            users = []
            for handle in details.get("assignees", ()):
                user = {"handle": handle}
                if names.get(handle) is not None:
                    user["displayName"] = names[handle]
                users.append(user)
            return {"ok": True, "items": users}
        if operation == "taskGetDate":
            if "date" not in details:
                raise EmulatorError(404, "not_found", "Task has no date")
            return {"ok": True, "item": details["date"]}
        if operation == "taskNoteGet":
            return {"ok": True, "item": details.get("note")}
        if operation == "taskFieldsValueGet":
            values = details.get("fields", {})
            return {"ok": True, "items": [{"fieldId": k, "value": v} for k, v in values.items()]}
    raise EmulatorError(501, "not_implemented", f"{operation} is not implemented by the emulator")
