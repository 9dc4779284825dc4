"""Progress that reads right: one bar per call, a share that only grows, nothing left behind.

Every tqdm bar the library makes is recorded (its count and total after each change)
while a space is loaded, exported and summarised against the emulator.
"""

from __future__ import annotations

import io
from typing import ClassVar

import pytest
import tqdm.auto
import tqdm.std

import taskade_frames as tf


class Recorded(tqdm.std.tqdm):
    """A terminal tqdm writing to a buffer, keeping (n, total) after every change."""

    made: ClassVar[list[Recorded]] = []

    def __init__(self, *args, **kwargs):
        kwargs["file"] = io.StringIO()
        super().__init__(*args, **kwargs)
        self.steps: list[tuple[int, float | None]] = [(self.n, self.total)]
        self.kwargs = kwargs
        self.closed_at: tuple[int, float | None] | None = None
        Recorded.made.append(self)

    def update(self, n=1):
        out = super().update(n)
        self.steps.append((self.n, self.total))
        return out

    # reset() is not recorded: fix_total follows it at once with update(count), and
    # the state in between is never left on screen.

    def close(self):
        if self.closed_at is None:
            self.closed_at = (self.n, self.total)
        super().close()

    def __iter__(self):
        for item in super().__iter__():
            yield item
            self.steps.append((self.n, self.total))


@pytest.fixture
def bars(monkeypatch):
    Recorded.made = []
    monkeypatch.setattr(tqdm.auto, "tqdm", Recorded)
    return Recorded.made


def shown(bars):
    return [b for b in bars if not b.kwargs.get("disable")]  # a closed bar reads disabled


def assert_reads_right(bar):
    """Once a bar has a total it keeps it, its share never falls, and it ends full and gone."""
    totals = [t for _, t in bar.steps if t is not None]
    assert len(set(totals)) <= 1, f"the total changed: {bar.steps}"
    shares = [n / t for n, t in bar.steps if t]
    assert shares == sorted(shares), f"the share fell: {bar.steps}"
    assert bar.kwargs.get("leave") is False  # nothing left behind in a notebook
    n, total = bar.closed_at
    assert total is not None and n == total, f"closed at {n}/{total}"


def test_load_space_shows_one_bar_whose_share_only_grows(client, bars):
    sid = tf.load_spaces(client)["id"].iloc[0]

    space = tf.load_space(sid, client)

    (bar,) = shown(bars)
    assert_reads_right(bar)
    calls_with_total = [n for n, t in bar.steps if t is not None]
    assert calls_with_total[0] > 1  # the listings before the total were counted, not lost
    assert bar.closed_at[0] >= len(space.projects) * 4  # tasks, blocks, fields, members


def test_export_all_shows_one_bar_for_the_call(client, bars, tmp_path):
    tf.export_all(tmp_path, client)

    (bar,) = shown(bars)  # spaces, not one bar per space besides
    assert bar.total == len(tf.load_spaces(client))
    assert_reads_right(bar)


def test_export_of_one_space_shows_the_spaces_own_bar(client, bars, tmp_path):
    sid = tf.load_spaces(client)["id"].iloc[1]

    tf.export_space(sid, tmp_path, client)

    (bar,) = shown(bars)
    assert bar.kwargs["desc"] == f"space {sid}"
    assert_reads_right(bar)


def test_completion_summary_shows_one_bar_for_the_call(client, bars):
    tf.completion_summary(client)

    (bar,) = shown(bars)
    assert bar.kwargs["desc"] == "spaces"
    assert_reads_right(bar)


def test_progress_false_shows_nothing(client, bars, tmp_path):
    sid = tf.load_spaces(client)["id"].iloc[0]
    tf.load_space(sid, client, progress=False)
    tf.export_all(tmp_path, client, progress=False)
    assert shown(bars) == []
