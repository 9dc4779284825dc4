"""One completion vocabulary: the same names and values in frames, history, summary and plots."""

from __future__ import annotations

import matplotlib
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

matplotlib.use("Agg")

import matplotlib.pyplot as plt

import taskade_frames as tf
from taskade_frames import plots
from taskade_frames.completion import PROJECT_COLUMNS, SUMMARY_COLUMNS, completion_by_project
from taskade_frames.trees import add_tree_columns


def _tasks(rows, project="p1"):
    """A task frame from ``(id, parent_id, completed)`` rows of one project."""
    frame = pd.DataFrame(rows, columns=["id", "parent_id", "completed"])
    frame.insert(0, "project_id", project)
    return frame.astype(
        {"id": "string[pyarrow]", "parent_id": "string[pyarrow]", "completed": "boolean"}
    )


PROJECTS = pd.DataFrame({"id": ["p1", "p2"], "name": ["Launch", "Empty"]})


def test_headings_count_as_tasks_but_not_as_leaves():
    # A heading "h" ticked before its two children: 2 of 3 tasks completed, 1 of 2 leaves done.
    tasks = _tasks([("h", None, True), ("a", "h", True), ("b", "h", False)])

    out = completion_by_project(tasks, PROJECTS)

    assert list(out.columns) == list(PROJECT_COLUMNS)
    launch = out.set_index("project_name").loc["Launch"]
    assert (launch["tasks"], launch["completed"]) == (3, 2)
    assert (launch["leaves_total"], launch["leaves_done"]) == (2, 1)
    assert launch["share_completed"] == pytest.approx(2 / 3)
    assert launch["share_done"] == pytest.approx(0.5)
    empty = out.set_index("project_name").loc["Empty"]
    assert (
        empty["tasks"] == 0 and pd.isna(empty["share_completed"]) and pd.isna(empty["share_done"])
    )
    assert out["project_name"].tolist() == ["Launch", "Empty"]  # largest first


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.booleans()), min_size=1, max_size=40))
def test_share_done_is_the_tree_columns_rolled_up_to_the_project(links):
    # Task i hangs under an earlier task (or is a root): any forest.
    rows = [
        (f"t{i}", None if i == 0 or parent % 3 == 0 else f"t{parent % i}", done)
        for i, (parent, done) in enumerate(links)
    ]
    tasks = add_tree_columns(_tasks(rows))

    out = completion_by_project(tasks, PROJECTS.iloc[:1]).iloc[0]
    plain = completion_by_project(
        tasks[["project_id", "id", "parent_id", "completed"]], PROJECTS.iloc[:1]
    ).iloc[0]

    roots = tasks[tasks["depth"] == 0]
    assert out["leaves_total"] == roots["leaves_total"].sum()
    assert out["leaves_done"] == roots["leaves_done"].sum()
    assert out["completed"] == int(tasks["completed"].sum())
    pd.testing.assert_series_equal(out, plain)  # with or without tree columns: same answer


def test_every_frame_says_it_the_same_way(client, tmp_path):
    spaces = tf.load_spaces(client)
    sid = spaces["id"].iloc[0]
    space = tf.load_space(sid, client, progress=False)
    tf.export_space(sid, tmp_path, client, progress=False)

    per_project = space.completion()
    history = tf.completion_history(tmp_path)
    summary = tf.completion_summary(client, progress=False)

    assert list(history.columns) == ["snapshot", "space_id", *PROJECT_COLUMNS]
    assert list(summary.columns) == list(SUMMARY_COLUMNS)
    # The same project gets the same numbers live and from the snapshot.
    live = per_project.set_index("project_id")[list(PROJECT_COLUMNS[1:])]
    saved = history.set_index("project_id")[list(PROJECT_COLUMNS[1:])]
    pd.testing.assert_frame_equal(saved.loc[live.index], live, check_dtype=False)
    # The tree columns of one project add up to its share_done.
    pid = per_project["project_id"].iloc[0]
    roots = tf.load_tasks(pid, client).query("depth == 0")
    assert per_project["share_done"].iloc[0] == pytest.approx(
        roots["leaves_done"].sum() / roots["leaves_total"].sum()
    )
    # One row per space; its counts are the sums over its projects.
    assert summary["space_id"].tolist() == spaces["id"].tolist()
    assert summary["space_name"].tolist() == spaces["name"].tolist()
    row = summary.set_index("space_id").loc[sid]
    assert row["projects"] == len(space.projects) and row["errors"] == 0
    for count in ("tasks", "completed", "leaves_total", "leaves_done"):
        assert row[count] == per_project[count].sum()
    assert row["share_done"] == pytest.approx(row["leaves_done"] / row["leaves_total"])


