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
    return schemas.frame(
        "task_dates", {k: [r.get(k) for r in rows] for k in schemas.columns("task_dates")}
    )


def test_overdue_means_open_and_due_before_the_snapshot():
    tasks = tasks_frame(
        [
            {"project_id": "p", "id": i, "text": i, "completed": done}
            for i, done in [("a", False), ("b", True), ("c", False), ("d", False), ("e", False)]
        ]
    )
    d = pd.Timestamp
    dates = dates_frame(
        [
            {"project_id": "p", "task_id": "a", "start_date": d("2025-08-01").date()},
            {"project_id": "p", "task_id": "b", "start_date": d("2025-07-01").date()},  # done
            {"project_id": "p", "task_id": "c", "start_date": d("2025-08-08").date()},  # today
            {
                "project_id": "p",
                "task_id": "d",
                "start_date": d("2025-07-01").date(),
                "end_date": d("2025-08-20").date(),
            },  # ends later
            {
                "project_id": "p",
                "task_id": "e",
                "start_date": d("2025-08-08").date(),
                "start_utc": d("2025-08-08T07:00Z"),
            },  # an instant already past
        ]
    )
    late = overdue_tasks(tasks, dates, "2025-08-08T09:00Z")
    assert late.task_id.tolist() == ["a", "e"]
    assert late.days_overdue.tolist() == [7, 0]


def test_open_work_counts_each_assignee_and_the_unassigned():
    tasks = tasks_frame(
        [
            {"project_id": "p", "id": i, "text": i, "completed": done}
            for i, done in [("a", False), ("b", False), ("c", True), ("d", False)]
        ]
    )
    assignees = schemas.frame(
        "task_assignees",
        {
            "project_id": ["p"] * 4,
            "task_id": ["a", "b", "b", "c"],
            "position": [0, 0, 1, 0],
            "handle": ["ana", "ana", "bo", "bo"],
            "display_name": ["Ana", "Ana", None, "Bo"],
        },
    )
    by = open_work_by_assignee(tasks, assignees)
    assert by.to_dict("list") == {
        "handle": ["ana", "(unassigned)", "bo"],
        "display_name": ["Ana", "(unassigned)", "bo"],
        "open_tasks": [2, 1, 1],
    }


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
        empty = plots.open_work_by_assignee(
            space.tasks.iloc[:0], schemas.empty_frame("task_assignees")
        )
    else:
        ax = plots.overdue_by_project(
            space.tasks, space.details.task_dates, _emulator.now, projects=space.projects
        )
        labels = {t.get_text() for t in ax.get_yticklabels()}
        assert labels <= set(space.projects.name) and labels
        empty = plots.overdue_by_project(space.tasks, space.details.task_dates, "2000-01-01T00:00Z")
    ax.figure.savefig(tmp_path / "plot.png")
    assert (tmp_path / "plot.png").stat().st_size > 5_000
    assert empty.texts and empty.texts[0].get_text() in ("No open tasks", "Nothing overdue")
    plt.close("all")


def test_detail_changes_report_reassignment_and_moved_due_dates():
    from taskade_frames.details import detail_changes

    def assignees(pairs):
        return schemas.frame(
            "task_assignees",
            {
                "project_id": ["p"] * len(pairs),
                "task_id": [t for t, _ in pairs],
                "position": [0] * len(pairs),
                "handle": [h for _, h in pairs],
                "display_name": [None] * len(pairs),
            },
        )

    d = pd.Timestamp
    before = {
        "task_assignees": assignees([("a", "ana"), ("b", "bo"), ("b", "ana")]),
        "task_dates": dates_frame(
            [
                {"project_id": "p", "task_id": "a", "start_date": d("2025-08-01").date()},
                {"project_id": "p", "task_id": "c", "start_date": d("2025-08-01").date()},
            ]
        ),
    }
    after = {
        "task_assignees": assignees([("a", "cy"), ("b", "ana"), ("b", "bo")]),
        "task_dates": dates_frame(
            [
                {
                    "project_id": "p",
                    "task_id": "a",
                    "start_date": d("2025-08-01").date(),
                    "end_date": d("2025-08-09").date(),
                },
                {
                    "project_id": "p",
                    "task_id": "b",
                    "start_date": d("2025-08-03").date(),
                    "start_utc": d("2025-08-03T10:00Z"),
                },
            ]
        ),
    }
    keys = pd.DataFrame({"project_id": ["p"] * 3, "task_id": ["a", "b", "c"]})
    got = detail_changes(keys, before, after)
    assert got.to_dict("list") == {
        "project_id": ["p"] * 4,
        "task_id": ["a", "a", "b", "c"],
        "change": ["reassigned", "due_changed", "due_changed", "due_changed"],
        "value_before": ["ana", "2025-08-01", "", "2025-08-01"],
        "value_after": ["cy", "2025-08-09", "2025-08-03T10:00:00+00:00", ""],
    }
    # An older snapshot without details says nothing about them.
    assert detail_changes(keys, {}, after).empty
    only_dates = detail_changes(keys, {"task_dates": before["task_dates"]}, after)
    assert set(only_dates.change) == {"due_changed"}
