"""How far along the work is: one vocabulary for every frame, plot and summary.

Two measures, named the same wherever they appear (task frames,
``SpaceFrames.completion()``, ``completion_history``, ``completion_summary``, the
plots and the CLI):

* ``share_completed`` = ``completed / tasks``: over **all tasks**, parents
  included. ``tasks`` counts the tasks, ``completed`` those whose checkbox is
  ticked. It answers "how many items are ticked off".
* ``share_done`` = ``leaves_done / leaves_total``: over **leaves** only (tasks
  with no children), so a heading is not counted as work, and a parent ticked
  before its children does not make them done. ``leaves_total`` counts the
  leaves, ``leaves_done`` those ticked. It answers "how much of the actual work is
  done". In a task frame it is computed per task, over the leaves below it (a
  leaf counts itself; see :mod:`taskade_frames.trees`).

Both are NA, not 0, when there is nothing to count (a project with no tasks).
Per project the name column is ``project_name``, next to ``project_id``.

The two can differ a lot: in a project with many headings, ``tasks - completed``
counts headings as open work, ``leaves_total - leaves_done`` does not.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pandas as pd

from . import schemas

if TYPE_CHECKING:  # pragma: no cover
    from .client import TaskadeClient
    from .space import SpaceFrames

__all__ = [
    "COUNTS",
    "PROJECT_COLUMNS",
    "SUMMARY_COLUMNS",
    "completion_by_project",
    "completion_summary",
    "shares",
]

# Columns and dtypes are declared in the entity table: completion, completion_history,
# completion_summary.
#: ``SpaceFrames.completion()``: one row per project.
PROJECT_COLUMNS = tuple(schemas.columns("completion"))
#: ``completion_summary()``: one row per space.
SUMMARY_COLUMNS = tuple(schemas.columns("completion_summary"))
#: The counts behind the two measures, in the order frames show them.
COUNTS = PROJECT_COLUMNS[2:]

_INT = pd.Int64Dtype()
_FLOAT = pd.Float64Dtype()


def _leaves(tasks: pd.DataFrame) -> pd.Series:
    """Which rows are leaves: ``is_leaf`` when the frame has tree columns, else from links."""
    if "is_leaf" in tasks.columns and not tasks["is_leaf"].isna().any():
        return tasks["is_leaf"].astype(bool)
    parents = pd.MultiIndex.from_arrays(
        [tasks["project_id"].astype(object), tasks["parent_id"].astype(object)]
    )
    rows = pd.MultiIndex.from_arrays(
        [tasks["project_id"].astype(object), tasks["id"].astype(object)]
    )
    return pd.Series(~rows.isin(parents), index=tasks.index)


def shares(frame: pd.DataFrame) -> pd.DataFrame:
    """(Re)compute ``share_completed`` and ``share_done`` from the counts beside them.

    Used after summing counts (per space, per snapshot), where averaging shares
    would weigh a 3-task project like a 300-task one. Columns come back in the
    frame's order, with the counts and shares in the order of :data:`COUNTS`.

    >>> shares(pd.DataFrame({"tasks": [4, 0], "completed": [1, 0],
    ...                      "leaves_total": [2, 0], "leaves_done": [1, 0]}))
       tasks  completed  share_completed  leaves_total  leaves_done  share_done
    0      4          1             0.25             2            1         0.5
    1      0          0             <NA>             0            0        <NA>
    """
    out = frame.copy()
    for count in ("tasks", "completed", "leaves_total", "leaves_done"):
        out[count] = out[count].astype(_INT)
    out["share_completed"] = (out["completed"] / out["tasks"].where(out["tasks"] > 0)).astype(
        _FLOAT
    )
    out["share_done"] = (
        out["leaves_done"] / out["leaves_total"].where(out["leaves_total"] > 0)
    ).astype(_FLOAT)
    others = [c for c in frame.columns if c not in COUNTS]
    first = next((i for i, c in enumerate(frame.columns) if c in COUNTS), len(others))
    return out[others[:first] + list(COUNTS) + others[first:]]


def completion_by_project(tasks: pd.DataFrame, projects: pd.DataFrame) -> pd.DataFrame:
    """One row per project: both measures and their counts, largest project first.

    Args:
        tasks: a task frame with ``project_id``, ``id``, ``parent_id`` and
            ``completed`` (tree columns, when present, decide what is a leaf).
        projects: with ``id`` and ``name``; every project gets a row, with
            zero counts and NA shares when it has no tasks.

    Returns:
        ``project_id``, ``project_name``, ``tasks``, ``completed``,
        ``share_completed``, ``leaves_total``, ``leaves_done``, ``share_done``
        (see the module docstring), sorted by ``tasks`` then ``project_name``.
    """
    done = tasks["completed"].astype("boolean").fillna(False).astype(bool)
    leaf = _leaves(tasks)
    per_task = pd.DataFrame(
        {
            "project_id": tasks["project_id"].astype(object),
            "tasks": 1,
            "completed": done.astype(int),
            "leaves_total": leaf.astype(int),
            "leaves_done": (leaf & done).astype(int),
        }
    )
    counts = per_task.groupby("project_id", sort=False).sum().reset_index()
    out = pd.DataFrame(
        {"project_id": projects["id"].astype(object), "project_name": projects["name"]}
    )
    out = out.merge(counts, on="project_id", how="left")
    for count in ("tasks", "completed", "leaves_total", "leaves_done"):
        out[count] = out[count].fillna(0)
    out = shares(out)
    out = out.sort_values(["tasks", "project_name"], ascending=[False, True], ignore_index=True)
    return schemas.coerce(out[list(PROJECT_COLUMNS)], "completion")


def _space_row(space_id: str, name: Any, space: SpaceFrames) -> dict[str, Any]:
    per_project = space.completion()
    row: dict[str, Any] = {
        "space_id": space_id,
        "space_name": name,
        "projects": len(space.projects),
        "errors": len(space.errors),
    }
    for count in ("tasks", "completed", "leaves_total", "leaves_done"):
        row[count] = int(per_project[count].sum())
    return row


def completion_summary(
    source: TaskadeClient | Iterable[SpaceFrames] | None = None,
    *,
    space_ids: Iterable[str] | None = None,
    max_workers: int = 8,
    progress: bool = True,
) -> pd.DataFrame:
    """One row per space: how far along its work is, across every space in one call.

    Args:
        source: a client (default: the session's) to load every space it sees,
            or ``SpaceFrames`` already loaded (``load_space``), one per space.
        space_ids: with a client, only these spaces (ids or links).
        max_workers, progress: as for ``load_space``, for each space in turn.

    Returns:
        ``space_id``, ``space_name``, ``projects``, ``tasks``, ``completed``,
        ``share_completed``, ``leaves_total``, ``leaves_done``, ``share_done``
        (summed over the space's projects; see the module docstring) and
        ``errors``: listings that failed, so counts that are not complete say so.

    >>> completion_summary(client)  # doctest: +SKIP
    """
    from .space import SpaceFrames

    if source is None or not isinstance(source, Iterable) or isinstance(source, str):
        rows = _live_rows(source, space_ids, max_workers, progress)
    else:
        if space_ids is not None:
            raise ValueError("space_ids applies to a client, not to loaded SpaceFrames")
        loaded = list(source)
        for space in loaded:
            if not isinstance(space, SpaceFrames):
                raise TypeError(
                    f"expected SpaceFrames (from load_space), got {type(space).__name__}"
                )
        rows = [_space_row(s.space_id, pd.NA, s) for s in loaded]
    frame = pd.DataFrame(rows, columns=[c for c in SUMMARY_COLUMNS if not c.startswith("share")])
    return schemas.coerce(shares(frame), "completion_summary")


def _live_rows(
    client: Any, space_ids: Iterable[str] | None, max_workers: int, progress: bool
) -> list[dict[str, Any]]:
    from tqdm.auto import tqdm

    from . import loaders, space

    spaces = loaders.load_spaces(client)
    names = dict(zip(spaces["id"].tolist(), spaces["name"].tolist(), strict=True))
    wanted = list(names) if space_ids is None else list(space_ids)
    rows = []
    # One bar for the call: it counts spaces (a total known at once) when there are
    # several, else the one space's own bar from load_space shows.
    several = len(wanted) > 1
    for space_id in tqdm(
        wanted, desc="spaces", unit="space", leave=False, disable=not (progress and several)
    ):
        loaded = space.load_space(
            space_id, client, max_workers=max_workers, progress=progress and not several
        )
        rows.append(_space_row(loaded.space_id, names.get(loaded.space_id, pd.NA), loaded))
    return rows