def test_a_summary_of_spaces_already_loaded(client):
    sid = tf.load_spaces(client)["id"].iloc[1]
    loaded = tf.load_space(sid, client, progress=False)

    summary = tf.completion_summary([loaded])

    assert summary["space_id"].tolist() == [sid]
    assert summary["tasks"].iloc[0] == len(loaded.tasks)
    with pytest.raises(TypeError, match="expected SpaceFrames"):
        tf.completion_summary([loaded.tasks])
    with pytest.raises(ValueError, match="space_ids"):
        tf.completion_summary([loaded], space_ids=[sid])


def test_plots_take_completion_and_history_frames_alike(client, tmp_path):
    sid = tf.load_spaces(client)["id"].iloc[0]
    tf.export_space(sid, tmp_path, client, progress=False)
    history = tf.completion_history(tmp_path)
    completion = tf.load_space(sid, client, progress=False).completion()

    # The mistake from the issue: a history frame used to raise KeyError 'name'.
    from_history = plots.completion_by_project(history)
    from_completion = plots.completion_by_project(completion)
    by_leaves = plots.completion_by_project(completion, measure="share_done")
    over_time = plots.completion_over_time(history, measure="share_done")

    labels = [t.get_text() for t in from_completion.get_yticklabels()]
    assert sorted(labels) == sorted(t.get_text() for t in from_history.get_yticklabels())
    assert from_history.get_title().startswith("Completion by project at ")
    assert by_leaves.get_xlabel() == "Share of leaves done"
    assert over_time.get_ylabel() == "Share of leaves done"
    for ax in (from_history, from_completion, by_leaves, over_time):
        plt.close(ax.figure)


def test_plots_say_what_a_frame_lacks():
    with pytest.raises(ValueError, match="share_done needs the columns leaves_done"):
        plots.completion_by_project(
            pd.DataFrame({"project_name": ["a"], "tasks": [1], "completed": [0]}),
            measure="share_done",
        )
    with pytest.raises(ValueError, match="measure must be one of"):
        plots.completion_by_project(pd.DataFrame(), measure="percent")
    with pytest.raises(ValueError, match="completion_history"):
        plots.completion_over_time(pd.DataFrame({"tasks": [1], "completed": [0]}))
    with pytest.raises(TypeError, match="got list"):
        plots.completion_by_project([1, 2])


def test_every_derived_column_is_defined_where_a_newcomer_looks():
    from taskade_frames import completion, schemas, snapshots, space

    tree_columns = [c for c in schemas.columns("tasks")]
    for column in tree_columns:
        assert f"``{column}``" in tf.load_tasks.__doc__, column
    for frame in ("completion", "completion_history", "completion_summary"):
        for column in schemas.columns(frame):
            if column in completion.COUNTS:
                assert f"``{column}``" in completion.__doc__, column
    assert "``share_done``" in space.SpaceFrames.completion.__doc__
    assert "``share_done``" in snapshots.completion_history.__doc__
    assert "``share_done``" in tf.completion_summary.__doc__
    assert "leaves_done / leaves_total" in tf.load_tasks.__doc__
