"""Parquet snapshots of Taskade spaces: the writer.

Export turns the frames of :mod:`taskade_frames.space` into one hive-partitioned
parquet dataset per entity, ``<out>/<entity>/snapshot=<name>/space_id=<id>/part-0.parquet``,
with Arrow schemas from :mod:`taskade_frames.schemas`, in a local folder or an object
store (see :mod:`taskade_frames.storage` for the layout and the commit protocol).
The v2 API gives tasks no timestamps, so change over time is only visible by
comparing snapshots; a snapshot therefore has to be all or nothing, and its name
is taken when its data starts being read (after waiting for any other export), so
names sort in the order the data was read.

Reading snapshots back, diffs and history live in :mod:`taskade_frames.snapshots`.

``space_id`` is a partition column: entities that also carry it as a column
(folders, projects, agents, media) store it only in the path, so pyarrow, DuckDB,
Polars and Spark never see two differing ``space_id`` fields; read-back restores it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pandas as pd

from . import details as details_mod
from . import loaders, schemas
from . import space as space_mod
from .client import TaskadeClient, resolve_client
from .entities import EXPORTED
from .errors import TaskadeError, redact
from .ids import parse_id
from .storage import (
    MANIFESTS,
    NAME_FORMAT,
    PARTITION,
    STAGING,
    ExportError,
    Location,
    SnapshotExistsError,
    SnapshotNotFoundError,
    Store,
    check_space_id,
    is_snapshot_name,
    open_store,
    part,
    snapshot_time,
)

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

__all__ = [
    "ALL_DATASETS",
    "DATASETS",
    "DETAIL_DATASETS",
    "ExportError",
    "ExportResult",
    "SnapshotExistsError",
    "SnapshotNotFoundError",
    "export_all",
    "export_space",
]

# Every dataset of an export, in the order they are written and read.
DATASETS: tuple[str, ...] = EXPORTED
# Written only when asked (``details=``): one dataset per v1 task-detail frame.
DETAIL_DATASETS: tuple[str, ...] = details_mod.detail_entities(details_mod.PARTS)
# Every folder a snapshot may have, for moving, aborting and pruning.
ALL_DATASETS: tuple[str, ...] = DATASETS + DETAIL_DATASETS

META_PREFIX = "taskade_frames."
MANIFEST_FORMAT = 2

# What one malformed space may raise while it is loaded and converted: recorded as
# errors rows (with the exception's type) so the other spaces are still committed.
# Storage failures (ExportError) are not among them: they end the whole export.
SPACE_FAILURES = (
    TaskadeError,
    ValueError,
    TypeError,
    RecursionError,
    OverflowError,
    AttributeError,
    KeyError,
)


@dataclass
class ExportResult:
    """What one export committed.

    ``rows`` counts rows per entity over all exported spaces; ``errors`` is the
    errors frame (resources or whole spaces that failed, recorded, not raised).
    ``out`` is the location: a Path for a local folder, else the URI without
    credentials or query.
    """

    out: Path | str
    snapshot: str
    snapshot_time: pd.Timestamp
    manifest: Path | str
    spaces: list[str]
    rows: dict[str, int]
    errors: pd.DataFrame = field(repr=False)
    api_host: str = ""
    seconds: float = 0.0

    def summary(self) -> pd.DataFrame:
        """Rows per entity: ``entity``, ``rows``."""
        return pd.DataFrame({"entity": list(self.rows), "rows": list(self.rows.values())})

    def path(self, entity: str = "tasks") -> Path | str:
        """The folder (or prefix) holding this snapshot of one entity."""
        if isinstance(self.out, Path):
            return self.out / entity / f"snapshot={self.snapshot}"
        return f"{self.out.rstrip('/')}/{entity}/snapshot={self.snapshot}"


def _check_client(client: object) -> TaskadeClient:
    try:
        return resolve_client(client)
    except TypeError as exc:
        raise TypeError(
            f"{exc} (arguments in the wrong order? export_space(space_id, out, client))"
        ) from None


def export_space(
    space_id: str,
    out: Location,
    client: TaskadeClient | None = None,
    *,
    snapshot: str | datetime | date | None = None,
    progress: bool = True,
    max_workers: int = 8,
    compression: str = "zstd",
    lock_timeout: float = 600.0,
    details: bool | str | Iterable[str] = False,
) -> ExportResult:
    """Export every frame of one space as a new committed snapshot under ``out``.

    Args:
        space_id: the space to export.
        out: a local folder or a URI (``s3://bucket/prefix``, ``gs://``, ``abfs://``,
            ``file://``); credentials come from the environment, never from here.
        client: default: a client from the environment.
        snapshot: snapshot name (``2026-11-29T120000Z``) or time; default now (UTC),
            taken once no other export holds ``out``.
        progress: show a progress bar (one per call, gone when done).
        max_workers: threads fetching at once (see :func:`~taskade_frames.load_space`).
        compression: parquet codec.
        lock_timeout: seconds to wait for another export writing to a local ``out``.
        details: also export v1 task details (one request per task and part), as
            datasets of their own (``task_assignees``, ``task_dates``, ...): ``True``
            for all parts or some of ``"assignees"``, ``"dates"``, ``"notes"``, ``"fields"``.

    Returns:
        ExportResult with the snapshot name, rows per entity and recorded errors.

    Raises:
        NotFoundError, PermissionDeniedError: the space is unknown to this token
            (nothing is written, not even ``out``).
        SnapshotExistsError: ``snapshot`` names a committed snapshot.
        ExportError: ``out`` cannot be written (nothing is left behind).
        TypeError: arguments of the wrong kind (such as ``out`` and ``client`` swapped).

    >>> result = export_space("SPACE_ID", "exports", client)  # doctest: +SKIP
    >>> read_export("exports")["tasks"]  # doctest: +SKIP
    """
    if not isinstance(space_id, str):
        raise TypeError(f"space_id must be a string, got {type(space_id).__name__}")
    space_id = check_space_id(parse_id(space_id, "space"))  # an id or a space link
    parts = details_mod.requested_parts(details)
    store = open_store(out)
    client = _check_client(client)
    _check_space(space_id, client)

    def spaces() -> pd.DataFrame:
        listed = loaders.load_spaces(client)
        return listed[_is(listed["id"], space_id)].reset_index(drop=True)

    return _export(
        store,
        client,
        spaces,
        only=space_id,
        snapshot=snapshot,
        progress=progress,
        max_workers=max_workers,
        compression=compression,
        lock_timeout=lock_timeout,
        details=parts,
    )


def _check_space(space_id: str, client: TaskadeClient) -> None:
    """Raise the API's typed error for an unknown space before anything is written."""
    listed = loaders.load_spaces(client)
    if not _is(listed["id"], space_id).any():
        loaders.load_projects(space_id, client)  # a typed 404/403 if it does not exist


def export_all(
    out: Location,
    client: TaskadeClient | None = None,
    *,
    snapshot: str | datetime | date | None = None,
    progress: bool = True,
    max_workers: int = 8,
    compression: str = "zstd",
    lock_timeout: float = 600.0,
    details: bool | str | Iterable[str] = False,
) -> ExportResult:
    """Export every space the token can see as one committed snapshot.

    Arguments, result and errors as :func:`export_space`. Spaces are written one
    by one as they load, so memory holds one space at a time. A space that fails
    (malformed answers, an id unusable as a folder name) becomes ``errors`` rows
    with ``resource="space"`` and the others are still committed.

    >>> export_all("exports", client, progress=False).rows["tasks"]  # doctest: +SKIP
    """
    parts = details_mod.requested_parts(details)
    store = open_store(out)
    client = _check_client(client)
    return _export(
        store,
        client,
        lambda: loaders.load_spaces(client),
        only=None,
        snapshot=snapshot,
        progress=progress,
        max_workers=max_workers,
        compression=compression,
        lock_timeout=lock_timeout,
        details=parts,
    )


@dataclass
class _Run:
    """What an export gathers space by space before it commits."""

    datasets: tuple[str, ...] = DATASETS  # what each space writes, details when asked
    details: tuple[str, ...] = ()
    totals: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.totals = self.totals or dict.fromkeys(self.datasets, 0)

    errors: list[pd.DataFrame] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    per_space: dict[str, Any] = field(default_factory=dict)


def _export(
    store: Store,
    client: TaskadeClient,
    list_spaces: Callable[[], pd.DataFrame],
    *,
    only: str | None,
    snapshot: str | datetime | date | None,
    progress: bool,
    max_workers: int,
    compression: str,
    lock_timeout: float,
    details: tuple[str, ...] = (),
) -> ExportResult:
    from . import __version__

    started = time.monotonic()
    explicit = _explicit_time(snapshot)
    host = api_host(client)
    meta = {"version": __version__, "api_host": host, "compression": compression}
    with _Writer(store, explicit, lock_timeout) as writer:
        spaces = list_spaces()
        ids = [only] if only else _distinct(spaces["id"].tolist())
        run = _Run(DATASETS + details_mod.detail_entities(details), details)
        from tqdm.auto import tqdm

        # One bar per call: spaces when there are several (a total known at once),
        # else the one space's own bar from load_space. Neither stays once done.
        per_space = progress and len(ids) < 2
        bar = tqdm(ids, desc="export", unit="space", leave=False, disable=not progress or per_space)
        try:
            for sid in bar:
                _export_one(
                    writer,
                    run,
                    spaces,
                    sid,
                    client,
                    meta,
                    strict=only is not None,
                    progress=per_space,
                    max_workers=max_workers,
                    compression=compression,
                )
        finally:
            bar.close()
        err = _errors_frame(run)
        manifest = {
            "format": MANIFEST_FORMAT,
            "snapshot": writer.name,
            "snapshot_time": writer.when.isoformat(),
            **meta,
            "entities": list(run.datasets),
            "partitioning": ["snapshot", PARTITION],
            "spaces": run.per_space,
            "failed": run.failed,
            "rows": {**run.totals, "errors": len(err)},
            "errors": json.loads(err.to_json(orient="records")),
            "seconds": round(time.monotonic() - started, 3),
        }
        path = writer.commit(manifest)
    return ExportResult(
        out=Path(store.root) if store.local else store.display,
        snapshot=writer.name,
        snapshot_time=pd.Timestamp(writer.when),
        manifest=path,
        spaces=list(run.per_space),
        rows={**run.totals, "errors": len(err)},
        errors=err,
        api_host=host,
        seconds=time.monotonic() - started,
    )


def _export_one(
    writer: _Writer,
    run: _Run,
    spaces: pd.DataFrame,
    sid: Any,
    client: TaskadeClient,
    meta: Mapping[str, str],
    *,
    strict: bool,
    progress: bool,
    max_workers: int,
    compression: str,
) -> None:
    """Load and stage one space; a malformed one becomes errors rows unless ``strict``."""
    try:
        sid = check_space_id(sid)
        if redact(sid) != sid:
            raise ValueError("a space id contains the API token")
        loaded = space_mod.load_space(
            sid, client, max_workers=max_workers, progress=progress, details=run.details
        )
        frames = {
            "spaces": spaces[_is(spaces["id"], sid)],
            **loaded.frames(),
            **loaded.detail_frames(),
        }
        frames["errors"] = _redacted(frames["errors"])
        counts = {e: len(frames[e]) for e in run.datasets}
        tables = {e: writer.table(e, sid, frames[e], counts, meta) for e in run.datasets}
    except ExportError:
        raise
    except SPACE_FAILURES as exc:
        if strict:
            raise
        run.failed.append(_failure(sid, exc))
        return
    for entity, table in tables.items():
        writer.write(entity, sid, table, compression)
        run.totals[entity] += counts[entity]
    run.errors.append(frames["errors"])
    run.per_space[sid] = {"rows": counts}


def scrub(text: object) -> str:
    """``text`` safe to write: registered tokens masked, ``user:password@`` of URLs dropped."""
    return _USERINFO.sub("://", redact(text))


_USERINFO = re.compile(r"://[^/@\s]*@")


def _failure(space_id: Any, exc: BaseException) -> dict[str, Any]:
    text = space_id if isinstance(space_id, str) else repr(space_id)
    return {
        "resource": "space",
        "id": scrub(text),
        "status": getattr(exc, "status", None),
        "error": type(exc).__name__,
        "message": scrub(exc)[:2000],
    }


def _errors_frame(run: _Run) -> pd.DataFrame:
    failed = (
        schemas.frame("errors", {k: [f[k] for f in run.failed] for k in schemas.columns("errors")})
        if run.failed
        else None
    )
    return space_mod.concat_frames(
        "errors", [*run.errors, *([failed] if failed is not None else [])]
    )


def _redacted(errors: pd.DataFrame) -> pd.DataFrame:
    """Errors quote servers, which may echo our token: mask it before it reaches a file."""
    if not len(errors):
        return errors
    out = errors.copy()
    for col in ("id", "message", "error", "resource"):
        if col in out:
            out[col] = out[col].map(lambda v: v if pd.isna(v) else scrub(v)).astype(schemas.STRING)
    return out


def api_host(client: TaskadeClient) -> str:
    """The client's host for provenance, without credentials a base URL may carry."""
    host = client.host
    netloc = urlsplit(host).netloc if "//" in host else host
    return scrub(netloc.rsplit("@", 1)[-1])


def _distinct(ids: list[Any]) -> list[Any]:
    """Listed ids in order without repeats; unhashable ones kept (they fail as a space)."""
    seen: set[Any] = set()
    out = []
    for sid in ids:
        if sid is None or (isinstance(sid, float) and pd.isna(sid)):
            sid = ""  # a listed space without an id: an errors row, not silence
        try:
            if sid in seen:
                continue
            seen.add(sid)
        except TypeError:
            pass
        out.append(sid)
    return out


def _is(column: pd.Series, value: Any) -> pd.Series:
    """``column == value`` as plain booleans (a missing id matches nothing)."""
    if not isinstance(value, str):
        return pd.Series(False, index=column.index)
    return column.eq(value).fillna(False).astype(bool)


def _explicit_time(snapshot: str | datetime | date | None) -> tuple[datetime, str] | None:
    """``(time, name)`` of an explicitly named snapshot, or None to use the clock."""
    if snapshot is None:
        return None
    if isinstance(snapshot, datetime):  # pd.Timestamp included
        if snapshot.tzinfo is None:
            raise ValueError("snapshot time must be timezone-aware (UTC)")
        when = snapshot.astimezone(UTC).replace(microsecond=0)
        return when, when.strftime(NAME_FORMAT)
    if isinstance(snapshot, date):
        when = datetime(snapshot.year, snapshot.month, snapshot.day, tzinfo=UTC)
        return when, when.strftime(NAME_FORMAT)
    if not is_snapshot_name(snapshot):
        raise ValueError(f"snapshot must look like 2026-11-29T120000Z, got {snapshot!r}")
    assert isinstance(snapshot, str)
    return snapshot_time(snapshot), snapshot


def _file_schema(entity: str, metadata: Mapping[str, str]) -> pa.Schema:
    schema = schemas.arrow_schema(entity, metadata)
    i = schema.get_field_index(PARTITION)
    return schema if i < 0 else schema.remove(i)


class _Writer:
    """Writes one snapshot and commits it with its manifest, or leaves nothing visible.

    On a local folder it holds an advisory lock for its whole life, so leftovers
    found on entry can only come from a dead export and are removed; parts are
    staged and renamed into place. On an object store parts go straight under the
    snapshot's own prefix. Either way the manifest, written last, is the commit.
    """

    def __init__(self, store: Store, explicit: tuple[datetime, str] | None, lock_timeout: float):
        self.store = store
        self.explicit = explicit
        self.lock_timeout = lock_timeout
        self.when = datetime.now(UTC)
        self.name = ""
        self.prefix = ""  # where parts go before the commit ("" = in place)
        self.created_root = False
        self.written: list[str] = []
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> _Writer:
        store = self.store
        try:
            with _oserror(f"cannot write to {store.display}"):
                if store.local:
                    if store.is_file(""):
                        raise ExportError(
                            f"cannot write to {store.display}: it is a file, not a folder"
                        )
                    self.created_root = not store.exists("")
                    store.makedirs("")
                self._stack.enter_context(store.locked(self.lock_timeout))
                if store.local:
                    remove_leftovers(store)
                # The data is read from now on: the name says so (issue: overlapping
                # exports used to keep the time they started waiting).
                self.when = datetime.now(UTC)
                self.name = self._pick_name()
                if store.local:
                    self.prefix = f"{STAGING}/{self.name}-{secrets.token_hex(4)}/"
                    store.makedirs(self.prefix)
        except BaseException:
            self._stack.close()
            self._remove_root()
            raise
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        try:
            if exc_type is not None:
                self._abort()
        finally:
            self._stack.close()

    def _pick_name(self) -> str:
        taken = set(self.store.committed_names())
        if self.explicit is not None:
            self.when, name = self.explicit
            if name in taken:
                raise SnapshotExistsError(
                    f"snapshot {name} already exists in {self.store.display}; snapshots are "
                    "never overwritten (pick another name, or leave it out to use the time)"
                )
            return name
        if not self.store.local:  # no lock: also avoid prefixes a running export writes
            taken |= {
                i.base_name.removeprefix("snapshot=") for i in self.store.listdir(DATASETS[0])
            }
        base = self.when.strftime(NAME_FORMAT)
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}-{n}"
        return name

    def table(
        self,
        entity: str,
        space_id: str,
        df: pd.DataFrame,
        counts: Mapping[str, int],
        meta: Mapping[str, str],
    ) -> pa.Table:
        """The Arrow table of one part (data errors surface here, before any write)."""
        import pyarrow as pa

        metadata = {
            f"{META_PREFIX}{k}": str(v)
            for k, v in {
                **meta,
                "entity": entity,
                "snapshot": self.name,
                "snapshot_time": self.when.isoformat(),
                "space_id": space_id,
                "rows": counts[entity],
                "row_counts": json.dumps(dict(counts), sort_keys=True),
            }.items()
        }
        schema = _file_schema(entity, metadata)
        frame = schemas.coerce(df, entity).reset_index(drop=True)
        frame = frame[[f.name for f in schema]]
        table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
        return table.replace_schema_metadata(metadata)  # no pandas blob: schemas.py rules

    def write(self, entity: str, space_id: str, table: pa.Table, compression: str) -> None:
        import pyarrow.parquet as pq

        rel = self.prefix + part(entity, self.name, space_id)
        store = self.store
        with _oserror(f"cannot write the {entity} of space {space_id} to {store.display}"):
            store.makedirs(rel.rpartition("/")[0])
            with store.fs.open_output_stream(store.path(rel)) as f:
                pq.write_table(table, f, compression=compression)
            store.sync(rel)  # the manifest must never outlive its data
        self.written.append(rel)

    def commit(self, manifest: Mapping[str, Any]) -> Path | str:
        """Put the parts in place (local: rename), then write the manifest: the commit."""
        store = self.store
        final = f"{MANIFESTS}/{self.name}.json"
        data = json.dumps(manifest, indent=1, sort_keys=True).encode()
        with _oserror(f"cannot commit snapshot {self.name} in {store.display}"):
            if store.local:
                self._move_into_place()
                tmp = f"{self.prefix}manifest.json"
                store.write_bytes(tmp, data)
                store.makedirs(MANIFESTS)
                store.move(tmp, final)  # the commit point
            else:
                store.write_bytes(final, data)  # one PUT: there or not
        if store.local:
            store.delete_dir(self.prefix)
            _remove_empty(store, STAGING)
        return Path(store.path(final)) if store.local else f"{store.display.rstrip('/')}/{final}"

    def _move_into_place(self) -> None:
        for entity in ALL_DATASETS:
            src = f"{self.prefix}{entity}/snapshot={self.name}"
            if not self.store.exists(src):
                continue
            self.store.makedirs(entity)
            self.store.move(src, f"{entity}/snapshot={self.name}")

    def _abort(self) -> None:
        """Undo an unfinished export; a snapshot whose manifest is in place stays."""
        store = self.store
        if not self.name:
            return
        with contextlib.suppress(OSError):
            if store.exists(f"{MANIFESTS}/{self.name}.json"):
                # Interrupted after the commit point (Ctrl-C during cleanup): it is whole.
                if store.local:
                    store.delete_dir(self.prefix)
                    _remove_empty(store, STAGING)
                return
            if store.local:
                for entity in ALL_DATASETS:
                    store.delete_dir(f"{entity}/snapshot={self.name}")
                    _remove_empty(store, entity)
                store.delete_dir(self.prefix)
                _remove_empty(store, STAGING)
            else:
                for entity in ALL_DATASETS:
                    store.delete_dir(f"{entity}/snapshot={self.name}")
        self._remove_root()

    def _remove_root(self) -> None:
        """A failed first export leaves no empty folder behind."""
        if self.created_root and self.store.local:
            _remove_empty(self.store, "")


