"""Reading snapshots back: listing, frames, diffs between snapshots, history, retention.

The writer is :mod:`taskade_frames.export`; the layout and the commit protocol are in
:mod:`taskade_frames.storage`. Readers trust manifests only: a snapshot exists
once ``_snapshots/<name>.json`` does. A committed snapshot whose manifest or data
is damaged (whatever the cause) is listed as such, warned about and skipped, so
one bad snapshot never makes the others unreadable.

Every function takes a local path or a URI (``s3://bucket/prefix`` ...), and every
snapshot argument takes what the library itself returns: a name, ``"latest"``,
``"previous"``, a timestamp from ``list_snapshots().snapshot_time`` or
``completion_history()["snapshot"]``, or a date (the last snapshot of that day).
"""

from __future__ import annotations

import re
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd

from . import details as details_mod
from . import schemas
from . import space as space_mod
from .completion import PROJECT_COLUMNS, completion_by_project
from .entities import space_frames
from .errors import redact
from .export import ALL_DATASETS, DATASETS, DETAIL_DATASETS, export_space, remove_leftovers
from .space import SpaceFrames, concat_frames
from .storage import (
    MANIFESTS,
    PARTITION,
    ExportError,
    Location,
    SnapshotNotFoundError,
    Store,
    open_store,
    part,
    snapshot_time,
)

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

__all__ = [
    "CHANGES",
    "DIFF_COLUMNS",
    "HISTORY_COLUMNS",
    "DamagedSnapshotWarning",
    "completion_by_project",
    "completion_history",
    "diff_snapshots",
    "list_snapshots",
    "load_space",
    "prune_snapshots",
    "read_export",
]

CHANGES = (
    "added",
    "removed",
    "completed",
    "reopened",
    "text_changed",
    "moved",
    *details_mod.DETAIL_CHANGES,
)
# Columns (and dtypes) of the diff and history frames: rows of the entity table.
DIFF_COLUMNS = tuple(schemas.columns("task_changes"))
HISTORY_COLUMNS = tuple(schemas.columns("completion_history"))

Snapshot = str | datetime | date


class DamagedSnapshotWarning(UserWarning):
    """A committed snapshot cannot be read and was skipped."""


@dataclass
class _Entry:
    """One committed snapshot: its manifest, or why it is damaged."""

    name: str
    manifest: dict[str, Any] | None
    damage: str | None

    @property
    def time(self) -> pd.Timestamp:
        raw = self.manifest["snapshot_time"] if self.manifest else snapshot_time(self.name)
        return pd.Timestamp(raw).tz_convert("UTC").as_unit("us")


def _catalog(store: Store, check: bool = True) -> list[_Entry]:
    """Every committed snapshot, oldest first; SnapshotNotFoundError if there is no export."""
    names = store.committed_names()
    if not names:
        raise SnapshotNotFoundError(
            f"{store.display} holds no export (no committed snapshot under {MANIFESTS}/); "
            "check the path, or write one with export_space / export_all"
        )
    manifests: dict[str, dict[str, Any] | str] = {}
    for name in names:
        try:
            manifests[name] = store.manifest(name)
        except ExportError as exc:
            manifests[name] = str(exc)
    present = _present_parts(store, manifests.values()) if check else None
    entries = []
    for name, found in manifests.items():
        if isinstance(found, str):
            entries.append(_Entry(name, None, found))
        else:
            damage = _missing_parts(store, found, present) if present is not None else None
            entries.append(_Entry(name, found, damage))
    return entries


def _present_parts(store: Store, manifests: Any) -> set[str]:
    """Every file under the entity folders: one listing per entity, not per snapshot."""
    entities = {e for m in manifests if isinstance(m, dict) for e in m["entities"]}
    return {
        store.relative(info.path)
        for entity in sorted(entities)
        for info in store.listdir(entity, recursive=True)
    }


