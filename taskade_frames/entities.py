"""The entity table: every frame the package builds, declared once.

One row per frame says where its rows come from (the list operation, whose
paging lives in ``operations``), how that operation is scoped (a space, a
folder, a project, an agent, or nothing), the column that identifies a row,
how API fields become columns, the columns and their kinds, and the column
that names the parent the rows were listed under. Loaders, ``load_space``,
the export and every typed frame (history, diffs, prompt history) read this
table; adding an entity is one row here plus its test.

Frames with no operation are derived (``messages``, ``errors``, histories):
they are here so their columns and dtypes are declared in the same place.

Values become columns through :func:`to_columns`, with one rule for values
of an unexpected type: a string column keeps a non-string value as its JSON
text; any other column refuses it with ``InvalidResponseError``. Id columns
are stricter, so that distinct ids never merge (see :func:`to_columns`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from .errors import InvalidResponseError
from .schemas import Column, parse_columns

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

__all__ = [
    "ENTITIES",
    "EXPORTED",
    "LISTED",
    "SCOPE_PARAMS",
    "SPACE_FRAMES",
    "TREE_COLUMNS",
    "Entity",
    "entity",
    "exported",
    "space_frames",
    "texts",
    "to_columns",
]

Scope = Literal["space", "folder", "project", "agent", "none"]
#: An API field name, a path into nested objects, or a function of the item.
Source = str | tuple[str, ...] | Callable[[dict[str, Any]], Any]

#: The column that records the id a scoped listing was made under.
SCOPE_PARAMS: dict[str, str] = {
    "space": "space_id",
    "folder": "folder_id",
    "project": "project_id",
    "agent": "agent_id",
}


@dataclass(frozen=True)
class Entity:
    """One frame: where its rows come from and what its columns are.

    ``operation`` names a list operation of ``operations.OPERATIONS`` (its
    paging is declared there); ``param`` is the request field that carries
    the scope id. ``fields`` maps a column to its API source; a column absent
    from ``fields`` is filled by the loader (parent ids, ``position``...).
    ``ordered`` entities get ``position``, the order the server listed them.
    """

    name: str
    columns: tuple[Column, ...]
    operation: str | None = None
    scope: Scope = "none"
    param: str | None = None
    key: str | None = "id"
    fields: Mapping[str, Source] = field(default_factory=dict)
    parent: str | None = None
    ordered: bool = False

    @property
    def paging(self) -> str | None:
        """How the operation pages (``cursor``, ``page``, ``single``), from ``operations``."""
        if self.operation is None:
            return None
        from .operations import operation

        return operation(self.operation).paging

    @property
    def id_columns(self) -> tuple[str, ...]:
        """Columns holding ids: the key, and every ``id`` / ``*_id`` column."""
        names = [c.name for c in self.columns]
        return tuple(n for n in names if n == self.key or n == "id" or n.endswith("_id"))


def _dig(item: dict[str, Any], path: tuple[str, ...]) -> Any:
    """A nested value, or None when absent; a non-object on the way is malformed."""
    value: Any = item
    for depth, step in enumerate(path):
        if value is None:
            return None
        if not isinstance(value, dict):
            where = ".".join(path[:depth]) or "item"
            raise _Malformed(f"`{where}` is a {type(value).__name__}, not an object")
        value = value.get(step)
    return value


class _Malformed(ValueError):
    """A value of the wrong shape; ``to_columns`` turns it into InvalidResponseError."""


def _display_name(item: dict[str, Any]) -> Any:
    return _dig(item, ("data", "displayName")) or _dig(item, ("data", "title"))


def _n_tools(item: dict[str, Any]) -> int | None:
    tools = item.get("tools")
    return len(tools) if isinstance(tools, dict) else None


#: The counts and shares of taskade_frames.completion, in the order every frame shows them.
_COMPLETION = (
    " tasks:int completed:int share_completed:float leaves_total:int leaves_done:int"
    " share_done:float"
)

TREE_COLUMNS = parse_columns(
    "position:int depth:int root_id:string path:string sibling_index:int n_children:int "
    "n_descendants:int is_leaf:bool leaves_total:int leaves_done:int share_done:float "
    "is_orphan:bool in_cycle:bool is_duplicate:bool"
)

_ROWS = (
    Entity(
        "spaces",
        parse_columns("id:string name:string"),
        "listSpaces",
        fields={"id": "id", "name": "name"},
    ),
    Entity(
        "folders",
        parse_columns("space_id:string id:string name:string"),
        "listFolders",
        "space",
        "spaceId",
        fields={"id": "id", "name": "name"},
        parent="space_id",
    ),
    Entity(
        "projects",
        parse_columns("space_id:string folder_id:string id:string name:string"),
        "listProjects",
        "folder",
        "spaceId",
        fields={"id": "id", "name": "name"},
        parent="folder_id",
    ),
    Entity(
        "my_projects",
        parse_columns("id:string name:string position:int"),
        "listMyProjects",
        fields={"id": "id", "name": "name"},
        ordered=True,
    ),
    Entity(
        "tasks",
        parse_columns("project_id:string id:string text:string parent_id:string completed:bool")
        + TREE_COLUMNS,
        "listTasks",
        "project",
        "projectId",
        fields={"id": "id", "text": "text", "parent_id": "parentId", "completed": "completed"},
        parent="project_id",
    ),
    Entity(
        "blocks",
        parse_columns("project_id:string id:string text:string completed:bool position:int"),
        "listBlocks",
        "project",
        "projectId",
        fields={"id": "id", "text": "text", "completed": "completed"},
        parent="project_id",
        ordered=True,
    ),
    Entity(
        "fields",
        parse_columns(
            "project_id:string id:string type:string display_name:string definition:string"
        ),
        "listFields",
        "project",
        "projectId",
        fields={
            "id": "id",
            "type": ("data", "type"),
            "display_name": _display_name,
            "definition": "data",
        },
        parent="project_id",
    ),
    Entity(
        "members",
        parse_columns("project_id:string handle:string display_name:string"),
        "listProjectMembers",
        "project",
        "projectId",
        key="handle",
        fields={"handle": "handle", "display_name": "displayName"},
        parent="project_id",
    ),
    Entity(
        "agents",
        parse_columns(
            "space_id:string folder_id:string id:string name:string "
            "description:string tools:string n_tools:int"
        ),
        "listAgents",
        "folder",
        "spaceId",
        fields={
            "id": "id",
            "name": "name",
            "description": "description",
            "tools": "tools",
            "n_tools": _n_tools,
        },
        parent="folder_id",
    ),
    Entity(
        "conversations",
        parse_columns(
            "agent_id:string id:string space_agent_id:string status:string title:string "
            "llm_type:string llm_name:string ended_at:timestamp data:string transcript:string"
        ),
        "listConversations",
        "agent",
        "agentId",
        fields={
            "id": "id",
            "space_agent_id": "space_agent_id",
            "status": "status",
            "title": "title",
            "llm_type": ("data", "llm", "type"),
            "llm_name": ("data", "llm", "name"),
            "ended_at": ("data", "endedAt"),
            "data": "data",
        },
        parent="agent_id",
    ),
    Entity(
        "media",
        parse_columns("space_id:string folder_id:string id:string kind:string"),
        "listMedia",
        "folder",
        "folderId",
        fields={"id": "id", "kind": "kind"},
        parent="folder_id",
    ),
    Entity(
        "templates",
        parse_columns("space_id:string folder_id:string id:string name:string"),
        "listTemplates",
        "folder",
        "folderId",
        fields={"id": "id", "name": "name"},
        parent="folder_id",
    ),
    # Derived frames: no list operation of their own.
    Entity(
        "messages",
        parse_columns("agent_id:string conversation_id:string turn:int role:string text:string"),
        scope="agent",
        key=None,
        parent="conversation_id",
    ),
    Entity(
        "errors",
        parse_columns("resource:string id:string status:int error:string message:string"),
        key=None,
    ),
    # v1 task details (``taskade_frames.details``): one GET per task and part, not a
    # listing, so no operation; keyed by (project_id, task_id), exported when asked.
    Entity(
        "task_assignees",
        parse_columns(
            "project_id:string task_id:string position:int handle:string display_name:string"
        ),
        scope="project",
        key=None,
        parent="task_id",
    ),
    Entity(
        "task_dates",
        parse_columns(
            "project_id:string task_id:string start_date:date start_time:string "
            "start_timezone:string start_utc:timestamp end_date:date end_time:string "
            "end_timezone:string end_utc:timestamp end_period:string date_json:string"
        ),
        scope="project",
        key=None,
        parent="task_id",
    ),
    Entity(
        "task_notes",
        parse_columns("project_id:string task_id:string type:string value:string"),
        scope="project",
        key=None,
        parent="task_id",
    ),
    Entity(
        "task_field_values",
        parse_columns(
            "project_id:string task_id:string field_id:string field_type:string "
            "value_json:string value_text:string value_number:float value_bool:bool "
            "value_date:date value_timestamp:timestamp"
        ),
        scope="project",
        key=None,
        parent="task_id",
    ),
    Entity(
        "prompt_history",
        parse_columns(
            "time:timestamp space:string space_id:string agent:string agent_id:string "
            "prompt:string reply:string latency_s:float error:string"
        ),
        key=None,
    ),
    Entity(
        "snapshots",
        parse_columns(
            "snapshot:string snapshot_time:timestamp spaces:int tasks:int errors:int "
            "api_host:string version:string damaged:string"
        ),
        key="snapshot",
    ),
    # The completion vocabulary (taskade_frames.completion): per project, per snapshot, per space.
    Entity(
        "completion",
        parse_columns("project_id:string project_name:string" + _COMPLETION),
        key="project_id",
    ),
    Entity(
        "completion_history",
        parse_columns(
            "snapshot:timestamp space_id:string project_id:string project_name:string" + _COMPLETION
        ),
        key=None,
    ),
    Entity(
        "completion_summary",
        parse_columns(
            "space_id:string space_name:string projects:int" + _COMPLETION + " errors:int"
        ),
        key="space_id",
    ),
    Entity(
        "task_changes",
        parse_columns(
            "project_id:string task_id:string change:string text_before:string text_after:string "
            "parent_before:string parent_after:string completed_before:bool "
            "completed_after:bool value_before:string value_after:string"
        ),
        key=None,
    ),
)

#: Every frame by name. The one meaning of "ENTITIES" in the package.
ENTITIES: dict[str, Entity] = {row.name: row for row in _ROWS}


def space_frames() -> tuple[str, ...]:
    """The frames of one space (``load_space``): every listing under a space, folder,
    project or agent, in table order, then ``errors``."""
    return (*(n for n, e in ENTITIES.items() if e.operation and e.scope != "none"), "errors")


def exported() -> tuple[str, ...]:
    """The datasets an export writes: the spaces, then each space's frames."""
    return ("spaces", *space_frames())


