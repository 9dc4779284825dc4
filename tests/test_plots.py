"""Each plot draws a readable PNG (Agg backend) from real frames, and copes with empty ones."""

from __future__ import annotations

import re
import sys

import matplotlib
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

matplotlib.use("Agg")

import matplotlib.image as mpimg
import matplotlib.pyplot as plt

from taskade_frames import load_space, load_spaces, plots
from taskade_frames.space import SpaceFrames


@pytest.fixture(scope="module")
def space(_emulator) -> SpaceFrames:
    """The sample workspace's first space (read only, so one load serves the module)."""
    from taskade_frames import TaskadeClient

    from .conftest import FAKE_TOKEN

    with TaskadeClient(FAKE_TOKEN, base_url=_emulator.base_url) as client:
        return load_space(load_spaces(client)["id"].iloc[0], client, progress=False)


@pytest.fixture
def history(space) -> pd.DataFrame:
    """A ``completion_history`` frame built by hand: three weekly snapshots, work getting done."""
    base = space.completion()
    rows = []
    for week, when in enumerate(pd.date_range("2026-03-02", periods=3, freq="7D", tz="UTC")):
        for p in base.itertuples():
            completed = min(int(p.tasks), int(p.completed) + 2 * week)
            rows.append(
                {
                    "snapshot": when,
                    "space_id": space.space_id,
                    "project_id": p.project_id,
                    "project_name": p.project_name,
                    "tasks": int(p.tasks),
                    "completed": completed,
                }
            )
    df = pd.DataFrame(rows)
    df["tasks"] = df["tasks"].astype("Int64")
    df["completed"] = df["completed"].astype("Int64")
    df["share_completed"] = (df["completed"] / df["tasks"]).astype("Float64")
    return df


def save(ax, tmp_path, name):
    """Save the Axes' figure, close it (pyplot keeps figures alive otherwise), return the path."""
    path = tmp_path / f"{name}.png"
    ax.figure.savefig(path, dpi=72)
    plt.close(ax.figure)
    return path


def assert_drawn(path, min_ink=0.02):
    """A real picture: a few KB, and a share of pixels that differ from the white background."""
    assert path.stat().st_size > 5_000, path
    pixels = mpimg.imread(path)[..., :3]
    ink = np.mean(np.any(pixels < 0.95, axis=-1))
    assert ink > min_ink, f"{path.name}: only {ink:.1%} of the pixels are not background"


def test_completion_by_project(space, tmp_path):
    ax = plots.completion_by_project(space.completion())

    assert ax.get_title() == "Completion by project"
    assert ax.get_xlabel() == "Share of tasks completed"
    labels = {t.get_text() for t in ax.get_yticklabels()}
    assert labels == set(space.projects["name"])
    assert_drawn(save(ax, tmp_path, "by_project"))


def test_completion_by_project_takes_space_frames_and_an_ax(space, tmp_path):
    _fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))

    ax = plots.completion_by_project(space, ax=right, top=2)

    assert ax is right and not left.has_data()
    assert len(ax.get_yticklabels()) == 2
    assert "largest 2 of" in ax.get_title()
    assert_drawn(save(ax, tmp_path, "by_project_top2"))


def test_completion_by_depth(space, tmp_path):
    ax = plots.completion_by_depth(space.tasks)

    depths = sorted(space.tasks["depth"].dropna().unique().tolist())
    assert [int(float(t.get_text())) for t in ax.get_xticklabels()] == depths
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["done", "open"]
    assert "Depth" in ax.get_xlabel()
    assert_drawn(save(ax, tmp_path, "by_depth"))


def test_open_work_by_branch(space, tmp_path):
    ax = plots.open_work_by_branch(space.tasks, projects=space.projects, top=10)

    assert len(ax.get_yticklabels()) == 10
    assert "top 10 of" in ax.get_title()
    # Ranked by open tasks, the largest at the top of the chart.
    open_widths = [bar.get_width() for bar in ax.containers[0]]
    assert open_widths == sorted(open_widths)
    assert any(" › " in t.get_text() for t in ax.get_yticklabels())  # project › branch
    assert_drawn(save(ax, tmp_path, "open_work"))


def test_open_work_of_one_project_labels_branches_by_text(space, tmp_path):
    pid = space.projects["id"].iloc[0]
    tasks = space.tasks[space.tasks["project_id"] == pid]

    ax = plots.open_work_by_branch(tasks)

    roots = set(tasks.loc[tasks["depth"] == 0, "text"])
    assert {t.get_text() for t in ax.get_yticklabels()} <= {plots._short(r) for r in roots}
    assert_drawn(save(ax, tmp_path, "open_work_one"))


def test_completion_over_time(history, tmp_path):
    ax = plots.completion_over_time(history, top=3)

    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0] == "all projects" and len(labels) == 4
    assert "largest 3 of" in ax.get_title()
    assert ax.get_xlabel() == "Snapshot time (UTC), 2026"
    overall = ax.get_lines()[0].get_ydata()
    assert len(overall) == 3 and overall[0] <= overall[-1]
    assert_drawn(save(ax, tmp_path, "over_time"))


def test_completion_over_time_with_one_snapshot(history, tmp_path):
    first = history[history["snapshot"] == history["snapshot"].min()]

    ax = plots.completion_over_time(first)

    assert_drawn(save(ax, tmp_path, "one_snapshot"), min_ink=0.01)


def history_at(times) -> pd.DataFrame:
    """Two projects getting done over the given snapshot times."""
    rows = [
        {
            "snapshot": when,
            "project_id": pid,
            "project_name": pid.upper(),
            "tasks": 10,
            "completed": min(10, i + offset),
        }
        for i, when in enumerate(times)
        for pid, offset in (("a", 0), ("b", 2))
    ]
    return pd.DataFrame(rows)