def _missing_parts(store: Store, manifest: Mapping[str, Any], present: set[str]) -> str | None:
    name = manifest["snapshot"]
    missing = [
        part(e, name, sid)
        for e in manifest["entities"]
        for sid in manifest["spaces"]
        if part(e, name, sid) not in present
    ]
    if not missing:
        return None
    return (
        f"snapshot {name} in {store.display} is damaged: {len(missing)} part(s) "
        f"missing, such as {missing[0]}"
    )


def _good(
    store: Store, entries: list[_Entry], space_id: str | None = None, warn: bool = True
) -> list[_Entry]:
    good = []
    for entry in entries:
        if entry.damage is not None:
            if warn:
                warnings.warn(f"{entry.damage}; skipped", DamagedSnapshotWarning, stacklevel=3)
            continue
        assert entry.manifest is not None
        if space_id is None or space_id in entry.manifest["spaces"]:
            good.append(entry)
    return good


def _select(store: Store, snapshot: Snapshot, space_id: str | None = None) -> dict[str, Any]:
    """The manifest a snapshot argument names (see the module docstring)."""
    entries = _catalog(store)
    of = f" containing space {space_id}" if space_id else ""
    if isinstance(snapshot, str) and snapshot in ("latest", "previous"):
        good = _good(store, entries, space_id)
        need = 1 if snapshot == "latest" else 2
        if len(good) < need:
            raise SnapshotNotFoundError(
                f"{snapshot!r} needs {need} readable snapshot(s)"
                f"{of} in {store.display}, found {len(good)}"
            )
        return good[-need].manifest  # type: ignore[return-value]
    entry = _find(store, entries, snapshot)
    if entry.damage is not None:
        raise ExportError(entry.damage)
    assert entry.manifest is not None
    if space_id is not None and space_id not in entry.manifest["spaces"]:
        raise SnapshotNotFoundError(f"snapshot {entry.name} has no space {space_id}")
    return entry.manifest


def _find(store: Store, entries: list[_Entry], snapshot: Snapshot) -> _Entry:
    if isinstance(snapshot, str):
        found = [e for e in entries if e.name == snapshot]
        if not found:
            try:
                snapshot_time(snapshot)
            except ValueError:
                raise ValueError(
                    f"snapshot must be a name like 2026-11-29T120000Z, 'latest', "
                    f"'previous', a timestamp or a date, got {snapshot!r}"
                ) from None
            raise SnapshotNotFoundError(f"no committed snapshot {snapshot!r} in {store.display}")
        return found[0]
    if isinstance(snapshot, datetime):  # pd.Timestamp included
        if snapshot.tzinfo is None:
            raise ValueError("a snapshot time must be timezone-aware (UTC)")
        when = pd.Timestamp(snapshot).tz_convert("UTC")
        found = [e for e in entries if e.time == when] or [
            e for e in entries if e.time.floor("s") == when.floor("s")
        ]
    elif isinstance(snapshot, date):
        found = [e for e in entries if e.time.date() == snapshot][-1:]
    else:
        raise TypeError(
            f"snapshot must be a name, a timestamp or a date, got {type(snapshot).__name__}"
        )
    if len(found) != 1:
        raise SnapshotNotFoundError(
            f"{len(found) or 'no'} committed snapshot(s) at {snapshot} in {store.display}"
            + ("; pass the name instead" if found else "")
        )
    return found[0]


def list_snapshots(out: Location) -> pd.DataFrame:
    """Committed snapshots under ``out``, oldest first, damaged ones included and flagged.

    Returns:
        ``snapshot`` (name), ``snapshot_time`` (UTC, when its data started being
        read), ``spaces`` (count), ``tasks`` and ``errors`` (rows), ``api_host``,
        ``version``, ``damaged`` (why it cannot be read; NA when it can).

    Raises:
        SnapshotNotFoundError: ``out`` holds no export.

    >>> list_snapshots("exports").snapshot.iloc[-1]  # doctest: +SKIP
    '2026-11-29T120000Z'
    """
    entries = _catalog(open_store(out))
    found = [e.manifest or {} for e in entries]
    rows = [m.get("rows", {}) for m in found]
    return schemas.coerce(
        pd.DataFrame(
            {
                "snapshot": pd.array([e.name for e in entries], dtype=schemas.STRING),
                "snapshot_time": pd.DatetimeIndex(
                    [e.time for e in entries], dtype="datetime64[us, UTC]"
                ),
                "spaces": pd.array([len(m["spaces"]) if m else None for m in found], dtype="Int64"),
                "tasks": pd.array(
                    [r.get("tasks") if found[i] else None for i, r in enumerate(rows)],
                    dtype="Int64",
                ),
                "errors": pd.array(
                    [r.get("errors") if found[i] else None for i, r in enumerate(rows)],
                    dtype="Int64",
                ),
                "api_host": pd.array([m.get("api_host") for m in found], dtype=schemas.STRING),
                "version": pd.array([m.get("version") for m in found], dtype=schemas.STRING),
                "damaged": pd.array([e.damage for e in entries], dtype=schemas.STRING),
            }
        ),
        "snapshots",
    )


