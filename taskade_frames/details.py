"""Task details from v1: who is assigned, when it is due, its note and field values.

v2's ``listTasks`` gives only ``id``, ``text``, ``parentId`` and ``completed``.
v1 has the rest, one request per task and part::

    GET /projects/{projectId}/tasks/{taskId}/assignees|date|note|fields

so a load is a fan-out of ``tasks x parts`` requests under the client's shared
rate limit, with bounded workers and a progress bar whose total is known up
front. Frames are tidy and keyed by ``(project_id, task_id)``; their columns
are declared in ``schemas``. A task without a date or note is no row, not an
error. A 404 is ambiguous (v1 answers 404 both for "no date" and for a task
that is gone), so after the fan-out the project's task list is read again,
once, and tasks missing from it are reported as deleted.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from urllib.parse import quote

import pandas as pd

from . import loaders, schemas
from .client import TaskadeClient, resolve_client
from .errors import InvalidResponseError, NotFoundError, TaskadeError

__all__ = [
    "DETAIL_CHANGES",
    "PARTS",
    "TaskDetails",
    "check_parts",
    "detail_changes",
    "detail_entities",
    "due_dates",
    "fetch_task_details",
    "field_definitions",
    "load_task_details",
    "open_work_by_assignee",
    "overdue_tasks",
    "plan_requests",
    "requested_parts",
    "resolve_date",
    "typed_field_value",
]

log = logging.getLogger("taskade_frames.details")

# part -> (v1 route below the task, operationId, frame); the one place a part is named.
PARTS: dict[str, tuple[str, str, str]] = {
    "assignees": ("assignees", "taskAssigneesGet", "task_assignees"),
    "dates": ("date", "taskGetDate", "task_dates"),
    "notes": ("note", "taskNoteGet", "task_notes"),
    "fields": ("fields", "taskFieldsValueGet", "task_field_values"),
}
# Requests from which a load's cost is logged as a warning rather than as information.
LARGE_RUN = 1_000
# Parts whose absence v1 may answer with 404: an empty result if the task still exists.
_MAY_BE_ABSENT = frozenset({"dates", "notes"})


@dataclass
class TaskDetails:
    """The detail frames of one load, the ``errors`` frame, and what it cost."""

    parts: tuple[str, ...]
    task_assignees: pd.DataFrame
    task_dates: pd.DataFrame
    task_notes: pd.DataFrame
    task_field_values: pd.DataFrame
    errors: pd.DataFrame
    deleted: list[tuple[str, str]] = field(default_factory=list)
    requests: int = 0

    def frames(self) -> dict[str, pd.DataFrame]:
        """``{entity: frame}`` for the parts asked for (a part not asked is absent)."""
        return {PARTS[p][2]: getattr(self, PARTS[p][2]) for p in self.parts}

    def __repr__(self) -> str:
        sizes = ", ".join(f"{n}={len(f)}" for n, f in self.frames().items())
        return f"TaskDetails({sizes}, errors={len(self.errors)}, deleted={len(self.deleted)})"


def check_parts(parts: Iterable[str] | str) -> tuple[str, ...]:
    """Validate ``parts``; a single string is one part."""
    chosen = (parts,) if isinstance(parts, str) else tuple(dict.fromkeys(parts))
    unknown = [p for p in chosen if p not in PARTS]
    if unknown or not chosen:
        raise ValueError(f"parts must be some of {', '.join(PARTS)}; got {list(chosen)!r}")
    return chosen


def requested_parts(details: bool | str | Iterable[str] | None) -> tuple[str, ...]:
    """The parts a ``details=`` argument asks for: ``True`` all, ``False``/``None`` none."""
    if details is True:
        return tuple(PARTS)
    if details is False or details is None or (not isinstance(details, str) and not list(details)):
        return ()
    return check_parts(details)


def detail_entities(parts: Iterable[str]) -> tuple[str, ...]:
    """The frame names of ``parts``, in the order of :data:`PARTS`."""
    chosen = set(parts)
    return tuple(entity for part, (_, _, entity) in PARTS.items() if part in chosen)


def plan_requests(n_tasks: int, parts: Sequence[str]) -> str:
    """The cost of a load, said before it starts.

    >>> plan_requests(1000, ("assignees", "dates"))
    '1,000 tasks x 2 parts = 2,000 requests'
    """
    return f"{n_tasks:,} tasks x {len(parts)} parts = {n_tasks * len(parts):,} requests"


# -- one answer -> rows (pure) ---------------------------------------------------


def resolve_date(value: Any) -> tuple[dict[str, Any], str | None]:
    """A v1 ``Date`` as typed columns ``date, time, timezone, utc`` and a problem, if any.

    The date stays a date. ``utc`` is set only when the instant is known: a
    time with an IANA timezone, or a full ISO timestamp in ``date`` (the v1
    spec's own example sends one, although its pattern says ``YYYY-MM-DD``).
    A time without a timezone is a local time and stays unresolved.

    >>> resolve_date({"date": "2025-08-01", "time": "09:30", "timezone": "Europe/Berlin"})[0]
    {'date': datetime.date(2025, 8, 1), 'time': '09:30', 'timezone': 'Europe/Berlin', \
'utc': Timestamp('2025-08-01 07:30:00+0000', tz='UTC')}
    """
    out: dict[str, Any] = {"date": None, "time": None, "timezone": None, "utc": None}
    if not isinstance(value, dict) or not isinstance(value.get("date"), str):
        return out, f"not a v1 Date: {json.dumps(value)[:80]}"
    raw, clock, zone = value["date"], value.get("time"), value.get("timezone")
    out["time"] = clock if isinstance(clock, str) else None
    out["timezone"] = zone if isinstance(zone, str) else None
    try:
        out["date"] = date.fromisoformat(raw[:10])
        if len(raw) > 10:
            instant = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            if instant.tzinfo is not None:
                out["utc"] = pd.Timestamp(instant).tz_convert("UTC")
            return out, None
    except ValueError:
        return out, f"date {raw[:40]!r} is not an ISO date"
    if out["time"] and out["timezone"]:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            local = datetime.combine(
                out["date"], time.fromisoformat(out["time"]), ZoneInfo(out["timezone"])
            )
        except (ValueError, ZoneInfoNotFoundError):
            return out, f"time {out['time']!r} in {out['timezone']!r} cannot be resolved"
        out["utc"] = pd.Timestamp(local).tz_convert("UTC")
    return out, None


def _date_row(item: Any) -> tuple[dict[str, Any] | None, str | None]:
    if item is None:
        return None, None
    if not isinstance(item, dict):
        return None, f"date item is not an object: {json.dumps(item)[:80]}"
    start, problem = resolve_date(item.get("start"))
    row = {f"start_{k}": v for k, v in start.items()}
    end = item.get("end")
    if isinstance(end, dict) and "period" in end and "date" not in end:
        row["end_period"] = str(end["period"])
    elif end is not None:
        resolved, end_problem = resolve_date(end)
        row.update({f"end_{k}": v for k, v in resolved.items()})
        problem = problem or end_problem
    row["date_json"] = json.dumps(item, ensure_ascii=False, sort_keys=True)
    return row, problem


def typed_field_value(
    field_type: str | None, definition: dict[str, Any], value: Any
) -> dict[str, Any]:
    """The typed column a field's type chooses, filled from ``value``; ``{}`` if none fits.

    >>> typed_field_value("Rating", {}, 4)
    {'value_number': 4.0}
    >>> typed_field_value("Select", {"options": {"a": {"name": "Done"}}}, "a")
    {'value_text': 'Done'}
    """
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if field_type in ("number", "Rating") and is_number:
        return {"value_number": float(value)}
    if field_type == "boolean" and isinstance(value, bool):
        return {"value_bool": value}
    if field_type in ("string", "Note", "NodeText", "Password") and isinstance(value, str):
        return {"value_text": value}
    if field_type in ("Select", "Assign"):
        options = definition.get("options") or {}
        picked = value if isinstance(value, list) else [value]
        if all(isinstance(v, str) for v in picked):
            names = [str((options.get(v) or {}).get("name", v)) for v in picked]
            return {"value_text": ", ".join(names)}
    if field_type in ("DateTime", "Timestamp", "TimestampAt"):
        resolved, problem = resolve_date(value if isinstance(value, dict) else {"date": value})
        if problem is None:
            out: dict[str, Any] = {"value_date": resolved["date"]}
            if resolved["utc"] is not None:
                out["value_timestamp"] = resolved["utc"]
            return out
    return {}


def _rows(
    part: str, payload: dict[str, Any], field_defs: dict[str, tuple[str | None, dict]]
) -> tuple[list[dict[str, Any]], str | None]:
    """Rows of one answer (without the key columns) and a problem to report, if any."""
    if part == "dates":
        row, problem = _date_row(payload.get("item"))
        return ([row] if row is not None else []), problem
    if part == "notes":
        item = payload.get("item")
        if item is None:
            return [], None
        if not isinstance(item, dict):
            return [], f"note item is not an object: {json.dumps(item)[:80]}"
        return [{"type": item.get("type"), "value": item.get("value")}], None
    items = payload.get("items")
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        return [], f"`items` is not a list of objects: {json.dumps(items)[:80]}"
    if part == "assignees":
        return [
            {"position": n, "handle": u.get("handle"), "display_name": u.get("displayName")}
            for n, u in enumerate(items)
        ], None
    rows = []
    for item in items:
        field_type, definition = field_defs.get(str(item.get("fieldId")), (None, {}))
        value = item.get("value")
        rows.append(
            {
                "field_id": item.get("fieldId"),
                "field_type": field_type,
                "value_json": json.dumps(value, ensure_ascii=False, sort_keys=True),
                **typed_field_value(field_type, definition, value),
            }
        )
    return rows, None


def _frame(entity: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    if not rows:
        return schemas.empty_frame(entity)
    names = schemas.columns(entity)
    return schemas.frame(entity, {n: [r.get(n) for r in rows] for n in names})


# -- the fan-out -------------------------------------------------------------------


@dataclass
class _Run:
    """What the fan-out collects while it runs."""

    rows: dict[str, list[dict[str, Any]]]
    errors: list[dict[str, Any]] = field(default_factory=list)
    not_found: list[tuple[str, str, str, NotFoundError]] = field(default_factory=list)

    def error(self, part: str, task_id: str, exc: TaskadeError | str, status: Any = None) -> None:
        self.errors.append(
            {
                "resource": f"task:{PARTS[part][2]}",
                "id": task_id,
                "status": getattr(exc, "status", status),
                "error": type(exc).__name__
                if isinstance(exc, TaskadeError)
                else "InvalidResponseError",
                "message": str(exc),
            }
        )


def fetch_task_details(
    targets: Sequence[tuple[str, str]],
    client: TaskadeClient,
    parts: Sequence[str],
    field_defs: dict[str, dict[str, tuple[str | None, dict]]] | None = None,
    *,
    max_workers: int = 8,
    progress: bool = True,
    strict: bool = False,
) -> TaskDetails:
    """Fetch ``parts`` of every ``(project_id, task_id)``: the fan-out under ``load_*``.

    ``field_defs`` maps project id -> field id -> (type, definition) from
    ``listFields``; it picks each value's typed column.
    """
    parts = check_parts(parts)
    if max_workers < 1:
        raise ValueError("max_workers must be at least 1")
    # A corrupt listing can repeat a task or lack an id: ask once per real task.
    targets = list(
        dict.fromkeys((str(p), str(t)) for p, t in targets if not pd.isna(p) and not pd.isna(t))
    )
    total = len(targets) * len(parts)
    # Said before the first request; a large run at WARNING, so it shows without setup.
    log.log(
        logging.WARNING if total >= LARGE_RUN else logging.INFO,
        "task details: %s",
        plan_requests(len(targets), parts),
    )
    run = _Run(rows={p: [] for p in parts})
    stop = threading.Event()
    from tqdm.auto import tqdm

    bar = tqdm(
        total=total,
        desc=f"task details ({total:,} requests)",
        unit="req",
        disable=not progress,
        leave=False,
    )
    pool = ThreadPoolExecutor(max_workers=max_workers)
    try:
        futures: dict[Future, tuple[str, str, str]] = {
            pool.submit(_get, client, pid, tid, part, stop): (pid, tid, part)
            for pid, tid in targets
            for part in parts
        }
        for fut in _as_done(futures):
            pid, tid, part = futures[fut]
            bar.update(1)
            _collect(run, fut, pid, tid, part, (field_defs or {}).get(pid, {}), strict)
    finally:
        stop.set()  # on Ctrl-C or a strict error: running calls abandon their retry waits
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
    deleted = _settle_not_found(run, client)
    return TaskDetails(
        parts=parts,
        errors=_frame("errors", run.errors),
        deleted=deleted,
        requests=total,
        **{PARTS[p][2]: _frame(PARTS[p][2], run.rows.get(p, [])) for p in PARTS},
    )


def _as_done(futures: dict[Future, Any]) -> Iterable[Future]:
    pending = set(futures)
    while pending:
        done, pending = wait(pending, timeout=0.5)
        yield from done


def _get(
    client: TaskadeClient, project_id: str, task_id: str, part: str, stop: threading.Event
) -> dict[str, Any]:
    route, operation, _ = PARTS[part]
    path = f"/projects/{quote(project_id, safe='')}/tasks/{quote(task_id, safe='')}/{route}"
    with client.cancel_scope(stop):
        return client.get_v1(path, operation)


def _collect(
    run: _Run,
    fut: Future,
    pid: str,
    tid: str,
    part: str,
    field_defs: dict[str, tuple[str | None, dict]],
    strict: bool,
) -> None:
    exc = fut.exception()
    if isinstance(exc, NotFoundError):
        run.not_found.append((pid, tid, part, exc))  # settled once the fan-out is over
        return
    if exc is not None:
        if strict or not isinstance(exc, TaskadeError):
            raise exc
        run.error(part, tid, exc)
        return
    rows, problem = _rows(part, fut.result(), field_defs)
    if problem is not None:
        if strict:
            raise InvalidResponseError(
                f"{PARTS[part][1]} for task {tid}: {problem}", operation=PARTS[part][1], status=200
            )
        run.error(part, tid, f"{PARTS[part][1]} for task {tid}: {problem}", status=200)
    run.rows[part].extend({"project_id": pid, "task_id": tid, **r} for r in rows)


def _settle_not_found(run: _Run, client: TaskadeClient) -> list[tuple[str, str]]:
    """Tell "no date/note" from "task deleted" by listing the affected projects once."""
    alive: dict[str, set[str] | None] = {}
    for pid in dict.fromkeys(p for p, _, _, _ in run.not_found):
        try:
            alive[pid] = {
                str(t.get("id")) for t in client.fetch_all("listTasks", projectId=pid).items
            }
        except TaskadeError as listing_error:
            log.warning("could not re-list project %s to settle 404s: %s", pid, listing_error)
            alive[pid] = None
    deleted: dict[tuple[str, str], None] = {}
    for pid, tid, part, exc in run.not_found:
        ids = alive[pid]
        if ids is not None and tid not in ids:
            deleted[(pid, tid)] = None
        elif ids is None or part not in _MAY_BE_ABSENT:
            run.error(part, tid, exc)
    for pid, tid in deleted:
        run.errors.append(
            {
                "resource": "task:details",
                "id": tid,
                "status": 404,
                "error": "TaskDeleted",
                "message": f"task {tid} of project {pid} was deleted while its "
                "details were loading",
            }
        )
    if deleted:
        log.warning("%d task(s) were deleted while their details were loading", len(deleted))
    return list(deleted)


# -- the public loader ---------------------------------------------------------------


def field_definitions(fields: pd.DataFrame) -> dict[str, dict[str, tuple[str | None, dict]]]:
    """``{project_id: {field_id: (type, definition)}}`` from a ``fields`` frame."""
    out: dict[str, dict[str, tuple[str | None, dict]]] = {}
    for pid, fid, kind, definition in fields[["project_id", "id", "type", "definition"]].itertuples(
        index=False
    ):
        try:
            parsed = json.loads(definition) if isinstance(definition, str) else {}
        except ValueError:
            parsed = {}
        out.setdefault(str(pid), {})[str(fid)] = (
            None if pd.isna(kind) else str(kind),
            parsed if isinstance(parsed, dict) else {},
        )
    return out


def load_task_details(
    project_id: str,
    client: TaskadeClient | None = None,
    parts: Iterable[str] | str = tuple(PARTS),
    tasks: pd.DataFrame | Iterable[str] | None = None,
    *,
    max_workers: int = 8,
    progress: bool = True,
    strict: bool = False,
) -> TaskDetails:
    """Assignees, dates, notes and field values of a project's tasks (v1, one request each).

    Args:
        project_id: the project.
        client: default: a client from the environment; its rate limit paces the fan-out.
        parts: some of ``"assignees"``, ``"dates"``, ``"notes"``, ``"fields"``; only
            these are fetched.
        tasks: the tasks to ask about: a tasks frame (its ``id`` column) or ids;
            default: every task of the project (one ``listTasks`` listing).
        max_workers: requests in flight at once.
        progress: show a progress bar (its total is known before it starts).
        strict: raise the first failure instead of recording it in ``errors``.

    Returns:
        TaskDetails: ``task_assignees``, ``task_dates``, ``task_notes``,
        ``task_field_values`` (keyed by ``project_id``, ``task_id``), ``errors``,
        ``deleted`` and ``requests``.

    Raises:
        ValueError: unknown parts, or a bad project id.

    >>> details = load_task_details("PROJECT_ID", client, parts="assignees")  # doctest: +SKIP
    >>> details.task_assignees.groupby("handle").size()  # doctest: +SKIP
    """
    if not isinstance(project_id, str) or not project_id.strip():
        raise ValueError(f"project_id must be a non-empty string id, got {project_id!r}")
    parts = check_parts(parts)
    client = resolve_client(client)
    if tasks is None:
        ids = [str(t.get("id")) for t in client.fetch_all("listTasks", projectId=project_id).items]
    elif isinstance(tasks, pd.DataFrame):
        ids = [str(i) for i in tasks["id"].dropna().tolist()]
    else:
        ids = [str(i) for i in tasks]
    defs = {}
    if "fields" in parts:
        defs = field_definitions(loaders.load_fields(project_id, client))
    return fetch_task_details(
        [(project_id, i) for i in dict.fromkeys(ids)],
        client,
        parts,
        defs,
        max_workers=max_workers,
        progress=progress,
        strict=strict,
    )


# -- analysis ---------------------------------------------------------------------


def _open_tasks(tasks: pd.DataFrame) -> pd.DataFrame:
    done = tasks["completed"].astype("boolean").fillna(False).astype(bool)
    return tasks.loc[~done, ["project_id", "id", "text"]].drop_duplicates(["project_id", "id"])


def due_dates(task_dates: pd.DataFrame) -> pd.DataFrame:
    """When each dated task is due: its end when it has an end date, else its start.

    ``due_utc`` is set when that instant is known (time and timezone); a
    period end leaves the start as the due date.
    """
    has_end = task_dates["end_date"].notna()
    return pd.DataFrame(
        {
            "project_id": task_dates["project_id"],
            "task_id": task_dates["task_id"],
            "due_date": task_dates["end_date"].where(has_end, task_dates["start_date"]),
            "due_utc": task_dates["end_utc"].where(has_end, task_dates["start_utc"]),
        }
    )


def overdue_tasks(tasks: pd.DataFrame, task_dates: pd.DataFrame, now: Any) -> pd.DataFrame:
    """Open tasks due before ``now``: ``project_id, task_id, text, due_date, days_overdue``.

    ``now`` is the snapshot time (a tz-aware timestamp, or naive UTC). A task due
    on a date without a time is overdue once that day is over; one with a known
    instant, once the instant has passed.
    """
    now = pd.Timestamp(now)
    now = now.tz_localize("UTC") if now.tzinfo is None else now.tz_convert("UTC")
    due = due_dates(task_dates)
    merged = _open_tasks(tasks).merge(
        due, left_on=["project_id", "id"], right_on=["project_id", "task_id"], how="inner"
    )
    day = pd.to_datetime(merged["due_date"].astype(object)).dt.tz_localize("UTC")
    end_of_day = day + pd.Timedelta(days=1)
    late = merged["due_utc"].lt(now).where(merged["due_utc"].notna(), end_of_day.le(now))
    out = merged.loc[
        late.fillna(False).astype(bool), ["project_id", "task_id", "text", "due_date"]
    ].copy()
    out["days_overdue"] = ((now.normalize() - day[out.index]).dt.days).astype("Int64")
    return out.sort_values(
        ["days_overdue", "project_id"], ascending=[False, True], ignore_index=True
    )


def open_work_by_assignee(tasks: pd.DataFrame, task_assignees: pd.DataFrame) -> pd.DataFrame:
    """Open tasks per assignee, plus an ``(unassigned)`` row; largest first.

    A task with two assignees counts once for each.
    """
    open_ = _open_tasks(tasks)
    joined = open_.merge(
        task_assignees, left_on=["project_id", "id"], right_on=["project_id", "task_id"], how="left"
    )
    joined["handle"] = (
        joined["handle"].astype(object).where(joined["handle"].notna(), "(unassigned)")
    )
    names = (
        joined["display_name"]
        .astype(object)
        .where(joined["display_name"].notna(), joined["handle"])
    )
    out = (
        joined.assign(display_name=names)
        .groupby("handle", sort=False)
        .agg(display_name=("display_name", "first"), open_tasks=("id", "size"))
        .reset_index()
    )
    out["open_tasks"] = out["open_tasks"].astype("Int64")
    return out.sort_values(["open_tasks", "handle"], ascending=[False, True], ignore_index=True)


DETAIL_CHANGES = ("reassigned", "due_changed")


def _assignee_sets(frame: pd.DataFrame) -> pd.Series:
    if frame.empty:
        return pd.Series(dtype=object)
    handles = frame.assign(handle=frame["handle"].astype(object)).dropna(subset=["handle"])
    return handles.groupby(["project_id", "task_id"])["handle"].agg(
        lambda s: ", ".join(sorted(set(s)))
    )


def _due_texts(frame: pd.DataFrame) -> pd.Series:
    if frame.empty:
        return pd.Series(dtype=object)
    due = due_dates(frame)
    text = [
        u.isoformat() if not pd.isna(u) else (d.isoformat() if not pd.isna(d) else "")
        for d, u in zip(due["due_date"].astype(object), due["due_utc"].astype(object), strict=True)
    ]
    return pd.Series(text, index=pd.MultiIndex.from_frame(due[["project_id", "task_id"]]))


def detail_changes(
    keys: pd.DataFrame,
    before: dict[str, pd.DataFrame],
    after: dict[str, pd.DataFrame],
) -> pd.DataFrame:
    """Assignment and due-date changes of the tasks in ``keys`` between two loads.

    Args:
        keys: ``project_id, task_id`` of the tasks present in both loads.
        before, after: ``{entity: frame}`` with ``task_assignees`` and/or
            ``task_dates``; a kind of change is judged only when both sides have
            its frame (an old snapshot without details says nothing).

    Returns:
        ``project_id, task_id, change, value_before, value_after`` with ``change``
        ``reassigned`` (sorted handles) or ``due_changed`` (the due date, or
        instant when known); ``""`` means none.
    """
    out = []
    for change, entity, values in (
        ("reassigned", "task_assignees", _assignee_sets),
        ("due_changed", "task_dates", _due_texts),
    ):
        if entity not in before or entity not in after:
            continue
        index = pd.MultiIndex.from_frame(keys[["project_id", "task_id"]].astype(object))
        old = values(before[entity]).reindex(index).fillna("").to_numpy()
        new = values(after[entity]).reindex(index).fillna("").to_numpy()
        differs = old != new
        rows = keys.loc[differs, ["project_id", "task_id"]].astype(object)
        out.append(rows.assign(change=change, value_before=old[differs], value_after=new[differs]))
    columns = ["project_id", "task_id", "change", "value_before", "value_after"]
    if not out:
        return pd.DataFrame({c: pd.Series([], dtype=schemas.STRING) for c in columns})
    return pd.concat(out, ignore_index=True)[columns].astype(schemas.STRING)