#: Entities read from a list operation.
LISTED: tuple[str, ...] = tuple(n for n, e in ENTITIES.items() if e.operation)
#: ``space_frames()`` and ``exported()`` of the table as shipped.
SPACE_FRAMES: tuple[str, ...] = space_frames()
EXPORTED: tuple[str, ...] = exported()


def entity(name: str) -> Entity:
    """The row of an entity; ``ValueError`` naming the known ones otherwise."""
    try:
        return ENTITIES[name]
    except KeyError:
        raise ValueError(f"unknown entity {name!r}; known: {', '.join(ENTITIES)}") from None


# -- conversion: page items -> Arrow columns ----------------------------------------------

_SURROGATE = re.compile("[\ud800-\udfff]")


def to_columns(
    name: str, items: list[dict[str, Any]], *, operation: str | None = None
) -> tuple[dict[str, pa.Array], int]:
    """The mapped columns of one page of items, as Arrow arrays; and surrogates replaced.

    The single conversion every loader uses, page by page. Rules:

    - a string column keeps a non-string value as its JSON text (sorted keys),
      so an object or a number is never lost nor shown as a Python repr;
    - an id column takes strings and integers (as their decimal text); a
      boolean, float, object or list id, or two ids that differ on the server
      but have the same text (``5`` and ``"5"``), is an ``InvalidResponseError``;
    - a bool, int or float column refuses any other type; a timestamp column
      takes epoch seconds or milliseconds (JavaScript style) within years 1..9999;
    - lone UTF-16 surrogates become U+FFFD (Arrow strings must be UTF-8) and
      are counted, for the listing report.

    >>> cols, _ = to_columns("spaces", [{"id": 5, "name": {"a": 1}}])
    >>> cols["id"].to_pylist(), cols["name"].to_pylist()
    (['5'], ['{"a": 1}'])
    """
    ent = entity(name)
    op = operation or ent.operation or name
    kinds = {c.name: c.kind for c in ent.columns}
    out: dict[str, pa.Array] = {}
    replaced = 0
    for column, source in ent.fields.items():
        try:
            values = _pluck(items, source)
            array, changed = _column(values, kinds[column], column in ent.id_columns)
        except (_Malformed, RecursionError) as exc:
            raise InvalidResponseError(
                f"{op}: a malformed value for {name}.{column}: {_why(exc)}",
                operation=op,
                status=200,
            ) from None
        out[column] = array
        replaced += changed
    return out, replaced


