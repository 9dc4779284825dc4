"""Who owns the open work and what is overdue: the numbers, then the pictures."""

from __future__ import annotations

import matplotlib
import pandas as pd
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from taskade_frames import load_space, plots, schemas
from taskade_frames.details import open_work_by_assignee, overdue_tasks

from .conftest import FAKE_TOKEN


@pytest.fixture(scope="module")
def space(_emulator):
    from taskade_frames import TaskadeClient

    acme = next(s.id for s in _emulator.workspace.spaces.values() if s.name == "Acme Product")
    with TaskadeClient(FAKE_TOKEN, base_url=_emulator.base_url) as client:
        return load_space(acme, client, progress=False, details=("assignees", "dates"))


def tasks_frame(rows):
    return schemas.frame("tasks", {k: [r[k] for r in rows] for k in rows[0]})


def dates_frame(rows):
    return schemas.frame("task_dates", {k: [r.get(k) for r in rows] for k in
                                        schemas.columns("task_dates")})


def test_overdue_means_open_and_due_before_the_snapshot():
    tasks = tasks_frame([
        {"project_id": "p", "id": i, "text": i, "completed": done}
        for i, done in [("a", False), ("b", True), ("c", False), ("d", False), ("e", False)]
    ])
    d = pd.Timestamp
    dates = dates_frame([
        {"project_id": "p", "task_id": "a", "start_date": d("2025-08-01").date()},
        {"project_id": "p", "task_id": "b", "start_date": d("2025-07-01").date()},  # done
        {"project_id": "p", "task_id": "c", "start_date": d("2025-08-08").date()},  # today
        {"project_id": "p", "task_id": "d", "start_date": d("2025-07-01").date(),
         "end_date": d("2025-08-20").date()},  # ends later
        {"project_id": "p", "task_id": "e", "start_date": d("2025-08-08").date(),
         "start_utc": d("2025-08-08T07:00Z")},  # an instant already past
    ])
    late = overdue_tasks(tasks, dates, "2025-08-08T09:00Z")
    assert late.task_id.tolist() == ["a", "e"]
    assert late.days_overdue.tolist() == [7, 0]


def test_open_work_counts_each_assignee_and_the_unassigned():
    tasks = tasks_frame([{"project_id": "p", "id": i, "text": i, "completed": done}
                         for i, done in [("a", False), ("b", False), ("c", True), ("d", False)]])
    assignees = schemas.frame("task_assignees", {
        "project_id": ["p"] * 4, "task_id": ["a", "b", "b", "c"], "position": [0, 0, 1, 0],
        "handle": ["ana", "ana", "bo", "bo"], "display_name": ["Ana", "Ana", None, "Bo"]})
    by = open_work_by_assignee(tasks, assignees)
    assert by.to_dict("list") == {"handle": ["ana", "(unassigned)", "bo"],
                                  "display_name": ["Ana", "(unassigned)", "bo"],
                                  "open_tasks": [2, 1, 1]}


def test_the_sample_has_overdue_work_in_several_projects(space, _emulator):
    late = overdue_tasks(space.tasks, space.details.task_dates, _emulator.now)
    assert late.project_id.nunique() >= 3
    assert (late.days_overdue >= 0).all()


@pytest.mark.parametrize("draw", ["assignee", "overdue"])
def test_plots_draw_real_and_empty_frames(space, _emulator, draw, tmp_path):
    if draw == "assignee":
        ax = plots.open_work_by_assignee(space.tasks, space.details.task_assignees, top=10)
        labels = [t.get_text() for t in ax.get_yticklabels()]
        assert "(unassigned)" in labels and len(labels) == 11
        empty = plots.open_work_by_assignee(space.tasks.iloc[:0],
                                            schemas.empty_frame("task_assignees"))
    else:
        ax = plots.overdue_by_project(space.tasks, space.details.task_dates, _emulator.now,
                                      projects=space.projects)
        labels = {t.get_text() for t in ax.get_yticklabels()}
        assert labels <= set(space.projects.name) and labels
        empty = plots.overdue_by_project(space.tasks, space.details.task_dates,
                                         "2000-01-01T00:00Z")
    ax.figure.savefig(tmp_path / "plot.png")
    assert (tmp_path / "plot.png").stat().st_size > 5_000
    assert empty.texts and empty.texts[0].get_text() in ("No open tasks", "Nothing overdue")
    plt.close("all")
