"""An export that dies half way: earlier snapshots intact, nothing partial visible, rerun works.

The first test really kills an export process (the CLI, pointed at the test's
emulator through the environment) with SIGKILL while it has files staged. The
second reproduces the state a kill between moving folders and writing the
manifest leaves, which no cleanup code gets a chance to touch.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

import duckdb
import pandas as pd
import pytest

from taskade_frames import export, storage
from taskade_frames.export import DATASETS, ExportError, export_all, export_space
from taskade_frames.snapshots import list_snapshots, read_export

from .conftest import FAKE_TOKEN

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")

# In the past, so snapshots named after the clock sort after them.
T0 = datetime(2020, 11, 29, 12, 0, 0, tzinfo=UTC)
T1 = datetime(2020, 11, 30, 12, 0, 0, tzinfo=UTC)


def snapshots_seen_by_duckdb(out, entity: str) -> dict[str, int]:
    """``{snapshot: rows}`` as a DuckDB user globbing the dataset sees it (empty files too)."""
    con = duckdb.connect()
    files = con.sql(f"SELECT file FROM glob('{out}/{entity}/**/*.parquet')").fetchall()
    seen = {f.split("snapshot=")[1].split(os.sep)[0]: 0 for (f,) in files}
    seen.update(
        con.sql(
            f"SELECT snapshot, count(*) FROM read_parquet('{out}/{entity}/**/*.parquet', "
            "hive_partitioning=true) GROUP BY ALL"
        ).fetchall()
    )
    return seen


def test_sigkill_mid_export_leaves_no_partial_snapshot_and_a_rerun_succeeds(
    emulator, client, tmp_path
):
    out = tmp_path / "out"
    ws = emulator.workspace
    first = export_space(list(ws.spaces)[-1], out, client, snapshot=T0, progress=False)
    committed = read_export(out)
    all_tasks = sum(len(p.tasks) for p in ws.projects.values())
    proc = _start_slow_cli_export(emulator, out)
    try:
        deadline = time.monotonic() + 45
        staged: list = []
        while not staged:
            assert proc.poll() is None, (
                f"the export ended before it was killed: {proc.communicate()}"
            )
            assert time.monotonic() < deadline, "nothing was staged in time"
            time.sleep(0.01)
            staged = list((out / storage.STAGING).rglob("*.parquet"))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    emulator.latency = 0.0

    assert proc.returncode == -signal.SIGKILL
    assert list((out / storage.STAGING).rglob("*.parquet")), "the kill left staged files"
    assert list_snapshots(out)["snapshot"].tolist() == [first.snapshot]
    after_kill = read_export(out)
    for entity in DATASETS:
        pd.testing.assert_frame_equal(after_kill[entity], committed[entity], obj=entity)
        seen = snapshots_seen_by_duckdb(out, entity)
        assert set(seen) == {first.snapshot}, entity
    assert snapshots_seen_by_duckdb(out, "tasks") == {first.snapshot: first.rows["tasks"]}

    rerun = export_all(out, client, progress=False)

    assert not (out / storage.STAGING).exists()
    assert list_snapshots(out)["snapshot"].tolist() == [first.snapshot, rerun.snapshot]
    assert len(rerun.spaces) == len(ws.spaces)
    assert snapshots_seen_by_duckdb(out, "tasks") == {
        first.snapshot: first.rows["tasks"],
        rerun.snapshot: all_tasks + 3,
    }
    assert read_export(out)["tasks"].attrs["snapshot"] == rerun.snapshot


def test_a_kill_between_moving_folders_and_the_commit(emulator, client, tmp_path, monkeypatch):
    sid = list(emulator.workspace.spaces)[-1]
    first = export_space(sid, tmp_path, client, snapshot=T0, progress=False)
    real = os.replace

    def replace(src, dst):
        if os.path.basename(os.path.dirname(dst)) == storage.MANIFESTS:
            raise OSError(errno.EIO, "killed here")
        return real(src, dst)

    # A SIGKILL runs no cleanup: the folders already moved stay behind.
    monkeypatch.setattr(export._Writer, "_abort", lambda self: None)
    monkeypatch.setattr(storage.os, "replace", replace)
    with pytest.raises(ExportError):
        export_space(sid, tmp_path, client, snapshot=T1, progress=False)
    monkeypatch.undo()
    orphan = tmp_path / "tasks" / "snapshot=2020-11-30T120000Z"
    assert orphan.is_dir()

    assert list_snapshots(tmp_path)["snapshot"].tolist() == [first.snapshot]
    assert read_export(tmp_path)["tasks"].attrs["snapshot"] == first.snapshot
    # The documented window: a raw glob sees moved folders until the next export.
    assert set(snapshots_seen_by_duckdb(tmp_path, "tasks")) == {
        first.snapshot,
        "2020-11-30T120000Z",
    }

    rerun = export_space(sid, tmp_path, client, snapshot=T1, progress=False)

    assert rerun.snapshot == "2020-11-30T120000Z"
    assert snapshots_seen_by_duckdb(tmp_path, "tasks") == {
        first.snapshot: first.rows["tasks"],
        rerun.snapshot: rerun.rows["tasks"],
    }
    assert not (tmp_path / storage.STAGING).exists()


def test_ctrl_c_stops_an_export_and_leaves_no_visible_partial_snapshot(emulator, client, tmp_path):
    out = tmp_path / "out"
    ws = emulator.workspace
    first = export_space(list(ws.spaces)[-1], out, client, snapshot=T0, progress=False)
    proc = _start_slow_cli_export(emulator, out)
    try:
        deadline = time.monotonic() + 45
        while not list((out / storage.STAGING).rglob("*.parquet")):
            assert proc.poll() is None, f"the export ended before Ctrl-C: {proc.communicate()}"
            assert time.monotonic() < deadline, "nothing was staged in time"
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)  # a guard against a hang, not a speed check
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        emulator.latency = 0.0

    assert proc.returncode == 130, err
    assert b"Traceback" not in err
    assert not (out / storage.STAGING).exists()
    assert list_snapshots(out)["snapshot"].tolist() == [first.snapshot]
    for entity in DATASETS:
        assert set(snapshots_seen_by_duckdb(out, entity)) == {first.snapshot}, entity


def test_ctrl_c_during_a_space_load_drops_the_queued_calls(emulator, client, tmp_path, monkeypatch):
    from taskade_frames import space as space_mod

    sid = next(iter(emulator.workspace.spaces))
    export_space(sid, tmp_path / "full", client, progress=False)
    full = emulator.request_count()
    emulator.reset()
    real_wait, calls = space_mod.wait, []

    def wait(*args, **kwargs):  # the second round (tasks, blocks, ...) is interrupted
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_wait(*args, **kwargs)

    monkeypatch.setattr(space_mod, "wait", wait)
    emulator.latency = 0.02
    try:
        with pytest.raises(KeyboardInterrupt):
            export_space(sid, tmp_path / "cut", client, progress=False, max_workers=2)
    finally:
        emulator.latency = 0.0

    assert emulator.request_count() < full / 2
    assert not (tmp_path / "cut").exists()


def _start_slow_cli_export(emulator, out):
    """`taskade-frames export --all` in a real process, slowed so there is a window to stop it.

    Three extra spaces are loaded after the first is staged, at 50 ms a request.
    """
    ws = emulator.workspace
    for i in range(3):
        sid = ws.add_space(f"Extra {i}")
        ws.add_task(ws.add_project(sid, f"Project {i}"), "a task")
    emulator.latency = 0.05
    env = {**os.environ, "TASKADE_API_URL": emulator.base_url, "TASKADE_API_TOKEN": FAKE_TOKEN}
    return subprocess.Popen(
        [sys.executable, "-m", "taskade_frames", "export", "--all", "--out", str(out), "--quiet"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