# -- read-back -----------------------------------------------------------------


def _pandas_type(arrow_type: pa.DataType) -> Any:
    import pyarrow as pa

    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return schemas.STRING
    return {
        pa.bool_(): pd.BooleanDtype(),
        pa.int64(): pd.Int64Dtype(),
        pa.float64(): pd.Float64Dtype(),
    }.get(arrow_type)


def _read_part(
    store: Store, entity: str, name: str, space_id: str, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """One space's file of one entity, typed; ``space_id`` restored from the path."""
    import pyarrow.parquet as pq

    wanted = list(columns) if columns is not None else schemas.columns(entity)
    rel = part(entity, name, space_id)
    try:
        with store.fs.open_input_file(store.path(rel)) as f:
            parquet = pq.ParquetFile(f)
            in_file = [c for c in wanted if c in parquet.schema_arrow.names]
            df = parquet.read(columns=in_file).to_pandas(types_mapper=_pandas_type)
    except FileNotFoundError:
        raise ExportError(
            f"snapshot {name} in {store.display} is damaged: {entity} of space "
            f"{space_id} is missing"
        ) from None
    except (OSError, ValueError) as exc:  # ArrowInvalid: not parquet, truncated
        raise ExportError(
            f"snapshot {name} in {store.display} is damaged: {entity} of space "
            f"{space_id} cannot be read ({redact(exc)})"
        ) from exc
    if PARTITION in wanted and PARTITION not in in_file:
        df[PARTITION] = pd.array([space_id] * len(df), dtype=schemas.STRING)
    dtypes = schemas.dtypes(entity)
    return df.astype({c: dtypes[c] for c in wanted if c in df.columns})[wanted]


def _failed_spaces(manifest: Mapping[str, Any]) -> pd.DataFrame:
    """Spaces the export could not write at all, as errors rows (kept in the manifest)."""
    failed = manifest.get("failed") or []
    if not failed:
        return schemas.empty_frame("errors")
    return schemas.frame(
        "errors", {k: [f.get(k) for f in failed] for k in schemas.columns("errors")}
    )


def read_export(
    out: Location,
    snapshot: Snapshot = "latest",
    space_id: str | None = None,
) -> dict[str, pd.DataFrame]:
    """The frames of one committed snapshot, with the loaders' columns and dtypes.

    Args:
        out: the export folder or URI.
        snapshot: a name, ``"latest"``, ``"previous"``, a timestamp or a date.
        space_id: one space only (``"latest"`` then means the latest holding it);
            default every space of the snapshot, concatenated.

    Returns:
        ``{entity: DataFrame}`` for every entity in :data:`~taskade_frames.export.DATASETS`,
        plus the task-detail datasets when the snapshot has them (``details=``);
        each frame's ``attrs`` name the snapshot. ``errors`` also lists spaces the
        export could not write (``resource="space"``).

    Raises:
        SnapshotNotFoundError: no such committed snapshot, or no export at ``out``.
        ExportError: the snapshot asked for by name is damaged.

    >>> read_export("exports")["tasks"].completed.mean()  # doctest: +SKIP
    """
    store = open_store(out)
    manifest = _select(store, snapshot, space_id)
    name = manifest["snapshot"]
    ids = [space_id] if space_id is not None else list(manifest["spaces"])
    frames = {}
    details = [e for e in DETAIL_DATASETS if e in manifest["entities"]]
    for entity in (*DATASETS, *details):
        parts = [_read_part(store, entity, name, sid) for sid in ids]
        if entity == "errors" and space_id is None:
            parts.append(_failed_spaces(manifest))
        df = concat_frames(entity, parts)
        df.attrs = {
            "snapshot": name,
            "snapshot_time": manifest["snapshot_time"],
            "api_host": manifest.get("api_host", ""),
        }
        frames[entity] = df
    return frames


# -- snapshot analysis (the completion measures: taskade_frames.completion) --------


def _unreliable(errors: pd.DataFrame) -> tuple[set[str], set[str]]:
    """``(spaces, projects)`` whose task listing failed: absent tasks mean nothing there."""

    def ids(resource: str) -> set[str]:
        hit = errors["resource"].eq(resource).fillna(False).astype(bool)
        return set(errors.loc[hit, "id"].dropna())

    return ids("space:projects"), ids("project:tasks")


def _tasks_of(store: Store, manifest: Mapping[str, Any], space_id: str | None) -> pd.DataFrame:
    ids = [space_id] if space_id is not None else list(manifest["spaces"])
    cols = ["project_id", "id", "text", "parent_id", "completed", "position"]
    parts = []
    for sid in ids:
        df = _read_part(store, "tasks", manifest["snapshot"], sid, cols)
        df.insert(0, PARTITION, pd.array([sid] * len(df), dtype=schemas.STRING))
        parts.append(df)
    return (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame(
            {PARTITION: pd.array([], dtype=schemas.STRING)}
            | {c: pd.Series([], dtype=schemas.dtypes("tasks")[c]) for c in cols}
        )
    )


def _errors_of(store: Store, manifest: Mapping[str, Any]) -> pd.DataFrame:
    return concat_frames(
        "errors",
        [_read_part(store, "errors", manifest["snapshot"], sid) for sid in manifest["spaces"]],
    )


def _differs(a: pd.Series, b: pd.Series) -> pd.Series:
    """Element-wise "not equal", with NA equal to NA and unequal to any value."""
    ne = (a != b).fillna(False).astype(bool)
    return ne | (a.isna().to_numpy() != b.isna().to_numpy())


def diff_snapshots(
    out: Location,
    before: Snapshot = "previous",
    after: Snapshot = "latest",
    space_id: str | None = None,
) -> pd.DataFrame:
    """Per-task changes between two committed snapshots.

    A task with several changes has one row per change. Projects whose task
    listing failed in either snapshot (see the ``errors`` dataset) are left out
    rather than reported as all removed or added.

    Args:
        out: the export folder or URI.
        before, after: snapshot names, ``"latest"``, ``"previous"``, timestamps or dates.
        space_id: compare one space only.

    Returns:
        ``project_id, task_id, change, text_before, text_after, parent_before,
        parent_after, completed_before, completed_after, value_before, value_after``;
        ``change`` is one of ``added, removed, completed, reopened, text_changed,
        moved`` (parent changed) and, when both snapshots were exported with
        ``details=``, ``reassigned`` (``value_*``: sorted handles) and
        ``due_changed`` (``value_*``: the due date, or instant when known). Rows
        follow the outline of ``after`` (then ``before``).

    >>> diff_snapshots("exports").change.value_counts()  # doctest: +SKIP
    """
    store = open_store(out)
    m0, m1 = _select(store, before, space_id), _select(store, after, space_id)
    t0, t1 = _tasks_of(store, m0, space_id), _tasks_of(store, m1, space_id)
    bad_spaces, bad_projects = (
        a | b
        for a, b in zip(
            _unreliable(_errors_of(store, m0)), _unreliable(_errors_of(store, m1)), strict=True
        )
    )
    keep0 = ~(t0[PARTITION].isin(bad_spaces) | t0["project_id"].isin(bad_projects))
    keep1 = ~(t1[PARTITION].isin(bad_spaces) | t1["project_id"].isin(bad_projects))
    both = (
        t0[keep0]
        .drop(columns=PARTITION)
        .merge(
            t1[keep1].drop(columns=PARTITION),
            on=["project_id", "id"],
            how="outer",
            suffixes=("_before", "_after"),
            indicator=True,
        )
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
        "moved": common & _differs(both["parent_id_before"], both["parent_id_after"]).to_numpy(),
    }
    parts = []
    for change, mask in masks.items():
        rows = both[mask].copy()
        rows["change"] = change
        rows["_rank"] = CHANGES.index(change)
        parts.append(rows)
    parts.append(_detail_diff(store, (m0, m1), space_id, both[common]))
    diff = pd.concat(parts, ignore_index=True)
    diff["_pos"] = diff["position_after"].fillna(diff["position_before"])
    diff = diff.sort_values(["project_id", "_pos", "id", "_rank"], ignore_index=True)
    diff = diff.rename(
        columns={
            "id": "task_id",
            "parent_id_before": "parent_before",
            "parent_id_after": "parent_after",
        }
    )
    return diff[list(DIFF_COLUMNS)].astype(schemas.dtypes("task_changes"))


def _detail_diff(
    store: Store,
    manifests: tuple[Mapping[str, Any], Mapping[str, Any]],
    space_id: str | None,
    common: pd.DataFrame,
) -> pd.DataFrame:
    """Reassignments and moved due dates of tasks in both snapshots, as diff rows.

    Judged only for detail datasets both snapshots carry: a snapshot exported
    without ``details=`` says nothing about them.
    """
    shared = [
        e for e in ("task_assignees", "task_dates") if all(e in m["entities"] for m in manifests)
    ]
    if not shared or common.empty:
        return pd.DataFrame(
            {c: pd.Series([], dtype=object) for c in ("change", "value_before", "value_after")}
        )
    frames = []
    for manifest in manifests:
        ids = [space_id] if space_id is not None else list(manifest["spaces"])
        frames.append(
            {
                e: concat_frames(
                    e, [_read_part(store, e, manifest["snapshot"], sid) for sid in ids]
                )
                for e in shared
            }
        )
    keys = common[["project_id", "id"]].rename(columns={"id": "task_id"})
    changes = details_mod.detail_changes(keys, frames[0], frames[1])
    rows = (
        changes.rename(columns={"task_id": "id"})
        .astype(object)
        .merge(
            common[
                [
                    "project_id",
                    "id",
                    "text_before",
                    "text_after",
                    "position_before",
                    "position_after",
                ]
            ].astype({"project_id": object, "id": object}),
            on=["project_id", "id"],
            how="left",
        )
    )
    rows["_rank"] = rows["change"].map({c: i for i, c in enumerate(CHANGES)})
    return rows


def completion_history(
    out: Location,
    space_id: str | None = None,
) -> pd.DataFrame:
    """Both completion measures per project in every committed snapshot, oldest first.

    The columns are those of ``SpaceFrames.completion()`` (the vocabulary is
    defined in :mod:`taskade_frames.completion`), after the snapshot and space.
    A project whose task listing failed in a snapshot gets NA counts there,
    not zero. Damaged snapshots are skipped with a DamagedSnapshotWarning.

    Raises:
        SnapshotNotFoundError: ``out`` holds no export.

    Returns:
        ``snapshot`` (UTC timestamp: when its data started being read), ``space_id``,
        ``project_id``, ``project_name``, ``tasks``, ``completed``, ``share_completed``
        (over all tasks), ``leaves_total``, ``leaves_done``, ``share_done`` (over
        leaves); counts Int64, shares Float64 (NA with nothing to count).

    >>> completion_history("exports").pivot(index="snapshot", columns="project_name",
    ...                                     values="share_completed")  # doctest: +SKIP
    """
    store = open_store(out)
    parts = []
    for entry in _good(store, _catalog(store), space_id):
        try:
            parts += _history_of(store, entry, space_id)
        except ExportError as exc:  # a part unreadable: skip this snapshot, keep the rest
            warnings.warn(f"{exc}; skipped", DamagedSnapshotWarning, stacklevel=2)
    types = schemas.dtypes("completion_history")
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame({c: pd.Series([], dtype=t) for c, t in types.items()})
    # Parts come in snapshot order already (same-second snapshots included).
    return pd.concat(parts, ignore_index=True)[list(HISTORY_COLUMNS)].astype(types)


def _history_of(store: Store, entry: _Entry, space_id: str | None) -> list[pd.DataFrame]:
    manifest = entry.manifest
    assert manifest is not None
    ids = [space_id] if space_id is not None else list(manifest["spaces"])
    parts = []
    for sid in ids:
        tasks = _read_part(
            store,
            "tasks",
            entry.name,
            sid,
            ["project_id", "id", "parent_id", "completed", "is_leaf"],
        )
        projects = _read_part(store, "projects", entry.name, sid, ["id", "name"])
        _, failed = _unreliable(_read_part(store, "errors", entry.name, sid))
        done = completion_by_project(tasks, projects)
        broken = done["project_id"].isin(failed)
        for col in PROJECT_COLUMNS[2:]:
            done[col] = done[col].mask(broken)
        done.insert(0, "snapshot", entry.time)
        done.insert(1, "space_id", sid)
        parts.append(done.sort_values(["project_name", "project_id"], kind="stable"))
    return parts


# -- retention -------------------------------------------------------------------


def _age(value: str | timedelta | pd.Timedelta | None, what: str) -> pd.Timedelta | None:
    if value is None:
        return None
    if isinstance(value, str):  # "30d" as people write it (pandas wants "30D")
        value = re.sub(r"(?<=\d)\s*d(ays?)?$", "D", value.strip())
    try:
        age = pd.Timedelta(value)
    except (ValueError, TypeError):
        raise ValueError(
            f"{what} must be a duration such as '30d' or '15min', got {value!r}"
        ) from None
    if age < pd.Timedelta(0):
        raise ValueError(f"{what} must not be negative, got {value!r}")
    return age


def prune_snapshots(
    out: Location,
    keep_last: int | None = None,
    older_than: str | timedelta | None = None,
    *,
    stale_after: str | timedelta = "6h",
    dry_run: bool = False,
    lock_timeout: float = 600.0,
) -> pd.DataFrame:
    """Remove old snapshots and what killed exports left behind.

    A snapshot is kept when it is among the ``keep_last`` newest or younger than
    ``older_than``; with neither given, only leftovers go. The newest readable
    snapshot is always kept. A snapshot is uncommitted (manifest removed) before
    its data goes, so an interrupted prune never leaves a damaged one. On a local
    folder pruning waits for a running export; on an object store, where there is
    no lock, uncommitted parts are only removed once ``stale_after`` old.

    Returns:
        ``kind`` (``snapshot`` or ``leftover``) and ``name`` of what was (or, with
        ``dry_run``, would be) removed.

    >>> prune_snapshots("s3://bucket/taskade", keep_last=30)  # doctest: +SKIP
    """
    if keep_last is not None and (
        isinstance(keep_last, bool) or not isinstance(keep_last, int) or keep_last < 1
    ):
        raise ValueError(f"keep_last must be a whole number of at least 1, got {keep_last!r}")
    age = _age(older_than, "older_than")
    stale = _age(stale_after, "stale_after")
    assert stale is not None
    store = open_store(out)
    removed: list[tuple[str, str]] = []
    with store.locked(lock_timeout):
        entries = _catalog(store)
        for entry in _expired(store, entries, keep_last, age):
            removed.append(("snapshot", entry.name))
            if not dry_run:
                store.delete_file(f"{MANIFESTS}/{entry.name}.json")  # uncommit first
                for entity in ALL_DATASETS:
                    store.delete_dir(f"{entity}/snapshot={entry.name}")
        if not dry_run:
            older = None if store.local else stale.total_seconds()
            removed += [("leftover", p) for p in remove_leftovers(store, older)]
    return pd.DataFrame(
        {
            "kind": pd.array([k for k, _ in removed], dtype=schemas.STRING),
            "name": pd.array([n for _, n in removed], dtype=schemas.STRING),
        }
    )


def _expired(
    store: Store, entries: list[_Entry], keep_last: int | None, age: pd.Timedelta | None
) -> list[_Entry]:
    if keep_last is None and age is None:
        return []
    newest_good = [e.name for e in _good(store, entries, warn=False)][-1:]
    now = pd.Timestamp(time.time(), unit="s", tz="UTC")
    keep = {e.name for e in entries[-keep_last:]} if keep_last else set()
    if age is not None:
        keep |= {e.name for e in entries if now - e.time < age}
    return [e for e in entries if e.name not in keep and e.name not in newest_good]


# -- a notebook cache ------------------------------------------------------------


def load_space(
    space_id: str,
    client: Any = None,
    *,
    cache: Location | None = None,
    max_age: str | timedelta = "15min",
    progress: bool = True,
    **options: Any,
) -> SpaceFrames:
    """:func:`taskade_frames.space.load_space`, answered from snapshots when fresh enough.

    With ``cache`` (a folder or URI holding exports), the newest readable snapshot
    containing the space answers if it is younger than ``max_age``; otherwise the
    space is exported there as a new snapshot and read back, so the next call (or
    the next run of the notebook) is answered from it. Either way the frames are
    the snapshot's, equal to the loaders' (round trip tested), and each frame's
    ``attrs["source"]`` says ``"cache"`` or ``"live"``, with ``attrs["snapshot"]``.

    Without ``cache`` this is a plain live load (``options`` as there).

    >>> space = load_space("SPACE_ID", client, cache="s3://bucket/taskade")  # doctest: +SKIP
    >>> space.tasks.attrs["source"]  # doctest: +SKIP
    'cache'
    """
    if cache is None:
        return space_mod.load_space(space_id, client, progress=progress, **options)
    age = _age(max_age, "max_age")
    assert age is not None
    store = open_store(cache)
    parts = details_mod.requested_parts(options.get("details"))
    fresh = _fresh(store, space_id, age, details_mod.detail_entities(parts))
    source = "cache"
    if fresh is None:
        result = export_space(space_id, store, client, progress=progress, **options)
        fresh, source = result.snapshot, "live"
    frames = read_export(store, fresh, space_id=space_id)
    for df in frames.values():
        df.attrs = {**df.attrs, "source": source}
    manifest_time = frames["tasks"].attrs["snapshot_time"]
    fields: dict[str, Any] = {e: frames[e] for e in space_frames()}
    return SpaceFrames(
        space_id=space_id,
        data=fields,
        fetched_at=manifest_time,
        api_host=frames["tasks"].attrs["api_host"],
        details=_cached_details(frames, parts),
    )


def _cached_details(
    frames: Mapping[str, pd.DataFrame], parts: tuple[str, ...]
) -> details_mod.TaskDetails | None:
    """The detail frames of a snapshot as ``TaskDetails`` (their errors: ``task:*`` rows)."""
    if not parts:
        return None
    errors = frames["errors"]
    mine = errors["resource"].str.startswith("task:").fillna(False).astype(bool)

    def frame(name: str) -> pd.DataFrame:
        return frames.get(name, schemas.empty_frame(name))

    return details_mod.TaskDetails(
        parts=parts,
        errors=errors[mine].reset_index(drop=True),
        task_assignees=frame("task_assignees"),
        task_dates=frame("task_dates"),
        task_notes=frame("task_notes"),
        task_field_values=frame("task_field_values"),
    )


def _fresh(store: Store, space_id: str, age: pd.Timedelta, needs: Sequence[str] = ()) -> str | None:
    """The newest readable snapshot holding ``space_id`` (and the ``needs`` datasets)
    younger than ``age``, if any."""
    try:
        entries = _good(store, _catalog(store), space_id)
    except SnapshotNotFoundError:  # an empty cache: nothing there yet
        return None
    entries = [
        e for e in entries if e.manifest is not None and set(needs) <= set(e.manifest["entities"])
    ]
    now = pd.Timestamp(time.time(), unit="s", tz="UTC")
    if entries and now - entries[-1].time < age:
        return entries[-1].name
    return None
