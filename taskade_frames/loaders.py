"""Loaders: every v2 list operation as a typed DataFrame.

Each loader asks the client for a complete listing, maps API fields to the
columns declared in the entity table (``entities``), and records provenance in ``df.attrs``
(operation, ids, fetch time, API host, completeness report; never the
token). Loaders never see an HTTP response, only dicts.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, Literal

import pandas as pd

from . import entities, schemas
from .client import ListingReport, TaskadeClient, default_client, resolve_client
from .decoding import PageDecoder, TypedPage
from .errors import BadRequestError, InvalidResponseError, ListingChangedError, NotFoundError
from .history import PromptReply, track
from .ids import parse_id
from .paging import MAX_RELISTS, Pager
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


def _load(
    name: str,
    client: TaskadeClient | None,
    scope_id: str | None = None,
    parents: Mapping[str, str] | None = None,
    *,
    tree: bool = False,
) -> pd.DataFrame:
    """One listing of an entity as a typed frame: the path every loader takes.

    Pages become Arrow columns as they arrive (``entities.to_columns``), so no
    list of a million dicts or Python strings is ever held. (Converting on a
    second thread while the next page is fetched was measured slower: the GIL
    hands the fetching thread its answer late, page after page.)
    """
    ent = entities.entity(name)
    assert ent.operation is not None, name
    client = resolve_client(client)
    body = {ent.param: scope_id} if ent.param and scope_id is not None else {}
    decode = typed_decoder(name)
    for relists in range(MAX_RELISTS + 1):
        pager = client.paginate(ent.operation, decode=decode, **body)
        try:
            chunks = _convert(name, pager)
        except ListingChangedError:
            if relists == MAX_RELISTS:
                raise
            continue  # it moved under the cursor while read: read it again, as fetch_all does
        pager.report.relists = relists
        break
    kinds = {c.name: c.kind for c in ent.columns}
    data: dict[str, Any] = {}
    for column in list(chunks):  # one column held twice at a time, not all of them
        data[column] = _concat_chunks(chunks.pop(column), kinds[column])
    # The pager's de-duplication set holds every id as a Python string: let it go
    # before the frame and its tree columns are built, the peak of a large load.
    # Only after the join: the page arrays' small wrappers sat among those strings
    # and kept their memory from being released (64 MB back at 1M tasks, not 32).
    report = pager.report
    del pager
    n = len(next(iter(data.values()))) if data else 0
    if ent.ordered:
        data["position"] = _positions(n)
    for column, value in (parents or {}).items():
        data[column] = _repeated(value, n)
    df = schemas.frame(name, data, given_only=tree)
    del data
    if name == "tasks":
        # The tree adds its columns with the declared dtypes; coerce only checks.
        df = schemas.coerce(add_tree_columns(df) if tree else df, "tasks")
    return _provenance(df, client, ent.operation, parents or {}, [report])


def _positions(n: int) -> Any:
    """0..n-1 as an Arrow int64 array: a million Python ints would cost more than the tree."""
    import numpy as np
    import pyarrow as pa

    return pa.array(np.arange(n, dtype=np.int64))


def _repeated(value: Any, n: int) -> Any:
    """``value`` n times, as one Arrow string array built from its buffers (a scope id
    repeated on every row); anything else goes through a list and its usual checks."""
    import numpy as np
    import pyarrow as pa

    try:
        raw = np.frombuffer(value.encode("utf-8"), np.uint8)
    except (AttributeError, UnicodeEncodeError):  # not a string, or one Arrow cannot hold
        return [value] * n
    offsets = np.arange(n + 1, dtype=np.int64) * len(raw)
    buffers = [None, pa.py_buffer(offsets), pa.py_buffer(np.tile(raw, n))]
    return pa.Array.from_buffers(pa.large_string(), n, buffers)


def _convert(name: str, pager: Pager) -> dict[str, list[Any]]:
    """Each page as Arrow columns, column by column.

    A clean page arrives already decoded into columns (``TypedPage``); any
    other goes through ``entities.to_columns``, which owns every rule for odd
    data, so both give the same columns.
    """
    operation = pager.report.operation
    chunks: dict[str, list[Any]] = {column: [] for column in entities.entity(name).fields}
    for page in pager.pages():
        if isinstance(page, TypedPage):
            cols = page.columns
        else:
            cols, replaced = entities.to_columns(name, page, operation=operation)
            pager.report.replaced_surrogates += replaced
        for column, parts in chunks.items():
            parts.append(cols[column])
    return chunks


_DECODERS: dict[str, tuple[entities.Entity, PageDecoder | None]] = {}


def typed_decoder(name: str) -> PageDecoder | None:
    """The typed page decoder of an entity whose fields are all plain API fields, else None.

    Such pages decode straight into Arrow columns (``decoding``); entities with
    nested or computed fields take the plain path.
    """
    ent = entities.entity(name)
    cached = _DECODERS.get(name)
    if cached is not None and cached[0] is ent:
        return cached[1]
    kinds = {c.name: c.kind for c in ent.columns}
    plain = {col: (src, kinds[col]) for col, src in ent.fields.items() if isinstance(src, str)}
    key = ent.fields.get(ent.key) if ent.key else None
    typed = (
        len(plain) == len(ent.fields)
        and isinstance(key, str)
        and all(kind in ("string", "bool", "int", "float") for _, kind in plain.values())
    )
    decoder = PageDecoder(plain, key=key) if typed else None  # type: ignore[arg-type]
    _DECODERS[name] = (ent, decoder)
    return decoder


def _concat_chunks(parts: list[Any], kind: str) -> Any:
    import pyarrow as pa

    arrow_type = schemas.arrow_type(kind)
    if len(parts) == 1:
        return parts[0]
    return (
        pa.chunked_array(parts, type=arrow_type).combine_chunks()
        if parts
        else pa.array([], type=arrow_type)
    )


def _provenance(
    df: pd.DataFrame,
    client: TaskadeClient,
    operation: str,
    ids: Mapping[str, str],
    reports: Iterable[ListingReport | dict[str, Any]],
) -> pd.DataFrame:
    df.attrs = {
        "operation": operation,
        "ids": dict(ids),
        "fetched_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "api_host": client.host,
        "reports": [r if isinstance(r, dict) else r.as_dict() for r in reports],
    }
    return df


def load_spaces(client: TaskadeClient | None = None) -> pd.DataFrame:
    """Every space (workspace) the token can see: ``id``, ``name``.

    >>> load_spaces(client)  # doctest: +SKIP
    """
    return _load("spaces", client)


def load_folders(space_id: str, client: TaskadeClient | None = None) -> pd.DataFrame:
    """Folders of a space, with ``space_id``. ``space_id`` may be a space link."""
    space_id = parse_id(space_id, "space")
    return _load("folders", client, space_id, {"space_id": space_id})


def load_projects(
    space_id: str, client: TaskadeClient | None = None, *, folder_id: str | None = None
) -> pd.DataFrame:
    """Projects of a space (its home folder and every folder), or of one folder.

    ``folder_id`` is the folder each project was found in, the space id for
    the home folder (see :func:`load_scoped`).
    """
    return load_scoped("projects", space_id, client, folder_id=folder_id)


def load_my_projects(client: TaskadeClient | None = None) -> pd.DataFrame:
    """Projects the token's user viewed recently, most recent first (``position`` 0)."""
    return _load("my_projects", client)