def tick_labels(times) -> tuple[list[str], str, str]:
    """Draw the over-time plot (Agg) and read back its x tick labels, offset and label."""
    ax = plots.completion_over_time(history_at(times))
    ax.figure.canvas.draw()
    labels = [t.get_text() for t in ax.get_xticklabels()]
    offset = ax.xaxis.get_offset_text().get_text()
    plt.close(ax.figure)
    return labels, offset, ax.get_xlabel()


def test_over_time_axis_for_snapshots_seconds_apart():
    times = pd.date_range("2026-03-02 10:42:59", periods=4, freq="20s", tz="UTC")

    labels, _, xlabel = tick_labels(times)

    # Not "59.0 59.2 ... 10:43": one tick per snapshot, at its own second.
    assert labels == ["10:42:59", "10:43:19", "10:43:39", "10:43:59"]
    assert xlabel == "Snapshot time (UTC), 2026-03-02"


def test_over_time_axis_for_many_snapshots_a_second_apart():
    times = pd.date_range("2026-03-02 10:42:59", periods=20, freq="1s", tz="UTC")

    labels, offset, _ = tick_labels(times)

    assert len(labels) >= 3 and len(set(labels)) == len(labels)
    assert all(re.fullmatch(r"10:4[23]:\d\d", label) for label in labels), labels
    assert offset == "2026-03-02"


def test_over_time_axis_for_snapshots_months_apart():
    few, _, few_label = tick_labels(pd.date_range("2025-11-01", periods=4, freq="31D", tz="UTC"))
    many, _, _ = tick_labels(pd.date_range("2024-01-01", periods=30, freq="MS", tz="UTC"))

    assert few == ["Nov 2025", "Dec 2025", "Jan 2026", "Feb 2026"] and ":" not in few_label
    assert "2025" in many and "2026" in many
    assert not any(":" in label or "." in label for label in many), many


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 20), seconds=st.integers(1, 200 * 86_400))
def test_over_time_ticks_never_show_fractions_of_a_second(n, seconds):
    times = pd.date_range("2026-03-02 10:42:59", periods=n, freq=f"{seconds}s", tz="UTC")

    labels, _, _ = tick_labels(times)

    assert labels and all(labels), labels
    assert not any(re.search(r"\d\.\d", label) for label in labels), labels
    if n <= plots._FEW_SNAPSHOTS:  # one tick per snapshot, each told apart
        assert len(labels) == n and len(set(labels)) == n, labels


def test_over_time_axis_tells_apart_snapshots_within_one_second():
    # two exports in a quick loop commit in the same second ("...Z" and "...Z-2")
    times = pd.to_datetime(
        ["2026-03-02 10:42:59.100", "2026-03-02 10:42:59.650", "2026-03-02 10:43:00.200"], utc=True
    )

    labels, _, xlabel = tick_labels(times)

    assert labels == ["10:42:59.1", "10:42:59.6", "10:43:00.2"]
    assert xlabel == "Snapshot time (UTC), 2026-03-02"


def test_over_time_axis_says_the_year_when_close_snapshots_span_two_years():
    times = pd.to_datetime(
        ["2025-06-01 10:00:00", "2026-01-01 10:00:00", "2026-01-01 10:00:05"], utc=True
    )

    labels, _, xlabel = tick_labels(times)

    assert labels == ["10:00:00\n2025-06-01", "10:00:00\n2026-01-01", "10:00:05\n2026-01-01"]
    assert xlabel == "Snapshot time (UTC)"


# Snapshots a few ms to years apart, often around a new year: steps of every scale.
STEP_MS = st.one_of(
    st.integers(1, 999),
    st.integers(1_000, 86_400_000),
    st.integers(86_400_000, 3 * 365 * 86_400_000),
)
FEW_TIMES = st.tuples(
    st.datetimes(
        min_value=pd.Timestamp("2020-12-31 23:59:58").to_pydatetime(),
        max_value=pd.Timestamp("2027-12-31").to_pydatetime(),
    ),
    st.lists(STEP_MS, min_size=1, max_size=plots._FEW_SNAPSHOTS - 1),
).map(lambda a: pd.Timestamp(a[0]).floor("ms") + pd.to_timedelta(np.cumsum([0, *a[1]]), unit="ms"))


@given(FEW_TIMES)
def test_a_few_snapshots_at_any_times_each_get_a_tick_that_says_when(times):
    texts, suffix = plots._tick_texts(times)

    assert len(set(texts)) == len(times), texts
    for when, text in zip(times, texts, strict=True):
        assert str(when.year) in text + suffix, (when, text, suffix)


@pytest.mark.parametrize(
    ("plot", "frame", "message"),
    [
        (plots.completion_by_project, "completion", "No projects"),
        (plots.completion_by_depth, "tasks", "No tasks"),
        (plots.open_work_by_branch, "tasks", "No tasks"),
        (plots.completion_over_time, "history", "No snapshots yet"),
    ],
)
def test_empty_frames_give_an_axes_that_says_so(plot, frame, message, space, history, tmp_path):
    frames = {"completion": space.completion(), "tasks": space.tasks, "history": history}
    empty = frames[frame].iloc[0:0]

    ax = plot(empty)

    assert [t.get_text() for t in ax.texts] == [message]
    save(ax, tmp_path, f"empty_{frame}")


def test_importing_plots_does_not_import_matplotlib_pyplot_eagerly():
    import subprocess

    code = "import sys, taskade_frames.plots, taskade_frames;print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