def texts(values: list[Any], *, operation: str) -> list[str | None]:
    """Values for a string column by the same rule (JSON text, surrogates replaced)."""
    try:
        out = _texts(values)
    except (_Malformed, RecursionError) as exc:
        raise InvalidResponseError(
            f"{operation}: a malformed value: {_why(exc)}", operation=operation, status=200
        ) from None
    return _replace_surrogates(out)[0]


def _why(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply to convert"
    return str(exc)


def _pluck(items: list[dict[str, Any]], source: Source) -> list[Any]:
    if isinstance(source, str):
        return [it.get(source) for it in items]
    if isinstance(source, tuple):
        return [_dig(it, source) for it in items]
    return [source(it) for it in items]


def _column(values: list[Any], kind: str, is_id: bool) -> tuple[pa.Array, int]:
    import pyarrow as pa

    from .schemas import arrow_type

    if kind == "timestamp":
        return _timestamps(values), 0
    if kind == "string":
        values = _ids(values) if is_id else _texts(values)
    changed = 0
    try:
        return pa.array(values, type=arrow_type(kind)), 0
    except UnicodeEncodeError:
        values, changed = _replace_surrogates(values)
        return pa.array(values, type=arrow_type(kind)), changed
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        bad = next((v for v in values if v is not None and not _fits(v, kind)), None)
        raise _Malformed(f"expected {kind}, got {type(bad).__name__} {_excerpt(bad)}") from exc


def _fits(value: Any, kind: str) -> bool:
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, int | float) and not isinstance(value, bool)