def load_blocks(project_id: str, client: TaskadeClient | None = None) -> pd.DataFrame:
    """Top-level blocks of a project in document order, with ``project_id``."""
    project_id = parse_id(project_id, "project")
    return _load("blocks", client, project_id, {"project_id": project_id})


def load_fields(project_id: str, client: TaskadeClient | None = None) -> pd.DataFrame:
    """Custom fields of a project: ``type``, ``display_name`` and the whole definition as JSON."""
    project_id = parse_id(project_id, "project")
    return _load("fields", client, project_id, {"project_id": project_id})


def load_members(project_id: str, client: TaskadeClient | None = None) -> pd.DataFrame:
    """Members of a project: ``handle``, ``display_name``, with ``project_id``."""
    project_id = parse_id(project_id, "project")
    return _load("members", client, project_id, {"project_id": project_id})


def load_agents(
    space_id: str, client: TaskadeClient | None = None, *, folder_id: str | None = None
) -> pd.DataFrame:
    """Agents of a space (home folder and every folder) or of one folder; ``tools`` as JSON."""
    return load_scoped("agents", space_id, client, folder_id=folder_id)


def load_media(
    space_id: str, client: TaskadeClient | None = None, *, folder_id: str | None = None
) -> pd.DataFrame:
    """Media files of a space (home folder and every folder) or of one folder.

    ``null`` items are skipped and counted in the report.
    """
    return load_scoped("media", space_id, client, folder_id=folder_id)


