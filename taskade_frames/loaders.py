"""Loaders: every v2 list operation as a typed DataFrame.

Each loader asks the client for a complete listing, maps API fields to the
columns declared in ``schemas``, and records provenance in ``df.attrs``
(operation, ids, fetch time, API host, completeness report; never the
token). Loaders never see an HTTP response, only dicts.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any

import pandas as pd

from . import schemas
from .client import ListingReport, TaskadeClient, default_client
from .decoding import PageDecoder, TypedPage, concat_columns
from .errors import InvalidResponseError
from .trees import add_tree_columns

__all__ = [
    "default_client",
    "load_agents",
    "load_blocks",
    "load_conversations",
    "load_fields",
    "load_folders",
    "load_media",
    "load_members",
    "load_messages",
    "load_my_projects",
    "load_projects",
    "load_spaces",
    "load_tasks",
    "load_templates",
    "prompt_agent",
]

Source = str | Callable[[dict[str, Any]], Any]



def _json(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _epoch(value: Any) -> Any:
    """API times are epoch numbers; milliseconds when large (JavaScript style)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    seconds = value / 1000 if abs(value) > 1e11 else value
    return pd.Timestamp(seconds, unit="s", tz="UTC")


# entity -> {column: API key or function of the item}. Parent-id columns come
# from the call, not the item, and are filled in by _build.
_MAPS: dict[str, dict[str, Source]] = {
    "spaces": {"id": "id", "name": "name"},
    "folders": {"id": "id", "name": "name"},
    "projects": {"id": "id", "name": "name"},
    "my_projects": {"id": "id", "name": "name"},
    "blocks": {"id": "id", "text": "text", "completed": "completed"},
    "fields": {
        "id": "id",
        "type": lambda it: (it.get("data") or {}).get("type"),
        "display_name": lambda it: (it.get("data") or {}).get("displayName")
        or (it.get("data") or {}).get("title"),
        "definition": lambda it: _json(it.get("data")),
    },
    "members": {"handle": "handle", "display_name": "displayName"},
    "agents": {
        "id": "id",
        "name": "name",
        "description": "description",
        "tools": lambda it: _json(it.get("tools")),
        "n_tools": lambda it: len(it["tools"]) if isinstance(it.get("tools"), dict) else None,
    },
    "conversations": {
        "id": "id",
        "space_agent_id": "space_agent_id",
        "status": "status",
        "title": "title",
        "llm_type": lambda it: ((it.get("data") or {}).get("llm") or {}).get("type"),
        "llm_name": lambda it: ((it.get("data") or {}).get("llm") or {}).get("name"),
        "ended_at": lambda it: _epoch((it.get("data") or {}).get("endedAt")),
        "data": lambda it: _json(it.get("data")),
    },
    "media": {"id": "id", "space_id": "space_id", "kind": "kind"},
    "templates": {"id": "id", "name": "name"},
}


def _pluck(items: list[dict[str, Any]], source: Source) -> list[Any]:
    if isinstance(source, str):
        return [it.get(source) for it in items]
    return [source(it) for it in items]


_SURROGATE = re.compile("[\ud800-\udfff]")


def _replace_surrogates(data: dict[str, Any]) -> int:
    """Replace lone UTF-16 surrogates (valid JSON escapes, not encodable text) with U+FFFD.

    Arrow strings must be valid UTF-8; one such character would otherwise
    fail a whole project. Returns how many values changed, for the report.
    """
    changed = 0
    for values in data.values():
        if not isinstance(values, list):
            continue
        for i, v in enumerate(values):
            if isinstance(v, str) and _SURROGATE.search(v):
                values[i] = _SURROGATE.sub("\ufffd", v)
                changed += 1
    return changed


