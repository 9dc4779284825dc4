"""Parquet snapshots of Taskade spaces, read-back, snapshot diffs and completion history.

Export turns the frames of :mod:`taskade_frames.space` into one hive-partitioned
parquet dataset per entity, ``out/<entity>/snapshot=<name>/space_id=<id>/part-0.parquet``,
with Arrow schemas from :mod:`taskade_frames.schemas`. The v2 API gives tasks no
timestamps, so change over time is only visible by comparing snapshots; a snapshot
therefore has to be all or nothing. Everything is written under ``out/.staging/``
(invisible to ``out/<entity>/**`` globs), moved into place, and committed by writing
``out/_snapshots/<name>.json`` last. Readers here only trust committed snapshots;
the next export removes whatever a killed one left behind.

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
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pandas as pd

from . import loaders, schemas
from . import space as space_mod
from .client import TaskadeClient
from .errors import TaskadeError

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

__all__ = [
    "ENTITIES",
    "ExportError",
    "ExportResult",
    "SnapshotExistsError",
    "SnapshotNotFoundError",
    "completion_history",
    "diff_snapshots",
    "export_all",
    "export_space",
    "list_snapshots",
    "read_export",
]

# Every dataset of an export, in the order they are written and read.
ENTITIES: tuple[str, ...] = ("spaces", *space_mod.ENTITIES)

PARTITION = "space_id"
STAGING = ".staging"
MANIFESTS = "_snapshots"
PART = "part-0.parquet"
META_PREFIX = "taskade_frames."
MANIFEST_FORMAT = 1

_NAME_FORMAT = "%Y-%m-%dT%H%M%SZ"
_NAME = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{6}Z)(?:-(\d+))?$")

CHANGES = ("added", "removed", "completed", "reopened", "text_changed", "moved")
DIFF_COLUMNS = (
    "project_id", "task_id", "change", "text_before", "text_after",
    "parent_before", "parent_after", "completed_before", "completed_after",
)
HISTORY_COLUMNS = (
    "snapshot", "space_id", "project_id", "project_name", "tasks", "completed",
    "share_completed",
)


class ExportError(TaskadeError):
    """An export could not be written or read (unwritable folder, full disk, bad snapshot)."""


class SnapshotExistsError(ExportError):
    """A committed snapshot of that name exists already; snapshots are never overwritten."""


class SnapshotNotFoundError(ExportError, LookupError):
    """No committed snapshot matches the name (or the folder holds none)."""


@dataclass
class ExportResult:
    """What one export committed.

    ``rows`` counts rows per entity over all exported spaces; ``errors`` is the
    errors frame (resources that failed to load and were recorded, not raised).
    """

    out: Path
    snapshot: str
    snapshot_time: pd.Timestamp
    manifest: Path
    spaces: list[str]
    rows: dict[str, int]
    errors: pd.DataFrame = field(repr=False)
    api_host: str = ""
    seconds: float = 0.0

    def summary(self) -> pd.DataFrame:
        """Rows per entity: ``entity``, ``rows``."""
        return pd.DataFrame({"entity": list(self.rows), "rows": list(self.rows.values())})

    def path(self, entity: str = "tasks") -> Path:
        """The folder holding this snapshot of one entity."""
        return self.out / entity / f"snapshot={self.snapshot}"


# -- export --------------------------------------------------------------------


def export_space(
    space_id: str,
    out: str | os.PathLike[str],
    client: TaskadeClient | None = None,
    *,
    snapshot: str | datetime | None = None,
    progress: bool = True,
    max_workers: int = 8,
    compression: str = "zstd",
    lock_timeout: float = 600.0,
) -> ExportResult:
    """Export every frame of one space as a new committed snapshot under ``out``.

    Args:
        space_id: the space to export.
        out: local folder holding the datasets (created if missing).
        client: default: a client from the environment.
        snapshot: snapshot name (``2026-11-29T120000Z``) or time; default now (UTC).
        progress: show progress bars.
        max_workers: threads fetching at once (see :func:`~taskade_frames.load_space`).
        compression: parquet codec.
        lock_timeout: seconds to wait for another export writing to ``out``.

    Returns:
        ExportResult with the snapshot name, rows per entity and recorded errors.

    Raises:
        NotFoundError, PermissionDeniedError: the space is unknown to this token.
        SnapshotExistsError: ``snapshot`` names a committed snapshot.
        ExportError: ``out`` cannot be written (nothing is left behind).

    >>> result = export_space("SPACE_ID", "exports", client)  # doctest: +SKIP
    >>> read_export("exports")["tasks"]  # doctest: +SKIP
    """
    space_id = loaders._require("space_id", space_id)
    client = client or loaders.default_client()

    def spaces() -> pd.DataFrame:
        listed = loaders.load_spaces(client)
        row = listed[_is(listed["id"], space_id)].reset_index(drop=True)
        if len(row) == 0:
            # Not listed: let the API say whether it exists (a typed 404/403 if not).
            loaders.load_projects(space_id, client)
        return row

    return _export(out, client, spaces, only=space_id, snapshot=snapshot, progress=progress,
                   max_workers=max_workers, compression=compression, lock_timeout=lock_timeout)


def export_all(
    out: str | os.PathLike[str],
    client: TaskadeClient | None = None,
    *,
    snapshot: str | datetime | None = None,
    progress: bool = True,
    max_workers: int = 8,
    compression: str = "zstd",
    lock_timeout: float = 600.0,
) -> ExportResult:
    """Export every space the token can see as one committed snapshot.

    Arguments, result and errors as :func:`export_space`. Spaces are written one
    by one as they load, so memory holds one space at a time.

    >>> export_all("exports", client, progress=False).rows["tasks"]  # doctest: +SKIP
    """
    client = client or loaders.default_client()
    return _export(out, client, lambda: loaders.load_spaces(client), only=None,
                   snapshot=snapshot, progress=progress, max_workers=max_workers,
                   compression=compression, lock_timeout=lock_timeout)


def _export(
    out: str | os.PathLike[str],
    client: TaskadeClient,
    list_spaces: Callable[[], pd.DataFrame],
    *,
    only: str | None,
    snapshot: str | datetime | None,
    progress: bool,
    max_workers: int,
    compression: str,
    lock_timeout: float,
) -> ExportResult:
    from . import __version__

    started = time.monotonic()
    when, name = _snapshot_name(snapshot)
    # Provenance only: a base URL with credentials in it must not carry them into files.
    host = client.host.rsplit("@", 1)[-1]
    meta = {"version": __version__, "api_host": host, "compression": compression}
    with _Writer(Path(out), when, name, lock_timeout) as writer:
        spaces = list_spaces()
        ids = [only] if only else spaces["id"].dropna().drop_duplicates().tolist()
        totals = dict.fromkeys(ENTITIES, 0)
        errors: list[pd.DataFrame] = []
        per_space: dict[str, Any] = {}
        from tqdm.auto import tqdm

        bar = tqdm(ids, desc="export", unit="space", disable=not progress or len(ids) < 2)
        try:
            for sid in bar:
                loaded = space_mod.load_space(sid, client, max_workers=max_workers,
                                              progress=progress)
                frames = {"spaces": spaces[_is(spaces["id"], sid)], **loaded.frames()}
                counts = {e: len(frames[e]) for e in ENTITIES}
                for entity in ENTITIES:
                    writer.write(entity, sid, frames[entity], counts, meta, compression)
                    totals[entity] += counts[entity]
                errors.append(loaded.errors)
                per_space[sid] = {"rows": counts}
        finally:
            bar.close()
        err = _concat("errors", errors)
        manifest = {
            "format": MANIFEST_FORMAT,
            "snapshot": writer.name,
            "snapshot_time": when.isoformat(),
            **meta,
            "entities": list(ENTITIES),
            "partitioning": ["snapshot", PARTITION],
            "spaces": per_space,
            "rows": totals,
            "errors": json.loads(err.to_json(orient="records")),
            "seconds": round(time.monotonic() - started, 3),
        }
        path = writer.commit(manifest)
    return ExportResult(
        out=Path(out), snapshot=writer.name, snapshot_time=pd.Timestamp(when), manifest=path,
        spaces=ids, rows=totals, errors=err, api_host=host,
        seconds=time.monotonic() - started,
    )


def _is(column: pd.Series, value: str) -> pd.Series:
    """``column == value`` as plain booleans (a missing id matches nothing)."""
    return column.eq(value).fillna(False).astype(bool)


def _snapshot_name(snapshot: str | datetime | None) -> tuple[datetime, str | None]:
    """``(time, explicit name or None)``; an automatic name may get a ``-2`` suffix later."""
    if snapshot is None:
        return datetime.now(timezone.utc).replace(microsecond=0), None
    if isinstance(snapshot, datetime):
        if snapshot.tzinfo is None:
            raise ValueError("snapshot time must be timezone-aware (UTC)")
        when = snapshot.astimezone(timezone.utc).replace(microsecond=0)
        return when, when.strftime(_NAME_FORMAT)
    if not isinstance(snapshot, str) or not _NAME.match(snapshot):
        raise ValueError(f"snapshot must look like 2026-11-29T120000Z, got {snapshot!r}")
    return _time_of(snapshot), snapshot


def _time_of(name: str) -> datetime:
    match = _NAME.match(name)
    if match is None:
        raise ValueError(f"not a snapshot name: {name!r}")
    return datetime.strptime(match.group(1), _NAME_FORMAT).replace(tzinfo=timezone.utc)


def _order(name: str) -> tuple[datetime, int]:
    match = _NAME.match(name)
    assert match is not None
    return _time_of(name), int(match.group(2) or 1)


def _space_dir(space_id: str) -> str:
    # Percent-encoding is what pyarrow's hive partitioning decodes; plain ids pass as is.
    return f"{PARTITION}={quote(space_id, safe='')}"


def _part(root: Path, entity: str, name: str, space_id: str) -> Path:
    return root / entity / f"snapshot={name}" / _space_dir(space_id) / PART


def _file_schema(entity: str, metadata: Mapping[str, str]) -> pa.Schema:
    schema = schemas.arrow_schema(entity, metadata)
    i = schema.get_field_index(PARTITION)
    return schema if i < 0 else schema.remove(i)


class _Writer:
    """Stages one snapshot under ``out/.staging`` and commits it, or leaves nothing.

    Holds an advisory lock on ``out`` for its whole life, so leftovers found
    on entry can only come from a dead export and are safe to remove.
    """

    def __init__(self, root: Path, when: datetime, name: str | None, lock_timeout: float):
        self.root = root
        self.when = when
        self.explicit = name
        self.name = name or when.strftime(_NAME_FORMAT)
        self.lock_timeout = lock_timeout
        self.staging: Path | None = None
        self.moved: list[Path] = []
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> _Writer:
        try:
            if self.root.exists() and not self.root.is_dir():
                raise ExportError(f"cannot write to {self.root}: it is a file, not a folder")
            with _oserror(f"cannot write to {self.root}"):
                self.root.mkdir(parents=True, exist_ok=True)
                self._stack.enter_context(_locked(self.root, self.lock_timeout))
                _clean(self.root)
                self.name = self._pick_name()
                self.staging = self.root / STAGING / f"{self.name}-{secrets.token_hex(4)}"
                self.staging.mkdir(parents=True)
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        try:
            if exc_type is not None:
                self._abort()
        finally:
            self._stack.close()

    def _pick_name(self) -> str:
        committed = set(_committed_names(self.root))
        if self.explicit is not None:
            if self.explicit in committed:
                raise SnapshotExistsError(
                    f"snapshot {self.explicit} already exists in {self.root}; snapshots are "
                    "never overwritten (pick another name, or leave it out to use the time)"
                )
            return self.explicit
        base, n = self.name, 1
        name = base
        while name in committed:
            n += 1
            name = f"{base}-{n}"
        return name

    def write(self, entity: str, space_id: str, df: pd.DataFrame, counts: Mapping[str, int],
              meta: Mapping[str, str], compression: str) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        assert self.staging is not None
        metadata = {
            f"{META_PREFIX}{k}": str(v) for k, v in {
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
        table = table.replace_schema_metadata(metadata)  # no pandas blob: schemas.py rules
        path = _part(self.staging, entity, self.name, space_id)
        with _oserror(f"cannot write the {entity} of space {space_id} under {self.root}"):
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as f:
                pq.write_table(table, f, compression=compression)
                f.flush()
                os.fsync(f.fileno())  # the manifest must never outlive its data

    def commit(self, manifest: Mapping[str, Any]) -> Path:
        """Move each entity's snapshot folder into place, then write the manifest."""
        assert self.staging is not None
        with _oserror(f"cannot commit snapshot {self.name} in {self.root}"):
            for entity in ENTITIES:
                src = self.staging / entity / f"snapshot={self.name}"
                if not src.exists():
                    continue
                dst = self.root / entity / src.name
                dst.parent.mkdir(exist_ok=True)
                os.replace(src, dst)
                self.moved.append(dst)
                _fsync_dir(dst.parent)
            (self.root / MANIFESTS).mkdir(exist_ok=True)
            tmp = self.staging / "manifest.json"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(manifest, f, indent=1, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            final = self.root / MANIFESTS / f"{self.name}.json"
            os.replace(tmp, final)  # the commit point
            _fsync_dir(final.parent)
        self.moved = []
        shutil.rmtree(self.staging, ignore_errors=True)
        _remove_empty(self.root / STAGING)
        return final

    def _abort(self) -> None:
        for path in self.moved:
            shutil.rmtree(path, ignore_errors=True)
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
        _remove_empty(self.root / STAGING)


@contextlib.contextmanager
def _oserror(what: str) -> Iterator[None]:
    """Turn an OSError (permissions, full disk, a file where a folder should be) into ours."""
    try:
        yield
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ExportError(f"{what}: {reason}") from exc


@contextlib.contextmanager
def _locked(root: Path, timeout: float) -> Iterator[None]:
    """Hold an advisory lock on ``root``; the kernel drops it if the process dies."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - no flock on Windows: exports must not overlap
        yield
        return
    fd = os.open(root, os.O_RDONLY)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise ExportError(f"another export is writing to {root} "
                                      f"(waited {timeout:g} s)") from None
                time.sleep(0.1)
        yield
    finally:
        os.close(fd)


def _clean(root: Path) -> None:
    """Remove what a killed export left: staging folders and uncommitted snapshot folders."""
    shutil.rmtree(root / STAGING, ignore_errors=True)
    committed = set(_committed_names(root))
    for entity in ENTITIES:
        folder = root / entity
        if not folder.is_dir():
            continue
        for child in folder.iterdir():
            name = child.name.removeprefix("snapshot=")
            if child.name.startswith("snapshot=") and _NAME.match(name) \
                    and name not in committed:
                shutil.rmtree(child, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can sync a directory
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _remove_empty(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.rmdir()


# -- snapshots -----------------------------------------------------------------


def _committed_names(root: Path) -> list[str]:
    folder = root / MANIFESTS
    if not folder.is_dir():
        return []
    names = [p.stem for p in folder.glob("*.json") if _NAME.match(p.stem)]
    return sorted(names, key=_order)


def _manifest(root: Path, name: str) -> dict[str, Any]:
    path = root / MANIFESTS / f"{name}.json"
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise SnapshotNotFoundError(f"no committed snapshot {name!r} in {root}") from None
    except (OSError, ValueError) as exc:
        raise ExportError(f"cannot read the manifest of snapshot {name} in {root}: "
                          f"{exc}") from exc


def _manifests(root: Path, space_id: str | None = None) -> list[dict[str, Any]]:
    found = [_manifest(root, n) for n in _committed_names(root)]
    if space_id is not None:
        found = [m for m in found if space_id in m["spaces"]]
    return found


def _resolve(root: Path, snapshot: str, space_id: str | None = None) -> dict[str, Any]:
    """A manifest by name, or ``"latest"`` / ``"previous"`` among committed snapshots."""
    if snapshot in ("latest", "previous"):
        found = _manifests(root, space_id)
        need = 1 if snapshot == "latest" else 2
        if len(found) < need:
            of = f" containing space {space_id}" if space_id else ""
            raise SnapshotNotFoundError(
                f"{snapshot!r} needs {need} committed snapshot(s){of} in {root}, "
                f"found {len(found)}"
            )
        return found[-need]
    if not isinstance(snapshot, str) or not _NAME.match(snapshot):
        raise ValueError(f"snapshot must be a name like 2026-11-29T120000Z, 'latest' or "
                         f"'previous', got {snapshot!r}")
    manifest = _manifest(root, snapshot)
    if space_id is not None and space_id not in manifest["spaces"]:
        raise SnapshotNotFoundError(f"snapshot {snapshot} has no space {space_id}")
    return manifest


def list_snapshots(out: str | os.PathLike[str]) -> pd.DataFrame:
    """Committed snapshots under ``out``, oldest first.

    Returns:
        ``snapshot`` (name), ``snapshot_time`` (UTC), ``spaces`` (count),
        ``tasks`` and ``errors`` (rows), ``api_host``, ``version``.

    >>> list_snapshots("exports").snapshot.iloc[-1]  # doctest: +SKIP
    '2026-11-29T120000Z'
    """
    found = _manifests(Path(out))
    return pd.DataFrame({
        "snapshot": pd.array([m["snapshot"] for m in found], dtype=schemas.STRING),
        "snapshot_time": pd.to_datetime([m["snapshot_time"] for m in found], utc=True)
        .as_unit("us"),
        "spaces": pd.array([len(m["spaces"]) for m in found], dtype="Int64"),
        "tasks": pd.array([m["rows"].get("tasks", 0) for m in found], dtype="Int64"),
        "errors": pd.array([m["rows"].get("errors", 0) for m in found], dtype="Int64"),
        "api_host": pd.array([m.get("api_host") for m in found], dtype=schemas.STRING),
        "version": pd.array([m.get("version") for m in found], dtype=schemas.STRING),
    })


# -- read-back -----------------------------------------------------------------


def _pandas_type(arrow_type: pa.DataType) -> Any:
    import pyarrow as pa

    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return schemas.STRING
    return {pa.bool_(): pd.BooleanDtype(), pa.int64(): pd.Int64Dtype(),
            pa.float64(): pd.Float64Dtype()}.get(arrow_type)


def _read_part(root: Path, entity: str, name: str, space_id: str,
               columns: Sequence[str] | None = None) -> pd.DataFrame:
    """One space's file of one entity, typed; ``space_id`` restored from the path."""
    import pyarrow.parquet as pq

    wanted = list(columns) if columns is not None else schemas.columns(entity)
    path = _part(root, entity, name, space_id)
    try:
        parquet = pq.ParquetFile(path)
        in_file = [c for c in wanted if c in parquet.schema_arrow.names]
        df = parquet.read(columns=in_file).to_pandas(types_mapper=_pandas_type)
    except FileNotFoundError:
        raise ExportError(f"snapshot {name} is damaged: {entity} of space {space_id} is "
                          "missing") from None
    except OSError as exc:
        raise ExportError(f"cannot read {entity} of snapshot {name}: {exc}") from exc
    if PARTITION in wanted and PARTITION not in in_file:
        df[PARTITION] = pd.array([space_id] * len(df), dtype=schemas.STRING)
    dtypes = schemas.dtypes(entity)
    return df.astype({c: dtypes[c] for c in wanted if c in df.columns})[wanted]


def _concat(entity: str, frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return schemas.empty_frame(entity)
    out = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return schemas.coerce(out.reset_index(drop=True), entity)


def read_export(
    out: str | os.PathLike[str],
    snapshot: str = "latest",
    space_id: str | None = None,
) -> dict[str, pd.DataFrame]:
    """The frames of one committed snapshot, with the loaders' columns and dtypes.

    Args:
        out: the export folder.
        snapshot: a snapshot name, ``"latest"`` or ``"previous"``.
        space_id: one space only (``"latest"`` then means the latest holding it);
            default every space of the snapshot, concatenated.

    Returns:
        ``{entity: DataFrame}`` for every entity in :data:`ENTITIES`; each frame's
        ``attrs`` name the snapshot.

    Raises:
        SnapshotNotFoundError: no such committed snapshot (uncommitted ones are ignored).

    >>> read_export("exports")["tasks"].completed.mean()  # doctest: +SKIP
    """
    root = Path(out)
    manifest = _resolve(root, snapshot, space_id)
    name = manifest["snapshot"]
    ids = [space_id] if space_id is not None else list(manifest["spaces"])
    frames = {}
    for entity in ENTITIES:
        df = _concat(entity, [_read_part(root, entity, name, sid) for sid in ids])
        df.attrs = {"snapshot": name, "snapshot_time": manifest["snapshot_time"],
                    "api_host": manifest.get("api_host", "")}
        frames[entity] = df
    return frames


# -- snapshot analysis -----------------------------------------------------------


def _unreliable(errors: pd.DataFrame) -> tuple[set[str], set[str]]:
    """``(spaces, projects)`` whose task listing failed: absent tasks mean nothing there."""
    def ids(resource: str) -> set[str]:
        return set(errors.loc[_is(errors["resource"], resource), "id"].dropna())

    return ids("space:projects"), ids("project:tasks")


def _tasks_of(root: Path, manifest: Mapping[str, Any], space_id: str | None) -> pd.DataFrame:
    ids = [space_id] if space_id is not None else list(manifest["spaces"])
    cols = ["project_id", "id", "text", "parent_id", "completed", "position"]
    parts = []
    for sid in ids:
        df = _read_part(root, "tasks", manifest["snapshot"], sid, cols)
        df.insert(0, PARTITION, pd.array([sid] * len(df), dtype=schemas.STRING))
        parts.append(df)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        {PARTITION: pd.array([], dtype=schemas.STRING)} | {
            c: pd.Series([], dtype=schemas.dtypes("tasks")[c]) for c in cols})


def _errors_of(root: Path, manifest: Mapping[str, Any]) -> pd.DataFrame:
    return _concat("errors", [_read_part(root, "errors", manifest["snapshot"], sid)
                              for sid in manifest["spaces"]])


def _differs(a: pd.Series, b: pd.Series) -> pd.Series:
    """Element-wise "not equal", with NA equal to NA and unequal to any value."""
    ne = (a != b).fillna(False).astype(bool)
    return ne | (a.isna().to_numpy() != b.isna().to_numpy())


def diff_snapshots(
    out: str | os.PathLike[str],
    before: str = "previous",
    after: str = "latest",
    space_id: str | None = None,
) -> pd.DataFrame:
    """Per-task changes between two committed snapshots.

    A task with several changes has one row per change. Projects whose task
    listing failed in either snapshot (see the ``errors`` dataset) are left out
    rather than reported as all removed or added.

    Args:
        out: the export folder.
        before, after: snapshot names, ``"latest"`` or ``"previous"``.
        space_id: compare one space only.

    Returns:
        ``project_id, task_id, change, text_before, text_after, parent_before,
        parent_after, completed_before, completed_after``; ``change`` is one of
        ``added, removed, completed, reopened, text_changed, moved`` (parent
        changed). Rows follow the outline of ``after`` (then ``before``).

    >>> diff_snapshots("exports").change.value_counts()  # doctest: +SKIP
    """
    root = Path(out)
    m0, m1 = _resolve(root, before, space_id), _resolve(root, after, space_id)
    t0, t1 = _tasks_of(root, m0, space_id), _tasks_of(root, m1, space_id)
    bad_spaces, bad_projects = (a | b for a, b in zip(_unreliable(_errors_of(root, m0)),
                                                       _unreliable(_errors_of(root, m1)),
                                                       strict=True))
    keep0 = ~(t0[PARTITION].isin(bad_spaces) | t0["project_id"].isin(bad_projects))
    keep1 = ~(t1[PARTITION].isin(bad_spaces) | t1["project_id"].isin(bad_projects))
    both = t0[keep0].drop(columns=PARTITION).merge(
        t1[keep1].drop(columns=PARTITION), on=["project_id", "id"], how="outer",
        suffixes=("_before", "_after"), indicator=True,
    )
    was = both["completed_before"].fillna(False).astype(bool)
    now = both["completed_after"].fillna(False).astype(bool)
    common = (both["_merge"] == "both").to_numpy()
    masks = {
        "added": (both["_merge"] == "right_only").to_numpy(),
        "removed": (both["_merge"] == "left_only").to_numpy(),
        "completed": common & ~was.to_numpy() & now.to_numpy(),
        "reopened": common & was.to_numpy() & ~now.to_numpy(),
        "text_changed": common & _differs(both["text_before"], both["text_after"]).to_numpy(),
        "moved": common & _differs(both["parent_id_before"],
                                   both["parent_id_after"]).to_numpy(),
    }
    parts = []
    for rank, change in enumerate(CHANGES):
        rows = both[masks[change]].copy()
        rows["change"] = change
        rows["_rank"] = rank
        parts.append(rows)
    diff = pd.concat(parts, ignore_index=True)
    diff["_pos"] = diff["position_after"].fillna(diff["position_before"])
    diff = diff.sort_values(["project_id", "_pos", "id", "_rank"], ignore_index=True)
    diff = diff.rename(columns={"id": "task_id", "parent_id_before": "parent_before",
                                "parent_id_after": "parent_after"})
    string, boolean = schemas.STRING, pd.BooleanDtype()
    types = {"project_id": string, "task_id": string, "change": string,
             "text_before": string, "text_after": string, "parent_before": string,
             "parent_after": string, "completed_before": boolean, "completed_after": boolean}
    return diff[list(DIFF_COLUMNS)].astype(types)


def completion_history(
    out: str | os.PathLike[str],
    space_id: str | None = None,
) -> pd.DataFrame:
    """Tasks and completion per project in every committed snapshot, oldest first.

    A project whose task listing failed in a snapshot gets NA counts there,
    not zero.

    Returns:
        ``snapshot`` (UTC timestamp), ``space_id``, ``project_id``, ``project_name``,
        ``tasks``, ``completed`` (Int64), ``share_completed`` (Float64, NA with no tasks).

    >>> completion_history("exports").pivot(index="snapshot", columns="project_name",
    ...                                     values="share_completed")  # doctest: +SKIP
    """
    root = Path(out)
    parts = []
    for manifest in _manifests(root, space_id):
        name = manifest["snapshot"]
        when = pd.Timestamp(manifest["snapshot_time"]).tz_convert("UTC").as_unit("us")
        ids = [space_id] if space_id is not None else list(manifest["spaces"])
        for sid in ids:
            tasks = _read_part(root, "tasks", name, sid, ["project_id", "completed"])
            projects = _read_part(root, "projects", name, sid, ["id", "name"])
            _, failed = _unreliable(_read_part(root, "errors", name, sid))
            done = space_mod.completion_by_project(tasks, projects)
            broken = done["project_id"].isin(failed)
            for col in ("tasks", "completed", "share_completed"):
                done[col] = done[col].mask(broken)
            done.insert(0, "snapshot", when)
            done.insert(1, "space_id", sid)
            done = done.rename(columns={"name": "project_name"})
            parts.append(done.sort_values(["project_name", "project_id"], kind="stable"))
    types = {"snapshot": pd.DatetimeTZDtype("us", "UTC"), "space_id": schemas.STRING,
             "project_id": schemas.STRING, "project_name": schemas.STRING,
             "tasks": pd.Int64Dtype(), "completed": pd.Int64Dtype(),
             "share_completed": pd.Float64Dtype()}
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame({c: pd.Series([], dtype=t) for c, t in types.items()})
    # Parts come in snapshot order already (same-second snapshots included).
    return pd.concat(parts, ignore_index=True)[list(HISTORY_COLUMNS)].astype(types)
