"""Matplotlib pictures of task frames: completion per project, by depth, open work, over time.

Every function takes the frame the loaders (or ``SpaceFrames.completion`` /
``snapshots.completion_history``) return, draws on ``ax`` (default: a new figure
sized to the data), and returns the Axes. An empty frame gives an Axes that says
so instead of an error. matplotlib is imported inside the functions, so importing
this module costs nothing until a plot is drawn.

    >>> from taskade_frames import plots
    >>> ax = plots.completion_by_project(space.completion())  # doctest: +SKIP
    >>> ax.figure.savefig("completion.png")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = [
    "MEASURES",
    "completion_by_depth",
    "completion_by_project",
    "completion_over_time",
    "open_work_by_assignee",
    "open_work_by_branch",
    "overdue_by_project",
]

DONE = "#3a7d44"
OPEN = "#e0a458"
MUTED = "#8c8c8c"
_LABEL_CHARS = 38


def _axes(ax: Axes | None, n_bars: int = 0, *, horizontal: bool = False) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    height = max(3.0, 0.34 * n_bars + 1.4) if horizontal else 4.0
    _, new = plt.subplots(figsize=(8.0, height), layout="constrained")
    return new


def _empty(ax: Axes, title: str, message: str) -> Axes:
    ax.set_title(title)
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color=MUTED)
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def _short(text: Any, limit: int = _LABEL_CHARS) -> str:
    text = "" if text is None or text is pd.NA else " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _percent_axis(axis: Any) -> None:
    from matplotlib.ticker import PercentFormatter

    axis.set_major_formatter(PercentFormatter(xmax=1.0))


def _label_bars(ax: Axes, texts: list[str], xs: Any, ys: Any, *, above: bool = False) -> None:
    """Small muted labels at the bars' ends (``xs``, ``ys``): above vertical bars, right of
    horizontal ones."""
    offset = (0, 3) if above else (4, 0)
    ha, va = ("center", "baseline") if above else ("left", "center")
    for text, point in zip(texts, zip(xs, ys, strict=True), strict=True):
        ax.annotate(
            text,
            point,
            textcoords="offset points",
            xytext=offset,
            ha=ha,
            va=va,
            fontsize=8,
            color=MUTED,
        )


def _done(series: pd.Series) -> pd.Series:
    return series.astype("boolean").fillna(False).astype(bool)


#: measure -> (done count, total count, what the axis says); see taskade_frames.completion.
MEASURES = {
    "share_completed": ("completed", "tasks", "Share of tasks completed"),
    "share_done": ("leaves_done", "leaves_total", "Share of leaves done"),
}


def _measure(frame: pd.DataFrame, measure: str) -> tuple[str, str, str]:
    """The counts a measure is computed from, or a ValueError that says what is missing."""
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {', '.join(MEASURES)}, not {measure!r}")
    done, total, label = MEASURES[measure]
    missing = [c for c in (done, total) if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{measure} needs the columns {done} and {total}; this frame has "
            f"{', '.join(map(str, frame.columns))}. Pass SpaceFrames.completion() or "
            "completion_history()"
        )
    return done, total, label


def _latest(completion: Any) -> tuple[pd.DataFrame, str]:
    """Per-project rows to draw: a completion() frame as is, a history at its last snapshot."""
    if hasattr(completion, "completion") and not isinstance(completion, pd.DataFrame):
        completion = completion.completion()
    if not isinstance(completion, pd.DataFrame):
        raise TypeError(
            f"expected SpaceFrames.completion() or completion_history(), got "
            f"{type(completion).__name__}"
        )
    if "snapshot" not in completion.columns or completion.empty:
        return completion, ""
    last = completion["snapshot"].max()
    when = pd.Timestamp(last).strftime("%Y-%m-%d %H:%M")
    return completion[completion["snapshot"] == last], f" at {when} UTC"


def _project_labels(df: pd.DataFrame) -> pd.Series:
    for column in ("project_name", "name", "project_id"):
        if column in df.columns:
            return df[column].astype(object)
    raise ValueError("the frame has no project_name (or project_id) column")


def completion_by_project(
    completion: Any,
    ax: Axes | None = None,
    *,
    top: int = 25,
    measure: str = "share_completed",
) -> Axes:
    """Horizontal bars: share completed (or done) per project, labelled "done/total".

    Args:
        completion: ``SpaceFrames.completion()``, a ``SpaceFrames``, or
            ``completion_history()`` (drawn at its last snapshot).
        top: at most this many projects, the largest by task count.
        measure: ``"share_completed"`` (over all tasks) or ``"share_done"`` (over
            leaves); see :mod:`taskade_frames.completion`.

    Raises:
        ValueError: the frame lacks the counts of ``measure``.

    >>> ax = completion_by_project(space.completion())  # doctest: +SKIP
    """
    completion, at = _latest(completion)
    title = "Completion by project" + at
    done_col, total_col, xlabel = _measure(completion, measure)
    df = completion.copy()
    if df.empty:
        return _empty(_axes(ax), title, "No projects")
    df["label"] = _project_labels(df)
    df["tasks"] = df["tasks"].fillna(0).astype(int) if "tasks" in df else df[total_col]
    df["done_n"] = df[done_col].fillna(0).astype(int)
    df["total_n"] = df[total_col].fillna(0).astype(int)
    df["share"] = (df["done_n"] / df["total_n"].where(df["total_n"] > 0)).astype(float)
    total = len(df)
    df = df.sort_values(["tasks", "label"], ascending=[False, True]).head(top)
    df = df.sort_values(["share", "tasks"], ascending=[True, True], na_position="first")
    ax = _axes(ax, len(df), horizontal=True)
    labels = [_short(n) for n in df["label"]]
    y = range(len(df))
    share = df["share"].fillna(0.0).to_numpy()
    ax.barh(y, [1.0] * len(df), color=OPEN, alpha=0.35, height=0.7)
    ax.barh(y, share, color=DONE, height=0.7, label=done_col)
    for i, (done, n) in enumerate(zip(df["done_n"], df["total_n"], strict=True)):
        note = f"{done}/{n}" if n else f"no {total_col.replace('_total', '')}"
        ax.text(
            1.01, i, note, va="center", fontsize=8, color=MUTED, transform=ax.get_yaxis_transform()
        )
    ax.set_yticks(list(y), labels)
    ax.set_xlim(0, 1)
    _percent_axis(ax.xaxis)
    ax.set_xlabel(xlabel)
    shown = f" (largest {len(df)} of {total})" if total > len(df) else ""
    ax.set_title(title + shown)
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    return ax


def completion_by_depth(tasks: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Stacked bars of done and open tasks at each outline depth, with the share done on top.

    Depth 0 is a top-level task. Shows whether work finishes at the leaves while
    the headings above them stay open (or the other way round).

    >>> ax = completion_by_depth(load_tasks("PROJECT_ID", client))  # doctest: +SKIP
    """
    title = "Completion by depth in the outline"
    if tasks.empty:
        return _empty(_axes(ax), title, "No tasks")
    df = pd.DataFrame({"depth": tasks["depth"], "done": _done(tasks["completed"])})
    df = df.dropna(subset=["depth"])
    by = df.groupby("depth")["done"].agg(total="size", done="sum").sort_index()
    ax = _axes(ax)
    x = [int(d) for d in by.index]
    done = by["done"].astype(int).to_numpy()
    open_ = (by["total"] - by["done"]).astype(int).to_numpy()
    ax.bar(x, done, color=DONE, label="done")
    ax.bar(x, open_, bottom=done, color=OPEN, label="open")
    totals = by["total"].astype(int).to_numpy()
    _label_bars(
        ax,
        [f"{d / t:.0%} done" for d, t in zip(done, totals, strict=True)],
        x,
        totals,
        above=True,
    )
    ax.set_xticks(x)
    ax.set_xlabel("Depth (0 = top-level task)")
    ax.set_ylabel("Tasks")
    ax.set_title(title)
    ax.margins(y=0.12)
    ax.legend(frameon=False)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    return ax