def _build(
    entity: str,
    operation: str,
    columns: Mapping[str, Any],
    n: int,
    parents: Mapping[str, str],
    report: ListingReport | None = None,
    given_only: bool = False,
) -> pd.DataFrame:
    data: dict[str, Any] = {name: [value] * n for name, value in parents.items()}
    data.update(columns)
    try:
        try:
            return schemas.frame(entity, data, given_only=given_only)
        except UnicodeEncodeError:
            changed = _replace_surrogates(data)
            if report is not None:
                report.replaced_surrogates += changed
            return schemas.frame(entity, data, given_only=given_only)
    except (TypeError, ValueError) as exc:
        raise InvalidResponseError(
            f"{operation}: a value of an unexpected type in the {entity} data ({exc})",
            operation=operation,
            status=200,
        ) from exc


def _provenance(
    df: pd.DataFrame,
    client: TaskadeClient,
    operation: str,
    ids: Mapping[str, str],
    reports: Iterable[ListingReport],
) -> pd.DataFrame:
    df.attrs = {
        "operation": operation,
        "ids": dict(ids),
        "fetched_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "api_host": client.host,
        "reports": [r.as_dict() for r in reports],
    }
    return df


def _load(
    entity: str,
    operation: str,
    client: TaskadeClient | None,
    parents: Mapping[str, str],
    body: Mapping[str, Any],
    extra: Mapping[str, Callable[[list[dict[str, Any]]], list[Any]]] | None = None,
) -> pd.DataFrame:
    client = client or default_client()
    listing = client.fetch_all(operation, **body)
    items = listing.items
    cols = {name: _pluck(items, src) for name, src in _MAPS[entity].items()}
    for name, fn in (extra or {}).items():
        cols[name] = fn(items)
    df = _build(entity, operation, cols, len(items), parents, listing.report)
    return _provenance(df, client, operation, parents, [listing.report])


