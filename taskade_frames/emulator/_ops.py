"""The v2 operations: request body in, ``{"ok": true, ...}`` payload out.

Each handler gets a validated body (the server checked it against the spec's
request schema) and a :class:`Context` with the workspace and the knobs that
shape pages. Handlers raise :class:`EmulatorError` for the error envelope; they
never touch HTTP. The table at the bottom says which operations page and how.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, NamedTuple

from ._faults import RESHAPING_KINDS
from ._markdown import parse_outline
from ._model import Agent, Conversation, Project, TaskTable, Workspace

Payload = dict[str, Any]


class EmulatorError(Exception):
    """An error the emulated API answers with ``{"ok": false, message, code, statusMessage}``.

    Not the client's ``APIError``: the emulator shares no code with the client.
    """

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


def error_envelope(status: int, code: str, message: str) -> Payload:
    return {
        "ok": False,
        "message": message,
        "code": code,
        "statusMessage": HTTPStatus(status).phrase,
    }


def not_found(what: str) -> EmulatorError:
    return EmulatorError(404, "not_found", f"{what} not found")


@dataclass
class Context:
    """What a handler may use besides the body."""

    workspace: Workspace
    page_cap: int | None = None
    max_limit: int | None = None
    faults: set[str] = field(default_factory=set)
    spend_credit: Callable[[], None] = lambda: None
    clamp_pages: bool = False  # a page past the end answers the last page again
    scope: str = "folder"


# -- paging ----------------------------------------------------------------------


def _whole(value: Any, name: str, code: str) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or value != int(value)
        or value < 1
    ):
        raise EmulatorError(400, code, f"{name} must be a whole number of at least 1")
    return int(value)


def _limit(ctx: Context, body: Payload, default: int) -> int:
    """The page size actually served: the asked ``limit``, capped by ``page_cap``."""
    if ctx.max_limit is not None:
        default = min(default, ctx.max_limit)  # the server never rejects its own default
    limit = _whole(body.get("limit", default), "limit", "invalid_limit")
    if ctx.max_limit is not None and limit > ctx.max_limit:
        raise EmulatorError(400, "invalid_limit", f"limit must be at most {ctx.max_limit}")
    return min(limit, ctx.page_cap) if ctx.page_cap else limit


class EncodedItems(str):
    """An ``items`` array already encoded as JSON text (the server splices it in)."""


def _cursor_page(
    ctx: Context, table: TaskTable, body: Payload, noun: str
) -> list[Payload] | EncodedItems:
    """``limit`` nodes after (or before) the cursor id, in document order.

    Pre-encoded unless a fault needs the items as dicts.
    """
    limit = _limit(ctx, body, 100)
    after, before = body.get("after"), body.get("before")
    if after is not None and before is not None:
        raise EmulatorError(400, "invalid_request", "use either 'after' or 'before', not both")
    cursor = after if after is not None else before
    if cursor is not None:
        try:
            at = table.position(cursor)
        except KeyError:
            raise EmulatorError(404, "not_found", f"{noun} cursor not found: {cursor}") from None
    if "repeat_page" in ctx.faults or cursor is None:
        start = 0
    elif after is not None:
        start = at + 1
    else:
        start = max(0, at - limit)
    stop = at if before is not None and "repeat_page" not in ctx.faults else start + limit
    if "duplicate" in ctx.faults and start > 0 and start < min(stop, len(table)):
        start -= 1  # the page repeats the item just before it
    if ctx.faults & RESHAPING_KINDS:  # items the server then reshapes: dicts, not bytes
        return table.records(start, stop)
    return EncodedItems(table.encode(start, stop))


def _numbered_page(
    ctx: Context, items: Sequence[Payload], body: Payload, default_limit: int
) -> list[Payload]:
    """Page ``page`` (from 1) of ``items`` in pages of the served size."""
    size = _limit(ctx, body, default_limit)
    page = _whole(body.get("page", 1), "page", "invalid_page")
    if "repeat_page" in ctx.faults:
        page = 1
    start = (page - 1) * size
    if ctx.clamp_pages and items and start >= len(items):
        start = (len(items) - 1) // size * size
    out = list(items[start : start + size])
    if "duplicate" in ctx.faults and start > 0 and out:
        out.insert(0, items[start - 1])
    return out


def change_workspace(ws: Workspace, kind: str, params: Payload, op: str, body: Payload) -> None:
    """Apply a workspace fault (``move`` or ``grow``) to the project ``body`` lists."""
    project_id = body.get("projectId")
    if not isinstance(project_id, str) or project_id not in ws.projects:
        return  # the request itself answers 404
    if kind == "move":
        ws.update_task(project_id, params["task_id"], parent_id=params.get("parent_id"))
        return
    for _ in range(int(params.get("n", 10))):
        if op == "listProjectMembers":
            handle = f"grown-{ws.new_id()}"
            ws.add_member(project_id, handle, handle)
        else:
            ws.add_task(project_id, "grown while listed")


def _name_filter(items: list[Payload], body: Payload) -> list[Payload]:
    rule = (body.get("filterBy") or {}).get("name")
    if not rule:
        return items
    value = rule["value"]
    if rule["operator"] == "equals":
        return [item for item in items if item["name"] == value]
    needle = value.casefold()
    return [item for item in items if needle in item["name"].casefold()]


# -- lookups ---------------------------------------------------------------------


def _space(ws: Workspace, space_id: str) -> str:
    if space_id not in ws.spaces:
        raise not_found("Space")
    return space_id


def _project(ws: Workspace, body: Payload) -> Project:
    try:
        return ws.projects[body["projectId"]]
    except KeyError:
        raise not_found("Project") from None


def _agent(ws: Workspace, body: Payload) -> Agent:
    try:
        return ws.agents[body["agentId"]]
    except KeyError:
        raise not_found("Agent") from None


def _scoped(ctx: Context, scope_id: str, what: str, refusal: int) -> Callable[[Any], bool]:
    """Which objects (projects, agents, media, templates) a listing for ``scope_id`` holds.

    ``ctx.scope`` is the server's answer to what the reference leaves open:
    "folder" (a space id is its home folder, as v1 documents), "space" (a
    space id lists the whole space and a folder id is refused with
    ``refusal``) or "both" (a space id lists the whole space, a folder id its folder).
    """
    ws = ctx.workspace
    if scope_id in ws.spaces:
        if ctx.scope == "folder":
            return lambda o: o.space_id == scope_id and o.folder_id is None
        return lambda o: o.space_id == scope_id
    if scope_id in ws.folders:
        if ctx.scope == "space":
            if refusal == 404:
                raise not_found(what)
            raise EmulatorError(400, "invalid_request", f"{what} must be a space id")
        return lambda o: o.folder_id == scope_id
    raise not_found(what)


def _project_item(p: Project) -> Payload:
    return {"id": p.id, "name": p.name}


def _convo_item(c: Conversation) -> Payload:
    return {
        "id": c.id,
        "space_agent_id": c.agent_id,
        "status": c.status,
        "title": c.title,
        "data": c.data,
    }


# -- operations ------------------------------------------------------------------


def list_spaces(ctx: Context, body: Payload) -> Payload:
    items = [{"id": s.id, "name": s.name} for s in ctx.workspace.spaces.values()]
    return {"ok": True, "items": _name_filter(items, body)}


def list_folders(ctx: Context, body: Payload) -> Payload:
    space_id = _space(ctx.workspace, body["spaceId"])
    return {
        "ok": True,
        "items": [
            {"id": f.id, "name": f.name}
            for f in ctx.workspace.folders.values()
            if f.space_id == space_id
        ],
    }


def list_projects(ctx: Context, body: Payload) -> Payload:
    wanted = _scoped(ctx, body["spaceId"], "Space", 404)
    return {
        "ok": True,
        "items": [_project_item(p) for p in ctx.workspace.projects.values() if wanted(p)],
    }


def get_project(ctx: Context, body: Payload) -> Payload:
    return {"ok": True, "item": _project_item(_project(ctx.workspace, body))}


def create_project(ctx: Context, body: Payload) -> Payload:
    """Create a project from a Markdown outline (``# Name`` + nested list items)."""
    ws = ctx.workspace
    space_id = _space(ws, body["spaceId"])
    name, outline = parse_outline(body["content"])
    project_id = ws.add_project(space_id, name)
    ws.add_outline(project_id, outline)
    return {"ok": True, "item": {"id": project_id, "name": name}}


def complete_project(ctx: Context, body: Payload) -> Payload:
    project = _project(ctx.workspace, body)
    project.completed = True
    return {"ok": True, "item": _project_item(project)}


def restore_project(ctx: Context, body: Payload) -> Payload:
    project = _project(ctx.workspace, body)
    project.completed = False
    return {"ok": True, "item": _project_item(project)}


def list_my_projects(ctx: Context, body: Payload) -> Payload:
    newest_first = body.get("sort", "viewed-desc") == "viewed-desc"
    projects = sorted(
        ctx.workspace.projects.values(), key=lambda p: (p.viewed_at, p.id), reverse=newest_first
    )
    items = [_project_item(p) for p in projects]
    return {"ok": True, "items": _numbered_page(ctx, items, body, 100)}


def list_tasks(ctx: Context, body: Payload) -> Payload:
    project = _project(ctx.workspace, body)
    return {"ok": True, "items": _cursor_page(ctx, project.tasks, body, "Task")}


def list_blocks(ctx: Context, body: Payload) -> Payload:
    project = _project(ctx.workspace, body)
    return {"ok": True, "items": _cursor_page(ctx, project.blocks, body, "Block")}


def list_fields(ctx: Context, body: Payload) -> Payload:
    return {"ok": True, "items": list(_project(ctx.workspace, body).fields)}


def list_project_members(ctx: Context, body: Payload) -> Payload:
    members = _project(ctx.workspace, body).members
    return {"ok": True, "items": _numbered_page(ctx, members, body, 20)}


def get_share_link(ctx: Context, body: Payload) -> Payload:
    return {"ok": True, "item": _project(ctx.workspace, body).share}


def list_agents(ctx: Context, body: Payload) -> Payload:
    space_id = body.get("spaceId")
    wanted = (lambda a: True) if space_id is None else _scoped(ctx, space_id, "Space", 404)
    items = [
        {"id": a.id, "name": a.name, "description": a.description, "tools": a.tools}
        for a in ctx.workspace.agents.values()
        if wanted(a)
    ]
    return {"ok": True, "items": _name_filter(items, body)}


def get_agent(ctx: Context, body: Payload) -> Payload:
    agent = _agent(ctx.workspace, body)
    return {
        "ok": True,
        "item": {
            "id": agent.id,
            "name": agent.name,
            "space_id": agent.space_id,
            "data": agent.data,
        },
    }


def get_public_agent(ctx: Context, body: Payload) -> Payload:
    agent = _agent(ctx.workspace, body)
    if agent.public is None:
        raise EmulatorError(
            404, "not_found", "Public agent not found: public access is not enabled"
        )
    return {
        "ok": True,
        "item": {"id": agent.id, "name": agent.name, **agent.public},
        "publicUrl": f"https://www.taskade.com/a/{agent.id}",
    }


def prompt_agent(ctx: Context, body: Payload) -> Payload:
    """Answer with a canned, deterministic summary (no model is involved).

    The reply names the agent, echoes the start of the prompt and counts the
    open tasks of the agent's knowledge projects, so callers can check that
    the right agent answered about the right data.
    """
    ws = ctx.workspace
    if body is None or "agentId" not in body:
        raise EmulatorError(400, "invalid_request", "missing required field 'agentId'")
    space_id = _space(ws, body.get("spaceId", ""))
    agent = _agent(ws, body)
    if agent.space_id != space_id:
        raise not_found("Agent")
    ctx.spend_credit()
    prompt = " ".join(str(body.get("prompt", "")).split())
    excerpt = prompt if len(prompt) <= 80 else prompt[:79].rstrip() + "…"
    parts = [f"[Emulator canned reply] {agent.name} here. You asked: \u201c{excerpt}\u201d."]
    projects = [ws.projects[p] for p in agent.knowledge_project_ids if p in ws.projects]
    if not projects:
        parts.append("I have no knowledge projects, so I cannot see any tasks.")
    else:
        counts = []
        upcoming: list[str] = []
        total = 0
        for project in projects:
            open_count, texts = project.tasks.open_texts(3)
            total += open_count
            counts.append(f"{project.name} ({open_count} open)")
            upcoming.extend(texts[: 3 - len(upcoming)])
        parts.append(
            f"Across {len(projects)} knowledge project(s) there are {total} open "
            f"tasks: {'; '.join(counts)}."
        )
        if upcoming:
            parts.append("Next up: " + "; ".join(t.replace("\n", " ") for t in upcoming) + ".")
    return {"ok": True, "summary": " ".join(parts)}


def list_conversations(ctx: Context, body: Payload) -> Payload:
    agent = _agent(ctx.workspace, body)
    convos = [
        _convo_item(c) for c in ctx.workspace.conversations.values() if c.agent_id == agent.id
    ]
    return {"ok": True, "items": _numbered_page(ctx, convos, body, 20)}


def get_conversation(ctx: Context, body: Payload) -> Payload:
    agent = _agent(ctx.workspace, body)
    convo = ctx.workspace.conversations.get(body["convoId"])
    if convo is None or convo.agent_id != agent.id:
        raise not_found("Conversation")
    out: Payload = {"ok": True, "item": _convo_item(convo)}
    if body.get("includeTranscript"):
        out["transcript"] = convo.transcript
    return out


def list_media(ctx: Context, body: Payload) -> Payload:
    wanted = _scoped(ctx, body["folderId"], "Folder", 400)
    items = [
        {"id": m.id, "space_id": m.space_id, "kind": m.kind}
        for m in ctx.workspace.media.values()
        if wanted(m)
    ]
    return {"ok": True, "items": _numbered_page(ctx, items, body, 100)}


def get_media(ctx: Context, body: Payload) -> Payload:
    media = ctx.workspace.media.get(body["mediaId"])
    if media is None:
        raise not_found("Media")
    return {"ok": True, "item": {"id": media.id, "space_id": media.space_id, "kind": media.kind}}


def list_templates(ctx: Context, body: Payload) -> Payload:
    wanted = _scoped(ctx, body["folderId"], "Folder", 400)
    items = [{"id": t.id, "name": t.name} for t in ctx.workspace.templates.values() if wanted(t)]
    return {"ok": True, "items": _numbered_page(ctx, items, body, 20)}


class Handler(NamedTuple):
    """How the emulator answers one operation (the client's table is ``operations.Operation``)."""

    handler: Callable[[Context, Payload], Payload]
    paging: str  # "cursor", "page" or "none"


HANDLERS: dict[str, Handler] = {
    "listSpaces": Handler(list_spaces, "none"),
    "listFolders": Handler(list_folders, "none"),
    "listProjects": Handler(list_projects, "none"),
    "getProject": Handler(get_project, "none"),
    "createProject": Handler(create_project, "none"),
    "completeProject": Handler(complete_project, "none"),
    "restoreProject": Handler(restore_project, "none"),
    "listMyProjects": Handler(list_my_projects, "page"),
    "listTasks": Handler(list_tasks, "cursor"),
    "listBlocks": Handler(list_blocks, "cursor"),
    "listFields": Handler(list_fields, "none"),
    "listProjectMembers": Handler(list_project_members, "page"),
    "getShareLink": Handler(get_share_link, "none"),
    "listAgents": Handler(list_agents, "none"),
    "getAgent": Handler(get_agent, "none"),
    "getPublicAgent": Handler(get_public_agent, "none"),
    "promptAgent": Handler(prompt_agent, "none"),
    "listConversations": Handler(list_conversations, "page"),
    "getConversation": Handler(get_conversation, "none"),
    "listMedia": Handler(list_media, "page"),
    "getMedia": Handler(get_media, "none"),
    "listTemplates": Handler(list_templates, "page"),
}
