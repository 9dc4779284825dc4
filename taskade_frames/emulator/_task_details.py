"""Plausible v1 task details for a workspace: assignees, dates, notes, field values.

Dates are laid out around the emulator's clock (``SAMPLE_NOW``) so that some
open tasks are overdue, some due soon, and completed ones lie in the past.
Every shape the v1 ``Date`` schema allows appears: date only, date with time
and timezone, time without timezone, explicit nulls, an end date, an end
period. Every field of a project gets values of its type.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from typing import Any

from ._model import CLOCK_START, Workspace

SAMPLE_NOW = CLOCK_START  # the workspace clock's start, which advance() moves on

_ZONES = ("Europe/Berlin", "America/New_York", "Asia/Singapore", "Europe/Lisbon", "UTC")
_PERIODS = ("P1D", "P3D", "P1W", "PT4H")
_NOTES = (
    ("text/markdown", "Waiting on **design** sign-off.\n- check the mobile breakpoints"),
    ("text/markdown", "See the incident review for context."),
    ("text/plain", "Call the vendor before Friday.  "),
    ("text/plain", "Zoë asked for the numbers — in €, not $."),
    ("text/markdown", "1. Draft\n2. Review\n3. Ship\n"),
    ("text/plain", ""),
)
_STRINGS = ("needs repro", "customer-reported", "blocked by API", "quick win", "see note")


def _date(day: date, rng: random.Random) -> dict[str, Any]:
    """One v1 ``Date``, in one of the shapes the schema allows."""
    shape = rng.random()
    out: dict[str, Any] = {"date": day.isoformat()}
    if shape < 0.45:
        return out  # date only
    if shape < 0.55:
        return {**out, "time": None, "timezone": None}  # explicit nulls
    hour, minute = rng.choice((9, 10, 14, 16, 17)), rng.choice((0, 15, 30))
    if shape < 0.7:
        return {**out, "time": f"{hour:02d}:{minute:02d}:00"}  # no timezone: a local time
    return {**out, "time": f"{hour:02d}:{minute:02d}", "timezone": rng.choice(_ZONES)}


def _task_date(completed: bool, now: datetime, rng: random.Random) -> dict[str, Any]:
    offset = rng.randint(-60, -1) if completed else rng.randint(-40, 50)
    start_day = now.date() + timedelta(days=offset)
    item: dict[str, Any] = {"start": _date(start_day, rng)}
    kind = rng.random()
    if kind < 0.25:
        item["end"] = _date(start_day + timedelta(days=rng.randint(1, 10)), rng)
    elif kind < 0.35:
        item["end"] = {"period": rng.choice(_PERIODS)}
    elif kind < 0.4:
        item["end"] = None
    return item


def _field_value(
    data: dict[str, Any],
    handles: list[str],
    now: datetime,
    rng: random.Random,
    completed: bool = False,
) -> Any:
    """A value of a field's type; ``None`` for a type this generator leaves empty."""
    kind = data.get("type")
    if kind == "Select":
        options = sorted(data.get("options", {}))
        if "done" in options and rng.random() < 0.9:
            # A status mostly agrees with the checkbox, as in a real team's project.
            options = ["done"] if completed else [o for o in options if o != "done"]
        return rng.choice(options) if options else None
    if kind == "number":
        currency = data.get("format", {}).get("type") == "currency"
        return rng.randrange(50, 5000) if currency else round(rng.uniform(0.5, 40), 1)
    if kind == "string":
        return rng.choice(_STRINGS)
    if kind == "DateTime":
        return _date(now.date() + timedelta(days=rng.randint(-20, 40)), rng)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "Rating":
        return rng.randint(1, int(data.get("max", 5)))
    if kind == "Assign":
        return rng.sample(handles, k=1) if handles else None
    return None


def add_task_details(
    ws: Workspace, project_id: str, rng: random.Random, now: datetime = SAMPLE_NOW
) -> None:
    """Give the tasks of one project assignees (its members), dates, notes and values.

    The first task gets a value for every field, so every field type appears.
    """
    project = ws.projects[project_id]
    handles = [m["handle"] for m in project.members]
    for n, task in enumerate(project.tasks.records()):
        parts: dict[str, Any] = {}
        r = rng.random()
        if handles and r < 0.75:
            parts["assignees"] = rng.sample(handles, k=2 if r < 0.1 and len(handles) > 1 else 1)
        if rng.random() < 0.55:
            parts["date"] = _task_date(task["completed"], now, rng)
        if rng.random() < 0.25:
            kind, value = rng.choice(_NOTES)
            parts["note"] = {"type": kind, "value": value}
        values = {}
        for field in project.fields:
            if n == 0 or rng.random() < 0.5:
                value = _field_value(field["data"], handles, now, rng, task["completed"])
                if value is not None:
                    values[field["id"]] = value
        if values:
            parts["fields"] = values
        if parts:
            ws.set_task_details(project_id, task["id"], **parts)


def one_day_of_details(ws: Workspace, project_id: str, rng: random.Random) -> dict[str, int]:
    """One day of v1 detail changes in one project: an open task or two handed to
    another member, a due date or two slipping by a few days (the caller holds the lock)."""
    project = ws.projects[project_id]
    table = project.tasks
    open_ids = [table.id_at(i) for i, done in enumerate(table.completed_flags()) if not done]
    handles = [m["handle"] for m in project.members]
    reassigned = rescheduled = 0
    owned = [t for t in open_ids if project.details.get(t, {}).get("assignees")]
    if len(handles) > 1 and owned and rng.random() < 0.6:
        for task_id in rng.sample(owned, min(len(owned), rng.randint(1, 2))):
            current = project.details[task_id]["assignees"]
            others = [h for h in handles if h not in current]
            if others:
                project.details[task_id]["assignees"] = [rng.choice(others)]
                reassigned += 1
    dated = [t for t in open_ids if project.details.get(t, {}).get("date")]
    if dated and rng.random() < 0.6:
        for task_id in rng.sample(dated, min(len(dated), rng.randint(1, 2))):
            item = project.details[task_id]["date"]
            end = item.get("end")
            moving = end if isinstance(end, dict) and "date" in end else item["start"]
            day = date.fromisoformat(moving["date"]) + timedelta(days=rng.randint(1, 7))
            moving["date"] = day.isoformat()
            rescheduled += 1
    return {"reassigned": reassigned, "rescheduled": rescheduled}