def _require(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string id, got {value!r}")
    return value


def _positions(items: list[Any]) -> list[int]:
    return list(range(len(items)))


def load_spaces(client: TaskadeClient | None = None) -> pd.DataFrame:
    """Every space (workspace) the token can see: ``id``, ``name``.

    >>> load_spaces(client)  # doctest: +SKIP
    """
    return _load("spaces", "listSpaces", client, {}, {})


def load_folders(space_id: str, client: TaskadeClient | None = None) -> pd.DataFrame:
    """Folders of a space, with ``space_id``."""
    space_id = _require("space_id", space_id)
    return _load("folders", "listFolders", client, {"space_id": space_id}, {"spaceId": space_id})


def load_projects(space_id: str, client: TaskadeClient | None = None) -> pd.DataFrame:
    """Projects of a space, with ``space_id``."""
    space_id = _require("space_id", space_id)
    return _load("projects", "listProjects", client, {"space_id": space_id},
                 {"spaceId": space_id})


def load_my_projects(client: TaskadeClient | None = None) -> pd.DataFrame:
    """Projects the token's user viewed recently, most recent first (``position`` 0)."""
    return _load("my_projects", "listMyProjects", client, {}, {},
                 extra={"position": _positions})


def load_blocks(project_id: str, client: TaskadeClient | None = None) -> pd.DataFrame:
    """Top-level blocks of a project in document order, with ``project_id``."""
    project_id = _require("project_id", project_id)
    return _load("blocks", "listBlocks", client, {"project_id": project_id},
                 {"projectId": project_id}, extra={"position": _positions})


def load_fields(project_id: str, client: TaskadeClient | None = None) -> pd.DataFrame:
    """Custom fields of a project: ``type``, ``display_name`` and the whole definition as JSON."""
    project_id = _require("project_id", project_id)
    return _load("fields", "listFields", client, {"project_id": project_id},
                 {"projectId": project_id})


def load_members(project_id: str, client: TaskadeClient | None = None) -> pd.DataFrame:
    """Members of a project: ``handle``, ``display_name``, with ``project_id``."""
    project_id = _require("project_id", project_id)
    return _load("members", "listProjectMembers", client, {"project_id": project_id},
                 {"projectId": project_id})


def load_agents(space_id: str, client: TaskadeClient | None = None) -> pd.DataFrame:
    """Agents of a space; ``tools`` is the tool map as JSON text."""
    space_id = _require("space_id", space_id)
    return _load("agents", "listAgents", client, {"space_id": space_id}, {"spaceId": space_id})


def load_media(folder_id: str, client: TaskadeClient | None = None) -> pd.DataFrame:
    """Media files of a folder; ``null`` items are skipped and counted in the report."""
    folder_id = _require("folder_id", folder_id)
    return _load("media", "listMedia", client, {"folder_id": folder_id}, {"folderId": folder_id})


def load_templates(folder_id: str, client: TaskadeClient | None = None) -> pd.DataFrame:
    """Project templates of a folder; ``null`` items are skipped and counted."""
    folder_id = _require("folder_id", folder_id)
    return _load("templates", "listTemplates", client, {"folder_id": folder_id},
                 {"folderId": folder_id})


def load_tasks(
    project_id: str, client: TaskadeClient | None = None, *, tree: bool = True
) -> pd.DataFrame:
    """Every task of a project in document order, with tree columns.

    Adds ``position``, ``depth``, ``root_id``, ``path``, ``sibling_index``,
    ``n_children``, ``n_descendants``, ``is_leaf``, ``leaves_total``,
    ``leaves_done``, ``share_done`` and the corruption flags ``is_orphan``,
    ``in_cycle``, ``is_duplicate`` (see ``taskade_frames.trees``).

    >>> tasks = load_tasks("PROJECT_ID", client)  # doctest: +SKIP
    >>> tasks.groupby("depth").completed.mean()  # doctest: +SKIP
    """
    project_id = _require("project_id", project_id)
    client = client or default_client()
    fields = {"id": ("id", "string"), "text": ("text", "string"),
              "parent_id": ("parentId", "string"), "completed": ("completed", "bool")}
    pager = client.paginate("listTasks", projectId=project_id, decode=_task_decoder())
    pages = []
    # Each page becomes Arrow columns as it arrives, so no list of a million
    # dicts or Python strings is ever held: a clean page is decoded straight
    # into columns (TypedPage), any other takes the plain path.
    for page in pager.pages():
        if isinstance(page, TypedPage):
            pages.append(page.columns)
        else:
            pages.append({name: _arrow_column([t.get(key) for t in page], kind, pager.report)
                          for name, (key, kind) in fields.items()})
    cols = concat_columns(pages, {name: kind for name, (_, kind) in fields.items()})
    n = len(cols["id"])
    df = _build("tasks", "listTasks", cols, n, {"project_id": project_id}, pager.report,
                given_only=tree)
    # The tree adds its columns with the declared dtypes; coerce only checks.
    df = schemas.coerce(add_tree_columns(df) if tree else df, "tasks")
    return _provenance(df, client, "listTasks", {"project_id": project_id}, [pager.report])


@functools.lru_cache(maxsize=1)
def _task_decoder() -> PageDecoder:
    return PageDecoder({"id": ("id", "string"), "text": ("text", "string"),
                        "parent_id": ("parentId", "string"), "completed": ("completed", "bool")})


def _arrow_column(values: list[Any], kind: str, report: ListingReport) -> Any:
    """One page of one column as an Arrow array, with the same rules as ``_build``."""
    import pyarrow as pa

    arrow_type = schemas.arrow_type(kind)
    try:
        return pa.array(values, type=arrow_type)
    except UnicodeEncodeError:
        report.replaced_surrogates += _replace_surrogates({"v": values})
        return pa.array(values, type=arrow_type)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        if kind != "string":
            raise InvalidResponseError(
                f"listTasks: a value of an unexpected type in the tasks data ({exc})",
                operation="listTasks", status=200) from exc
        # An id sent as a number is still an id: keep its text.
        return pa.array([v if v is None or isinstance(v, str) else _text(v) for v in values],
                        type=arrow_type)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def load_conversations(
    agent_id: str,
    client: TaskadeClient | None = None,
    *,
    transcripts: bool = False,
    max_workers: int = 8,
) -> pd.DataFrame:
    """Conversations of an agent; with ``transcripts=True`` each transcript is fetched too.

    Transcripts come from ``getConversation`` with ``includeTranscript``, fetched
    concurrently (``max_workers`` threads; the client's rate limit still applies).
    """
    agent_id = _require("agent_id", agent_id)
    client = client or default_client()
    df = _load("conversations", "listConversations", client, {"agent_id": agent_id},
               {"agentId": agent_id})
    if transcripts and len(df):

        def fetch(convo_id: str) -> Any:
            reply = client.call("getConversation", agentId=agent_id, convoId=convo_id,
                                includeTranscript=True)
            return reply.get("transcript")

        with ThreadPoolExecutor(max_workers=max(1, max_workers)) as pool:
            found = list(pool.map(fetch, df["id"].tolist()))
        df["transcript"] = pd.array(found, dtype=schemas.STRING)
    return df


# A turn starts with "Role:" at the start of a line.
_TURN = re.compile(r"^(user|assistant|system|agent|tool|human|ai|bot)\s*:[ \t]?",
                   re.IGNORECASE | re.MULTILINE)


def split_transcript(transcript: str | None) -> list[tuple[str | None, str]]:
    """Split a transcript into ``(role, text)`` turns; text before any role is role None.

    >>> split_transcript("User: hi\\nAssistant: hello\\nthere")
    [('user', 'hi'), ('assistant', 'hello\\nthere')]
    """
    if not transcript:
        return []
    marks = list(_TURN.finditer(transcript))
    turns: list[tuple[str | None, str]] = []
    head = transcript[: marks[0].start()] if marks else transcript
    if head.strip():
        turns.append((None, head.strip("\n")))
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(transcript)
        turns.append((m.group(1).lower(), transcript[m.end():end].strip("\n")))
    return turns


def load_messages(
    agent_id: str, client: TaskadeClient | None = None, *, max_workers: int = 8
) -> pd.DataFrame:
    """One row per turn of every conversation of an agent.

    The raw transcripts stay in ``df.attrs["transcripts"]`` (conversation id ->
    text) so nothing the splitting might misread is lost.
    """
    convos = load_conversations(agent_id, client, transcripts=True, max_workers=max_workers)
    cols: dict[str, list[Any]] = {"conversation_id": [], "turn": [], "role": [], "text": []}
    for convo_id, transcript in zip(convos["id"].tolist(), convos["transcript"].tolist(),
                                    strict=True):
        for turn, (role, text) in enumerate(split_transcript(
                None if transcript is pd.NA else transcript)):
            cols["conversation_id"].append(convo_id)
            cols["turn"].append(turn)
            cols["role"].append(role)
            cols["text"].append(text)
    df = _build("messages", "getConversation", cols, len(cols["turn"]), {"agent_id": agent_id})
    raw = {c: (None if t is pd.NA else t)
           for c, t in zip(convos["id"].tolist(), convos["transcript"].tolist(), strict=True)}
    df.attrs = dict(convos.attrs, operation="getConversation", transcripts=raw)
    return df


def prompt_agent(
    space_id: str, agent_id: str, prompt: str, client: TaskadeClient | None = None
) -> str:
    """Send one prompt to an agent and return its reply text.

    ``promptAgent`` spends AI credits, so it is never retried once sent
    (a 402 ``OutOfCreditsError`` means the workspace is out of credits).
    """
    space_id = _require("space_id", space_id)
    agent_id = _require("agent_id", agent_id)
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("prompt must be a non-empty string")
    client = client or default_client()
    reply = client.call("promptAgent", spaceId=space_id, agentId=agent_id, prompt=prompt)
    summary = reply.get("summary")
    if not isinstance(summary, str):
        raise InvalidResponseError("promptAgent: the reply has no `summary` text",
                                   operation="promptAgent", status=200)
    return summary