def remove_leftovers(store: Store, older_than: float | None = None) -> list[str]:
    """Remove what killed exports left: staging and snapshot folders without a manifest.

    Only safe when no export is writing: locally under the lock; on object stores
    pass ``older_than`` (seconds) so a running export's fresh parts are spared.
    Returns the removed paths (relative to the root).
    """
    removed = []
    if store.local and store.exists(STAGING):
        store.delete_dir(STAGING)
        removed.append(STAGING)
    committed = set(store.committed_names())
    now = time.time()
    for entity in ALL_DATASETS:
        for info in store.listdir(entity):
            name = info.base_name.removeprefix("snapshot=")
            if (
                not info.base_name.startswith("snapshot=")
                or not is_snapshot_name(name)
                or name in committed
            ):
                continue
            if older_than is not None and now - _newest_mtime(store, info.path) < older_than:
                continue
            store.delete_dir(store.relative(info.path))
            removed.append(store.relative(info.path))
    return removed


def _newest_mtime(store: Store, path: str) -> float:
    infos = store.fs.get_file_info(_selector(path))
    times = [i.mtime.timestamp() for i in infos if i.mtime is not None]
    return max(times, default=time.time())


def _selector(path: str) -> Any:
    import pyarrow.fs as pafs

    return pafs.FileSelector(path, recursive=True, allow_not_found=True)


def _remove_empty(store: Store, rel: str) -> None:
    if store.local:
        with contextlib.suppress(OSError):
            os.rmdir(store.path(rel) if rel else store.root)


@contextlib.contextmanager
def _oserror(what: str) -> Iterator[None]:
    """Turn an OSError (permissions, full disk, a file where a folder should be) into ours."""
    try:
        yield
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ExportError(f"{what}: {redact(reason)}") from exc