def load_templates(
    space_id: str, client: TaskadeClient | None = None, *, folder_id: str | None = None
) -> pd.DataFrame:
    """Project templates of a space (home folder and every folder) or of one folder."""
    return load_scoped("templates", space_id, client, folder_id=folder_id)


# -- folder-scoped listings ------------------------------------------------------------

#: How a server that lists whole spaces refuses a folder id.
REFUSALS = (BadRequestError, NotFoundError)


def load_scoped(
    name: str,
    space_id: str,
    client: TaskadeClient | None = None,
    *,
    folder_id: str | None = None,
) -> pd.DataFrame:
    """Every item of a folder-scoped entity in a space, each once, wherever it lives.

    A space's own id stands for its home folder. The space is listed as its
    folders (``listFolders``) then its home, de-duplicated by key, so the set
    is complete whether the server lists only the home folder for a space id
    (as v1 documents) or the whole space. A folder listing the server refuses
    (400, 404) while the space listing succeeds is noted in the report, never
    an error: such a server lists the whole space from the space id.
    With ``folder_id``, only that folder is listed.
    """
    space_id = parse_id(space_id, "space")
    client = resolve_client(client)
    if folder_id is not None:
        folder_id = parse_id(folder_id, "folder")
        return list_in_folder(name, space_id, folder_id, client)
    folders = _load("folders", client, space_id, {"space_id": space_id})
    found: list[tuple[str, pd.DataFrame | Exception]] = []
    for fid in [*folders["id"].dropna().tolist(), space_id]:
        try:
            found.append((fid, list_in_folder(name, space_id, fid, client)))
        except REFUSALS as exc:
            if fid == space_id:
                raise
            found.append((fid, exc))
    return combine_scoped(name, space_id, found, client)


def list_in_folder(name: str, space_id: str, folder_id: str, client: TaskadeClient) -> pd.DataFrame:
    """One folder's listing of a folder-scoped entity (``folder_id == space_id``: home)."""
    ent = entities.entity(name)
    if ent.scope != "folder":
        raise ValueError(f"{name} is not listed by folder")
    return _load(name, client, folder_id, {"space_id": space_id, "folder_id": folder_id})


def combine_scoped(
    name: str,
    space_id: str,
    found: list[tuple[str, pd.DataFrame | Exception]],
    client: TaskadeClient,
) -> pd.DataFrame:
    """Folder listings (frames, or the refusal each folder got) as one frame, each item once.

    The first listing that holds an item names its folder, so list folders
    before the home folder: a space-wide home listing then adds only what no
    folder listing had.
    """
    ent = entities.entity(name)
    frames = [f for _, f in found if isinstance(f, pd.DataFrame)]
    reports: list[dict[str, Any]] = [r for f in frames for r in f.attrs.get("reports", [])]
    for fid, exc in found:
        if isinstance(exc, Exception):
            reports.append(refused_report(ent, fid, exc))
    parts = [f for f in frames if len(f)]
    df = pd.concat(parts, ignore_index=True) if parts else schemas.empty_frame(name)
    if ent.key is not None and len(df):
        df = df.drop_duplicates(subset=ent.key, keep="first", ignore_index=True)
    assert ent.operation is not None
    return _provenance(df, client, ent.operation, {"space_id": space_id}, reports)