def _excerpt(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def _texts(values: list[Any]) -> list[Any]:
    """Strings as they are; anything else (not None) as its JSON text."""
    if all(v is None or type(v) is str for v in values):
        return values
    return [v if v is None or isinstance(v, str) else _json(v) for v in values]


# How deep a value may nest before it is refused. Python's own limit differs by
# version (3.13 converts 5,000 levels that 3.11 refuses), so the rule is ours.
MAX_NESTING = 500


def _json(value: Any) -> str:
    if isinstance(value, dict | list) and _nesting(value) > MAX_NESTING:
        raise RecursionError(f"more than {MAX_NESTING} levels")
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise _Malformed(f"not JSON: {exc}") from None


def _nesting(value: Any) -> int:
    """Depth of a JSON value, without recursion, stopping once past MAX_NESTING."""
    deepest, level = 0, [(value, 1)]
    while level:
        node, depth = level.pop()
        if depth > MAX_NESTING:
            return depth
        deepest = max(deepest, depth)
        children = node.values() if isinstance(node, dict) else node
        level.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return deepest


def _ids(values: list[Any]) -> list[Any]:
    """Ids as text; refuse ids whose text would merge distinct server values."""
    if all(v is None or type(v) is str for v in values):
        return values
    out: list[Any] = []
    numbers: set[str] = set()
    for v in values:
        if v is None or isinstance(v, str):
            out.append(v)
        elif isinstance(v, int) and not isinstance(v, bool):
            out.append(str(v))
            numbers.add(out[-1])
        else:
            raise _Malformed(
                f"an id must be a string or an integer, got {type(v).__name__} {_excerpt(v)}"
            )
    clash = numbers & {v for v in values if isinstance(v, str)}
    if clash:
        raise _Malformed(
            f"the ids {min(clash)} and {min(clash)!r} are distinct on the "
            "server but would be the same text here"
        )
    return out


def _timestamps(values: list[Any]) -> pa.Array:
    """Epoch seconds, or milliseconds when large, as UTC microseconds."""
    import pyarrow as pa

    micros: list[int | None] = []
    for v in values:
        if v is None:
            micros.append(None)
            continue
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise _Malformed(f"expected an epoch time, got {type(v).__name__} {_excerpt(v)}")
        seconds = v / 1000 if abs(v) > 1e11 else v
        if not _MIN_EPOCH <= seconds <= _MAX_EPOCH:
            raise _Malformed(f"the time {_excerpt(v)} is outside the years 1 to 9999")
        micros.append(round(seconds * 1_000_000))
    return pa.array(micros, type=pa.timestamp("us", tz="UTC"))


_MIN_EPOCH = -62_135_596_800  # 0001-01-01T00:00:00Z
_MAX_EPOCH = 253_402_300_799  # 9999-12-31T23:59:59Z


def _replace_surrogates(values: list[Any]) -> tuple[list[Any], int]:
    changed = 0
    out = []
    for v in values:
        if isinstance(v, str) and _SURROGATE.search(v):
            v = _SURROGATE.sub("\ufffd", v)
            changed += 1
        out.append(v)
    return out, changed