def _branch_labels(by: pd.DataFrame, several: bool, projects: pd.DataFrame | None) -> list[str]:
    """A branch's root text, prefixed with its project (name if known) when there are
    several projects."""
    if not several:
        return [_short(text) or "(untitled)" for text in by["text"]]
    names: dict[Any, Any] = {}
    if projects is not None and not projects.empty:
        names = dict(zip(projects["id"], projects["name"], strict=False))
    return [
        f"{_short(names.get(pid, pid), 18)} › {_short(text, 26) or '(untitled)'}"
        for pid, text in zip(by["project_id"], by["text"], strict=True)
    ]


def open_work_by_branch(
    tasks: pd.DataFrame,
    ax: Axes | None = None,
    *,
    projects: pd.DataFrame | None = None,
    top: int = 15,
) -> Axes:
    """Which top-level tasks hold the open work: open and done tasks in each branch.

    A branch is a top-level task with everything below it (``root_id``). Branches
    are ranked by open tasks; fully done branches only fill the remaining slots.

    Args:
        tasks: ``load_tasks`` or ``SpaceFrames.tasks`` (one or many projects).
        projects: with ``id`` and ``name``; prefixes labels with the project name
            when the tasks span several projects.
        top: at most this many branches.

    >>> ax = open_work_by_branch(space.tasks, projects=space.projects)  # doctest: +SKIP
    """
    title = "Open work per top-level task"
    if tasks.empty:
        return _empty(_axes(ax), title, "No tasks")
    df = pd.DataFrame(
        {
            "project_id": tasks["project_id"].astype(object),
            "root_id": tasks["root_id"].astype(object),
            "done": _done(tasks["completed"]),
        }
    )
    by = (
        df.groupby(["project_id", "root_id"], sort=False)["done"]
        .agg(total="size", done="sum")
        .reset_index()
    )
    by["open"] = by["total"] - by["done"]
    roots = tasks.drop_duplicates(["project_id", "id"]).set_index(["project_id", "id"])["text"]
    by["text"] = [roots.get((p, r)) for p, r in zip(by["project_id"], by["root_id"], strict=True)]
    several = bool(by["project_id"].nunique() > 1)
    total = len(by)
    by = by.sort_values(["open", "total"], ascending=[False, False]).head(top)
    by = by.iloc[::-1]  # largest at the top of a horizontal chart
    ax = _axes(ax, len(by), horizontal=True)
    labels = _branch_labels(by, several, projects)
    y = list(range(len(by)))
    open_ = by["open"].astype(int).to_numpy()
    done = by["done"].astype(int).to_numpy()
    ax.barh(y, open_, color=OPEN, height=0.7, label="open")
    ax.barh(y, done, left=open_, color=DONE, alpha=0.45, height=0.7, label="done")
    totals = by["total"].astype(int).to_numpy()
    _label_bars(ax, [f"{o} open / {t}" for o, t in zip(open_, totals, strict=True)], totals, y)
    ax.set_yticks(y, labels)
    ax.set_xlabel("Tasks in the branch (the task and everything below it)")
    shown = f" (top {len(by)} of {total})" if total > len(by) else ""
    ax.set_title(title + shown)
    ax.set_xlim(0, max(1, int(by["total"].max())) * 1.35)  # room for the labels
    ax.legend(frameon=False, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    return ax


_FEW_SNAPSHOTS = 8


def _tick_texts(times: pd.DatetimeIndex) -> tuple[list[str], str]:
    """A tick label per snapshot time that tells it from every other, and the axis
    label's suffix: the date or year that every tick shares.

    Times at least a minute apart differ in their minutes, a day apart in their
    dates, 31 days apart in their months: the closest pair picks the unit. Two
    exports in a quick loop can commit within one second, so the seconds then
    get as many decimals as it takes to tell them apart. The year is always on
    the tick or in the suffix.

    >>> _tick_texts(pd.DatetimeIndex(["2026-03-02 10:00:00.1", "2026-03-02 10:00:00.6"]))
    (['10:00:00.1', '10:00:00.6'], ', 2026-03-02')
    """
    first = times[0]
    if len(times) == 1:
        return [f"{first:%Y-%m-%d %H:%M:%S}"], ""
    gap = pd.Series(times).diff().min()
    one_day = first.date() == times[-1].date()
    one_year = first.year == times[-1].year
    clock, date, suffix = "", "", ""
    if gap >= pd.Timedelta(days=31):
        date = "%b %Y"
    elif gap >= pd.Timedelta(days=1):
        date, suffix = ("%b %d", f", {first:%Y}") if one_year else ("%Y-%m-%d", "")
    else:
        clock = "%H:%M" if gap >= pd.Timedelta(minutes=1) else "%H:%M:%S"
        if one_day:
            suffix = f", {first:%Y-%m-%d}"
        else:
            date, suffix = ("\n%b %d", f", {first:%Y}") if one_year else ("\n%Y-%m-%d", "")
    digits = 0
    if gap < pd.Timedelta(seconds=1):  # the fewest decimals that tell every pair apart
        seconds = [t.floor("s") for t in times]
        fractions = [f"{t.microsecond:06d}" for t in times]
        digits = next(
            d
            for d in range(1, 7)
            if len(set(zip(seconds, [f[:d] for f in fractions], strict=True))) == len(times)
        )
    texts = [
        t.strftime(clock)
        + (f".{t.microsecond:06d}"[: digits + 1] if digits else "")
        + t.strftime(date)
        for t in times
    ]
    return texts, suffix


def _time_axis(axis: Any, when: Any) -> str:
    """Label a date axis readably whether snapshots are milliseconds or years apart.

    A handful of snapshots get a tick each, at their own times (``_tick_texts``);
    more get a date locator that never ticks below a second (matplotlib's own
    choice for a span of seconds is microseconds, labelled "59.0 59.2 ...").
    Returns the axis label, which carries the date when every tick shares it.
    """
    import matplotlib.dates as mdates
    from matplotlib.ticker import FixedLocator, FuncFormatter

    times = pd.DatetimeIndex(when).unique().sort_values()
    label = "Snapshot time (UTC)"
    if len(times) <= _FEW_SNAPSHOTS:
        texts, suffix = _tick_texts(times)
        where = mdates.date2num(times.to_pydatetime())
        by_place = dict(zip(where.tolist(), texts, strict=True))
        axis.set_major_locator(FixedLocator(where))
        axis.set_major_formatter(FuncFormatter(lambda x, _pos: by_place.get(x, "")))
        if len(times) == 1:
            pad = pd.Timedelta(hours=12)
            axis.axes.set_xlim(times[0] - pad, times[0] + pad)
        return label + suffix
    locator = mdates.AutoDateLocator(minticks=3, maxticks=7)
    locator.intervald[mdates.SECONDLY] = [1, 2, 5, 10, 15, 30]
    locator.intervald[mdates.MICROSECONDLY] = [1_000_000]
    span = times[-1] - times[0]
    if span < pd.Timedelta(seconds=6):  # room for whole-second ticks
        middle = times[0] + span / 2
        axis.axes.set_xlim(middle - pd.Timedelta(seconds=3), middle + pd.Timedelta(seconds=3))
    axis.set_major_locator(locator)
    axis.set_major_formatter(
        mdates.ConciseDateFormatter(
            locator,
            formats=["%Y", "%b", "%d", "%H:%M", "%H:%M", "%H:%M:%S"],
            zero_formats=["", "%Y", "%b", "%b-%d", "%H:%M", "%H:%M:%S"],
            offset_formats=["", "%Y", "%Y-%m", "%Y-%m-%d", "%Y-%m-%d", "%Y-%m-%d"],
        )
    )
    return label


def completion_over_time(
    history: pd.DataFrame,
    ax: Axes | None = None,
    *,
    top: int = 8,
    measure: str = "share_completed",
) -> Axes:
    """Share completed (or done) at each snapshot: one line per project, and all together.

    Args:
        history: ``snapshots.completion_history(out)``: ``snapshot`` (UTC), ``project_id``,
            ``project_name`` and the counts of ``measure``.
        top: at most this many project lines (largest by tasks at the last snapshot);
            the "all projects" line always counts every project.
        measure: ``"share_completed"`` (over all tasks) or ``"share_done"`` (over
            leaves); see :mod:`taskade_frames.completion`.

    Raises:
        ValueError: ``history`` has no ``snapshot`` column or lacks the counts of ``measure``.

    >>> ax = completion_over_time(completion_history("exports/"))  # doctest: +SKIP
    """
    title = "Completion over time"
    if not isinstance(history, pd.DataFrame) or "snapshot" not in history.columns:
        raise ValueError(
            "completion_over_time needs completion_history(out) (a frame with a "
            "snapshot column); for one moment use completion_by_project"
        )
    done_col, total_col, ylabel = _measure(history, measure)
    if history.empty:
        return _empty(_axes(ax), title, "No snapshots yet")
    df = history.copy()
    stamps = pd.to_datetime(df["snapshot"], utc=True)
    df["when"] = stamps.dt.tz_localize(None)  # plotted as UTC; the axis label says so
    df["tasks"] = df["tasks"].fillna(0).astype(int) if "tasks" in df else df[total_col]
    df["done_n"] = df[done_col].fillna(0).astype(int)
    df["total_n"] = df[total_col].fillna(0).astype(int)
    ax = _axes(ax)
    overall = df.groupby("when")[["total_n", "done_n"]].sum().sort_index()
    share_all = overall["done_n"] / overall["total_n"].where(overall["total_n"] > 0)
    ax.plot(
        overall.index.to_numpy(),
        share_all.astype(float).to_numpy(),
        color="black",
        linewidth=2.4,
        marker="o",
        label="all projects",
        zorder=3,
    )
    last = df[df["when"] == df["when"].max()]
    keep = last.sort_values("tasks", ascending=False)["project_id"].head(top).tolist()
    labels = (
        df.dropna(subset=["project_name"]).groupby("project_id")["project_name"].last()
        if "project_name" in df
        else pd.Series(dtype=object)
    )
    for pid in keep:
        one = df[df["project_id"] == pid].sort_values("when")
        share = one["done_n"] / one["total_n"].where(one["total_n"] > 0)
        ax.plot(
            one["when"].to_numpy(),
            share.astype(float).to_numpy(),
            marker="o",
            markersize=4,
            linewidth=1.3,
            alpha=0.85,
            label=_short(labels.get(pid, pid), 28),
        )
    n_projects = df["project_id"].nunique()
    ax.set_ylim(-0.02, 1.02)
    _percent_axis(ax.yaxis)
    ax.set_xlabel(_time_axis(ax.xaxis, overall.index))
    ax.set_ylabel(ylabel)
    shown = f" (largest {len(keep)} of {n_projects} projects)" if n_projects > len(keep) else ""
    ax.set_title(title + shown)
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.grid(alpha=0.3)
    return ax


def open_work_by_assignee(
    tasks: pd.DataFrame, task_assignees: pd.DataFrame, ax: Axes | None = None, *, top: int = 15
) -> Axes:
    """Who owns the open work: open tasks per assignee, with the unassigned ones.

    Args:
        tasks: ``load_tasks`` or ``SpaceFrames.tasks``.
        task_assignees: ``load_task_details(...).task_assignees`` for the same tasks.
        top: at most this many people (the unassigned bar is always shown).

    >>> ax = open_work_by_assignee(space.tasks, space.details.task_assignees)  # doctest: +SKIP
    """
    from .details import open_work_by_assignee as count

    title = "Open tasks by assignee"
    by = count(tasks, task_assignees)
    if by.empty:
        return _empty(_axes(ax), title, "No open tasks")
    unassigned = by[by["handle"] == "(unassigned)"]
    people = by[by["handle"] != "(unassigned)"]
    shown = pd.concat([people.head(top), unassigned]).iloc[::-1]
    ax = _axes(ax, len(shown), horizontal=True)
    y = list(range(len(shown)))
    colours = [MUTED if h == "(unassigned)" else OPEN for h in shown["handle"]]
    counts = shown["open_tasks"].astype(int).to_numpy()
    ax.barh(y, counts, color=colours, height=0.7)
    _label_bars(ax, [str(n) for n in counts], counts, y)
    ax.set_yticks(y, [_short(n) for n in shown["display_name"]])
    ax.set_xlabel("Open tasks (a task with two assignees counts for both)")
    more = f" (top {min(top, len(people))} of {len(people)})" if len(people) > top else ""
    ax.set_title(title + more)
    ax.set_xlim(0, max(1, int(counts.max())) * 1.15)
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    return ax


def overdue_by_project(
    tasks: pd.DataFrame,
    task_dates: pd.DataFrame,
    now: Any,
    ax: Axes | None = None,
    *,
    projects: pd.DataFrame | None = None,
) -> Axes:
    """Overdue tasks per project: open and due before ``now`` (the snapshot time).

    Args:
        tasks: ``SpaceFrames.tasks`` (or one project's ``load_tasks``).
        task_dates: ``load_task_details(...).task_dates`` for the same tasks.
        now: the snapshot time, e.g. ``space.fetched_at`` or the emulator's ``now``.
        projects: with ``id`` and ``name``, for labels.

    >>> ax = overdue_by_project(space.tasks, space.details.task_dates, space.fetched_at,
    ...                         projects=space.projects)  # doctest: +SKIP
    """
    from .details import overdue_tasks

    stamp = pd.Timestamp(now)
    title = f"Overdue open tasks at {stamp:%Y-%m-%d %H:%M}"
    late = overdue_tasks(tasks, task_dates, stamp)
    if late.empty:
        return _empty(_axes(ax), title, "Nothing overdue")
    by = late.groupby("project_id").agg(n=("task_id", "size"), worst=("days_overdue", "max"))
    by = by.sort_values(["n", "worst"]).reset_index()
    names: dict[Any, Any] = {}
    if projects is not None and not projects.empty:
        names = dict(zip(projects["id"], projects["name"], strict=False))
    ax = _axes(ax, len(by), horizontal=True)
    y = list(range(len(by)))
    counts = by["n"].astype(int).to_numpy()
    ax.barh(y, counts, color="#b5403a", height=0.7)
    worst = by["worst"].astype(int)
    _label_bars(ax, [f"{n} (oldest {w} d)" for n, w in zip(counts, worst, strict=True)], counts, y)
    ax.set_yticks(y, [_short(names.get(p, p)) for p in by["project_id"]])
    ax.set_xlabel("Open tasks past their due date")
    ax.set_title(title)
    ax.set_xlim(0, max(1, int(counts.max())) * 1.35)
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    return ax