def refused_report(ent: entities.Entity, folder_id: str, exc: Exception) -> dict[str, Any]:
    """The report of a folder listing the server refused: it lists whole spaces instead."""
    status = getattr(exc, "status", None)
    report = ListingReport(
        operation=ent.operation or ent.name, params={ent.param or "id": folder_id}
    )
    report.stop_reason = (
        f"refused ({status} {type(exc).__name__}): the server lists the "
        "whole space from the space id, so the space listing holds these"
    )
    report.complete = True
    return dict(report.as_dict(), refused=True)


def load_listing(name: str, scope_id: str, client: TaskadeClient | None = None) -> pd.DataFrame:
    """The listing of any entity under one project, agent or space, by its table row.

    What ``load_space`` runs for each project and agent; ``tasks`` get their tree columns.
    """
    ent = entities.entity(name)
    if ent.scope == "folder":
        raise ValueError(f"{name} is listed by folder: use load_scoped or list_in_folder")
    if ent.operation is None or ent.scope == "none":
        raise ValueError(f"{name} is not listed under an id")
    scope_id = parse_id(scope_id, ent.scope)
    parent = entities.SCOPE_PARAMS[ent.scope]
    return _load(name, client, scope_id, {parent: scope_id}, tree=name == "tasks")


def load_tasks(
    project_id: str, client: TaskadeClient | None = None, *, tree: bool = True
) -> pd.DataFrame:
    """Every task of a project in document order, with tree columns.

    ``project_id`` may be a project link (``https://www.taskade.com/d/<id>``).
    From the API: ``project_id``, ``id``, ``text``, ``parent_id`` (NA for a
    top-level task) and ``completed`` (the task's own checkbox).

    With ``tree=True`` (the default) the tree columns are computed from the
    ``parent_id`` links (details and corrupt links in ``taskade_frames.trees``);
    with ``tree=False`` they are NA, which is faster:

    * ``position``: the row's place in document order; ``depth``: ancestors above
      it (0 at the top level); ``root_id``: its top-level task; ``path``: ids from
      the root down, joined by ``/``; ``sibling_index``: rank among its siblings.
    * ``n_children``, ``n_descendants``: tasks directly below, and at any depth.
    * ``is_leaf``: no children. ``leaves_total``: leaves in its subtree (1 for a
      leaf); ``leaves_done``: those completed; ``share_done`` =
      ``leaves_done / leaves_total``, completion over leaves (see
      ``taskade_frames.completion`` for it and ``share_completed``, over all tasks).
    * ``is_orphan``: its parent is not in the project; ``in_cycle``: on or below a
      parent cycle; ``is_duplicate``: an earlier row has its id.

    >>> tasks = load_tasks("PROJECT_ID", client)  # doctest: +SKIP
    >>> tasks.groupby("depth").completed.mean()  # doctest: +SKIP
    """
    project_id = parse_id(project_id, "project")
    return _load("tasks", client, project_id, {"project_id": project_id}, tree=tree)


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
    agent_id = parse_id(agent_id, "agent")
    client = resolve_client(client)
    df = _load("conversations", client, agent_id, {"agent_id": agent_id})
    if transcripts and len(df):

        def fetch(convo_id: str) -> Any:
            reply = client.call(
                "getConversation", agentId=agent_id, convoId=convo_id, includeTranscript=True
            )
            return reply.get("transcript")

        found = run_all(fetch, df["id"].tolist(), client, max_workers=max_workers)
        df["transcript"] = pd.array(
            entities.texts(found, operation="getConversation"), dtype=schemas.STRING
        )
    return df


def run_all(
    fn: Callable[[Any], Any], args: list[Any], client: TaskadeClient, *, max_workers: int = 8
) -> list[Any]:
    """``[fn(a) for a in args]`` on a bounded pool that an interrupt stops at once.

    On Ctrl-C (or any error) the queued calls are cancelled and the pool is
    not waited for; calls already running stop at their next request or
    retry wait (``TaskadeClient.cancel_scope``). Inside a ``load_space`` job
    the job's own stop event is shared, so stopping the job stops these too.
    """
    stop = client.current_stop() or threading.Event()

    def guarded(arg: Any) -> Any:
        with client.cancel_scope(stop):
            return fn(arg)

    pool = ThreadPoolExecutor(max_workers=max(1, max_workers))
    try:
        out = list(pool.map(guarded, args))
    except BaseException:
        stop.set()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return out


# A turn starts with "Role:" at the start of a line.
_TURN = re.compile(
    r"^(user|assistant|system|agent|tool|human|ai|bot)\s*:[ \t]?", re.IGNORECASE | re.MULTILINE
)


def split_transcript(transcript: str | None) -> list[tuple[str | None, str]]:
    """Split a transcript into ``(role, text)`` turns; text before any role is role None.

    A transcript with no ``Role:`` line at all is one turn, role None, kept
    exactly as it came.

    >>> split_transcript("User: hi\\nAssistant: hello\\nthere")
    [('user', 'hi'), ('assistant', 'hello\\nthere')]
    >>> split_transcript("[{\\"role\\": \\"user\\"}]")
    [(None, '[{"role": "user"}]')]
    """
    if not transcript:
        return []
    marks = list(_TURN.finditer(transcript))
    if not marks:
        return [(None, transcript)]  # a format we do not know: kept whole, never dropped
    turns: list[tuple[str | None, str]] = []
    head = transcript[: marks[0].start()] if marks else transcript
    if head.strip():
        turns.append((None, head.strip("\n")))
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(transcript)
        turns.append((m.group(1).lower(), transcript[m.end() : end].strip("\n")))
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
    for convo_id, transcript in zip(
        convos["id"].tolist(), convos["transcript"].tolist(), strict=True
    ):
        for turn, (role, text) in enumerate(
            split_transcript(None if transcript is pd.NA else transcript)
        ):
            cols["conversation_id"].append(convo_id)
            cols["turn"].append(turn)
            cols["role"].append(role)
            cols["text"].append(text)
    cols["agent_id"] = [agent_id] * len(cols["turn"])
    df = schemas.frame("messages", cols)
    raw = {
        c: (None if t is pd.NA else t)
        for c, t in zip(convos["id"].tolist(), convos["transcript"].tolist(), strict=True)
    }
    df.attrs = {**convos.attrs, "operation": "getConversation", "transcripts": raw}
    return df


def prompt_agent(
    space_id: str,
    agent_id: str,
    prompt: str,
    client: TaskadeClient | None = None,
    *,
    space_name: str | None = None,
    agent_name: str | None = None,
    on_error: Literal["raise", "return"] = "raise",
) -> PromptReply:
    """Send one prompt to an agent; the reply is the text, with its timing and ids.

    Every call, failed or not, is added to the session's history
    (``taskade_frames.prompt_history()``); ``space_name`` and ``agent_name`` only
    label it there. ``promptAgent`` spends AI credits, so it is never retried once
    sent (a 402 ``OutOfCreditsError`` means the workspace is out of credits).
    ``on_error="return"`` gives back a failed reply (empty text, ``.error`` set)
    instead of raising.

    >>> reply = prompt_agent(space_id, agent_id, "What is overdue?", client)  # doctest: +SKIP
    >>> print(reply); reply.latency_s  # doctest: +SKIP
    """
    space_id = parse_id(space_id, "space")
    agent_id = parse_id(agent_id, "agent")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("prompt must be a non-empty string")
    if on_error not in ("raise", "return"):
        raise ValueError(f"on_error must be 'raise' or 'return', not {on_error!r}")
    client = resolve_client(client)

    def send() -> str:
        reply = client.call("promptAgent", spaceId=space_id, agentId=agent_id, prompt=prompt)
        summary = reply.get("summary")
        if not isinstance(summary, str):
            raise InvalidResponseError(
                "promptAgent: the reply has no `summary` text", operation="promptAgent", status=200
            )
        return summary

    return track(
        send,
        space_id=space_id,
        agent_id=agent_id,
        prompt=prompt,
        space=space_name,
        agent=agent_name,
        raise_errors=on_error == "raise",
    )
