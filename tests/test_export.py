"""Parquet export against the emulator: layout, schemas, metadata, read-back, diffs, CLI.

Every test exports over real HTTP from the session emulator (reset per test)
into its own ``tmp_path``. Crash and failure behaviour lives in
``test_export_crash.py``.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime

import duckdb
import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

import taskade_frames
from taskade_frames import TaskadeClient, export, schemas, snapshots, storage
from taskade_frames.cli import main
from taskade_frames.errors import NotFoundError
from taskade_frames.export import (
    DATASETS,
    ExportError,
    SnapshotExistsError,
    SnapshotNotFoundError,
    export_all,
    export_space,
)
from taskade_frames.loaders import load_spaces
from taskade_frames.snapshots import (
    completion_history,
    diff_snapshots,
    list_snapshots,
    read_export,
)
from taskade_frames.space import load_space

from .conftest import FAKE_TOKEN

T0 = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)
T1 = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)

# Row order after a round trip follows the files; these keys make it comparable.
KEYS = {
    "spaces": ["id"],
    "folders": ["space_id", "id"],
    "projects": ["space_id", "id"],
    "tasks": ["project_id", "position"],
    "blocks": ["project_id", "position"],
    "fields": ["project_id", "id"],
    "members": ["project_id", "handle"],
    "agents": ["space_id", "id"],
    "conversations": ["agent_id", "id"],
    "media": ["folder_id", "id"],
    "templates": ["folder_id", "id"],
    "errors": ["resource", "id"],
}


def aligned(df: pd.DataFrame, entity: str) -> pd.DataFrame:
    rest = [c for c in df.columns if c not in KEYS[entity]]
    return df.sort_values(KEYS[entity] + rest, ignore_index=True)


def space_ids(emulator) -> list[str]:
    return list(emulator.workspace.spaces)


def small_space(emulator) -> str:
    """The sample's personal space (three projects): quick to export."""
    ws = emulator.workspace
    return ws.projects[project_id(ws, "Trip to Lisbon")].space_id


def task_id(ws, project_id: str, text: str) -> str:
    return next(t["id"] for t in ws.tasks(project_id) if t["text"].startswith(text))


def project_id(ws, name: str) -> str:
    return next(p.id for p in ws.projects.values() if p.name == name)


def parquet_files(root) -> list:
    return sorted(p for p in root.rglob("*.parquet"))


# -- round trip ------------------------------------------------------------------


def test_read_export_returns_the_loaders_frames(emulator, client, tmp_path):
    result = export_all(tmp_path, client, progress=False)
    loaded = {sid: load_space(sid, client, progress=False).frames() for sid in result.spaces}
    expected = {
        e: pd.concat([f[e] for f in loaded.values()], ignore_index=True)
        for e in DATASETS
        if e != "spaces"
    }
    expected["spaces"] = load_spaces(client)

    frames = read_export(tmp_path)

    assert list(frames) == list(DATASETS)
    for entity in DATASETS:
        got = frames[entity]
        assert dict(got.dtypes) == schemas.dtypes(entity), entity
        pd.testing.assert_frame_equal(
            aligned(got, entity),
            aligned(schemas.coerce(expected[entity], entity), entity),
            obj=entity,
        )
    assert len(frames["tasks"]) == result.rows["tasks"] > 1000
    assert frames["tasks"].attrs["snapshot"] == result.snapshot


def test_one_space_reads_back_as_load_space_did(emulator, client, tmp_path):
    sid = small_space(emulator)
    result = export_space(sid, tmp_path, client, progress=False)
    space = load_space(sid, client, progress=False)

    frames = read_export(tmp_path, space_id=sid)

    assert result.spaces == [sid]
    assert frames["spaces"]["id"].tolist() == [sid]
    for entity, df in space.frames().items():
        pd.testing.assert_frame_equal(
            aligned(frames[entity], entity), aligned(df, entity), obj=entity
        )


# -- layout, schemas, metadata ------------------------------------------------------


@pytest.fixture(scope="module")
def exported(_emulator, tmp_path_factory):
    """One export of the whole sample, shared by the tests that only read it."""
    _emulator.reset(workspace=True)
    out = tmp_path_factory.mktemp("exported")
    with TaskadeClient(FAKE_TOKEN, base_url=_emulator.base_url) as client:
        return export_all(out, client, snapshot=T0, progress=False)


def test_every_entity_is_written_per_space_under_hive_partitions(exported):
    out = exported.out

    assert exported.snapshot == "2026-11-29T120000Z"
    assert len(exported.spaces) == 2
    for entity in DATASETS:
        for sid in exported.spaces:
            path = (
                out / entity / "snapshot=2026-11-29T120000Z" / f"space_id={sid}" / "part-0.parquet"
            )
            assert path.is_file(), path
    assert len(parquet_files(out)) == len(DATASETS) * 2
    manifest = json.loads(exported.manifest.read_text())
    assert exported.manifest == out / "_snapshots" / "2026-11-29T120000Z.json"
    assert manifest["rows"] == exported.rows
    assert manifest["version"] == taskade_frames.__version__
    assert manifest["api_host"] == exported.api_host
    assert manifest["errors"] == []
    assert set(manifest["spaces"]) == set(exported.spaces)
    assert not (out / ".staging").exists()


def test_files_have_the_declared_schema_without_the_partition_column(exported):
    for path in parquet_files(exported.out):
        entity = path.relative_to(exported.out).parts[0]
        expected = [f for f in schemas.arrow_schema(entity) if f.name != "space_id"]
        assert list(pq.read_schema(path)) == expected, path
        meta = pq.ParquetFile(path).metadata
        for i in range(meta.num_row_groups):
            assert meta.row_group(i).column(0).compression == "ZSTD"


def test_an_empty_space_still_writes_every_entity_with_its_schema(emulator, client, tmp_path):
    sid = emulator.workspace.add_space("Nothing here yet")

    result = export_space(sid, tmp_path, client, progress=False)

    assert result.rows == {e: int(e == "spaces") for e in DATASETS}
    for entity in DATASETS:
        path = tmp_path / entity / f"snapshot={result.snapshot}" / f"space_id={sid}"
        table = pq.read_table(path / "part-0.parquet")
        assert table.num_rows == int(entity == "spaces")
        assert table.schema.names == [n for n in schemas.columns(entity) if n != "space_id"]
    frames = read_export(tmp_path)
    assert dict(frames["tasks"].dtypes) == schemas.dtypes("tasks")
    assert frames["tasks"].empty


def test_parquet_metadata_records_version_host_snapshot_and_counts(exported):
    manifest = json.loads(exported.manifest.read_text())

    for path in parquet_files(exported.out):
        meta = {k.decode(): v.decode() for k, v in pq.read_metadata(path).metadata.items()}
        entity = meta["taskade_frames.entity"]
        sid = meta["taskade_frames.space_id"]
        assert path.parts[-4:-1] == (entity, "snapshot=2026-11-29T120000Z", f"space_id={sid}")
        assert meta["taskade_frames.version"] == taskade_frames.__version__
        assert meta["taskade_frames.api_host"] == exported.api_host
        assert meta["taskade_frames.snapshot"] == "2026-11-29T120000Z"
        assert meta["taskade_frames.snapshot_time"] == T0.isoformat()
        assert int(meta["taskade_frames.rows"]) == pq.read_metadata(path).num_rows
        counts = json.loads(meta["taskade_frames.row_counts"])
        assert counts == manifest["spaces"][sid]["rows"]
        assert not any(k.startswith("pandas") for k in meta)


def test_no_file_nor_metadata_contains_the_token(emulator, client, tmp_path):
    # A planted value proves the raw-byte scan can see data in uncompressed files.
    pid = project_id(emulator.workspace, "Trip to Lisbon")
    emulator.workspace.add_task(pid, "needle-7f3a in the data")
    plain, packed = tmp_path / "plain", tmp_path / "zstd"
    export_space(small_space(emulator), plain, client, progress=False, compression="none")
    export_space(small_space(emulator), packed, client, progress=False)
    token = FAKE_TOKEN.encode()

    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) == 2 * (len(DATASETS) + 1)
    raw = b"".join(p.read_bytes() for p in files)
    assert b"needle-7f3a" in raw
    assert token not in raw
    for path in parquet_files(tmp_path):
        meta = pq.read_metadata(path).metadata
        assert all(token not in k and token not in v for k, v in meta.items())
        table = pq.read_table(path)
        cells = "\n".join(str(v) for col in table.columns for v in col.to_pylist())
        assert FAKE_TOKEN not in cells


# -- other readers ---------------------------------------------------------------------


def test_duckdb_reads_the_tasks_dataset_with_hive_partitioning(emulator, client, tmp_path):
    first = export_all(tmp_path, client, snapshot=T0, progress=False)
    small = small_space(emulator)
    second = export_space(small, tmp_path, client, snapshot=T1, progress=False)
    con = duckdb.connect()

    rows = con.sql(
        f"SELECT snapshot, space_id, count(*) AS n FROM "
        f"read_parquet('{tmp_path}/tasks/**/*.parquet', hive_partitioning=true) "
        "GROUP BY ALL ORDER BY ALL"
    ).fetchall()

    ws = emulator.workspace
    per_space = {
        sid: sum(len(p.tasks) for p in ws.projects.values() if p.space_id == sid)
        for sid in ws.spaces
    }
    assert rows == sorted(
        [("2026-11-29T120000Z", sid, n) for sid, n in per_space.items()]
        + [("2026-11-30T120000Z", small, per_space[small])]
    )
    assert sum(per_space.values()) == first.rows["tasks"]
    assert per_space[small] == second.rows["tasks"]
    projects = con.sql(
        f"SELECT space_id, count(*) FROM read_parquet('{tmp_path}/projects/**/*.parquet', "
        "hive_partitioning=true) WHERE snapshot = '2026-11-29T120000Z' GROUP BY ALL"
    ).fetchall()
    assert dict(projects) == {
        sid: sum(p.space_id == sid for p in ws.projects.values()) for sid in first.spaces
    }


def test_pyarrow_dataset_reads_partitions_without_a_clash(exported):
    table = ds.dataset(exported.out / "projects", partitioning="hive").to_table()

    assert table.num_rows == exported.rows["projects"]
    assert {"space_id", "snapshot", "id", "name"} <= set(table.column_names)
    assert set(table.column("space_id").to_pylist()) == set(exported.spaces)


# -- snapshots ---------------------------------------------------------------------------


def test_snapshot_names_are_ordered_and_never_overwritten(emulator, client, tmp_path, monkeypatch):
    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):
            return T0.replace(microsecond=123456)

    monkeypatch.setattr(export, "datetime", Frozen)
    sid = small_space(emulator)
    a = export_space(sid, tmp_path, client, progress=False)
    b = export_space(sid, tmp_path, client, progress=False)
    c = export_space(sid, tmp_path, client, progress=False, snapshot="2026-11-29T235959Z")

    assert (a.snapshot, b.snapshot) == ("2026-11-29T120000Z", "2026-11-29T120000Z-2")
    listed = list_snapshots(tmp_path)
    assert listed["snapshot"].tolist() == [a.snapshot, b.snapshot, c.snapshot]
    assert str(listed["snapshot_time"].dtype) == "datetime64[us, UTC]"
    assert read_export(tmp_path, "previous")["tasks"].attrs["snapshot"] == b.snapshot
    with pytest.raises(SnapshotExistsError, match="already exists"):
        export_space(sid, tmp_path, client, progress=False, snapshot=a.snapshot)
    with pytest.raises(ValueError, match="2026-11-29T120000Z"):
        export_space(sid, tmp_path, client, progress=False, snapshot="yesterday")
    monkeypatch.undo()
    with pytest.raises(ValueError, match="timezone"):
        export_space(sid, tmp_path, client, progress=False, snapshot=datetime(2026, 1, 1))
    assert len(list_snapshots(tmp_path)) == 3


@pytest.mark.parametrize("where", ["empty-folder", "typo-dir"])
def test_readers_raise_on_a_location_without_an_export(tmp_path, where):
    out = tmp_path / where
    if where == "empty-folder":
        out.mkdir()
    for read in (
        list_snapshots,
        completion_history,
        read_export,
        diff_snapshots,
        lambda o: read_export(o, "2026-01-01T000000Z"),
    ):
        with pytest.raises(SnapshotNotFoundError, match="holds no export"):
            read(out)
    assert not (tmp_path / "typo-dir").exists()


def test_uncommitted_snapshot_folders_are_invisible_and_cleaned_by_the_next_export(
    emulator, client, tmp_path
):
    sid = small_space(emulator)
    first = export_space(sid, tmp_path, client, snapshot=T0, progress=False)
    # What a crash between moving folders and writing the manifest leaves behind.
    ghost = tmp_path / "tasks" / "snapshot=2026-11-29T130000Z"
    shutil.copytree(first.path("tasks"), ghost)
    (tmp_path / ".staging" / "2026-11-29T130000Z-dead").mkdir(parents=True)

    assert list_snapshots(tmp_path)["snapshot"].tolist() == [first.snapshot]
    assert read_export(tmp_path)["tasks"].attrs["snapshot"] == first.snapshot
    with pytest.raises(SnapshotNotFoundError):
        read_export(tmp_path, "2026-11-29T130000Z")

    export_space(sid, tmp_path, client, snapshot=T1, progress=False)

    assert not ghost.exists()
    assert not (tmp_path / ".staging").exists()
    assert len(list_snapshots(tmp_path)) == 2


def test_an_unknown_space_is_a_typed_error_and_writes_nothing(emulator, client, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(NotFoundError):
        export_space("NoSuchSpace00000", out, client, progress=False)

    assert not out.exists()


def test_an_unwritable_folder_is_a_clear_error(emulator, client, tmp_path):
    (tmp_path / "a-file").write_text("not a folder")

    with pytest.raises(ExportError, match=r"cannot write to .*a-file"):
        export_all(tmp_path / "a-file", client, progress=False)
    with pytest.raises(ExportError, match=r"cannot write to .*Not a directory"):
        export_all(tmp_path / "a-file" / "out", client, progress=False)

    assert [p.name for p in tmp_path.iterdir()] == ["a-file"]


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="permissions do not stop root"
)
def test_a_read_only_folder_is_a_clear_error(emulator, client, tmp_path):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o500)
    try:
        with pytest.raises(ExportError, match="Permission denied"):
            export_all(out, client, progress=False)
    finally:
        out.chmod(0o700)
    assert list(out.iterdir()) == []


# -- diffs and history -----------------------------------------------------------------------


def subtree_ids(ws, project: str, root: str) -> list[str]:
    ids = [root]
    for t in ws.tasks(project):  # document order: parents come before children
        if t.get("parentId") in ids:
            ids.append(t["id"])
    return ids


def test_diff_and_history_follow_changes_between_two_snapshots(emulator, client, tmp_path):
    ws = emulator.workspace
    trip = project_id(ws, "Trip to Lisbon")
    kitchen = project_id(ws, "Kitchen Renovation")
    sid = ws.projects[trip].space_id
    flights = task_id(ws, trip, "Book flights")
    passport = task_id(ws, trip, "Renew passport")
    market = task_id(ws, trip, "Time Out Market")
    pasteis = task_id(ws, trip, "Pastéis")
    eat = task_id(ws, trip, "Where to eat")
    layout = subtree_ids(ws, kitchen, task_id(ws, kitchen, "Layout"))
    counts = {
        pid: (len(ws.tasks(pid)), sum(t["completed"] for t in ws.tasks(pid)))
        for pid in (trip, kitchen)
    }
    export_space(sid, tmp_path, client, snapshot=T0, progress=False)

    ws.update_task(trip, flights, completed=True, text="Book flights (TAP, 14:05)")
    ws.update_task(trip, passport, completed=False)
    ws.update_task(trip, market, text="Time Out Market")
    ws.update_task(trip, pasteis, parent_id=None)
    packed = ws.add_task(trip, "Pack bags", parent_id=flights)
    done_in_layout = sum(t["completed"] for t in ws.tasks(kitchen) if t["id"] in layout)
    ws.delete_task(kitchen, layout[0])
    export_space(sid, tmp_path, client, snapshot=T1, progress=False)

    diff = diff_snapshots(tmp_path)

    assert list(diff.columns) == list(snapshots.DIFF_COLUMNS)
    got = set(zip(diff["project_id"], diff["task_id"], diff["change"], strict=True))
    assert got == {
        (trip, flights, "completed"),
        (trip, flights, "text_changed"),
        (trip, passport, "reopened"),
        (trip, market, "text_changed"),
        (trip, pasteis, "moved"),
        (trip, packed, "added"),
    } | {(kitchen, t, "removed") for t in layout}
    assert len(layout) >= 2 and len(diff) == len(got)
    row = diff.set_index(["task_id", "change"])
    assert row.loc[(flights, "text_changed"), "text_after"] == "Book flights (TAP, 14:05)"
    assert tuple(row.loc[(flights, "completed"), ["completed_before", "completed_after"]]) == (
        False,
        True,
    )
    assert tuple(row.loc[(passport, "reopened"), ["completed_before", "completed_after"]]) == (
        True,
        False,
    )
    assert row.loc[(market, "text_changed"), "text_before"].startswith("Time Out Market\n")
    assert row.loc[(pasteis, "moved"), "parent_before"] == eat
    assert pd.isna(row.loc[(pasteis, "moved"), "parent_after"])
    assert row.loc[(packed, "added"), "parent_after"] == flights
    assert pd.isna(row.loc[(packed, "added"), "text_before"])
    assert row.loc[(layout[0], "removed"), "text_before"] == "Layout"
    assert pd.isna(row.loc[(layout[0], "removed"), "completed_after"])
    assert str(diff["completed_after"].dtype) == "boolean"
    pd.testing.assert_frame_equal(
        diff_snapshots(tmp_path, "2026-11-29T120000Z", "2026-11-30T120000Z", space_id=sid), diff
    )
    assert diff_snapshots(tmp_path, "latest", "latest").empty

    history = completion_history(tmp_path)

    assert list(history.columns) == [
        "snapshot",
        "space_id",
        "project_id",
        "project_name",
        "tasks",
        "completed",
        "share_completed",
        "leaves_total",
        "leaves_done",
        "share_done",
    ]
    assert str(history["snapshot"].dtype) == "datetime64[us, UTC]"
    assert str(history["share_completed"].dtype) == "Float64"
    assert history["snapshot"].unique().tolist() == [pd.Timestamp(T0), pd.Timestamp(T1)]
    assert set(history["space_id"]) == {sid}
    projects = [p for p in ws.projects.values() if p.space_id == sid]
    assert len(history) == 2 * len(projects)
    h = history.set_index(["snapshot", "project_id"])

    def at(when, pid):
        return tuple(h.loc[(pd.Timestamp(when), pid), ["tasks", "completed"]])

    n, done = counts[trip]
    assert (at(T0, trip), at(T1, trip)) == ((n, done), (n + 1, done))
    assert h.loc[(pd.Timestamp(T1), trip), "share_completed"] == pytest.approx(done / (n + 1))
    n, done = counts[kitchen]
    assert at(T1, kitchen) == (n - len(layout), done - done_in_layout)
    assert h.loc[(pd.Timestamp(T0), kitchen), "project_name"] == "Kitchen Renovation"


def test_projects_that_failed_to_load_are_neither_removed_nor_zero(emulator, client, tmp_path):
    ws = emulator.workspace
    trip = project_id(ws, "Trip to Lisbon")
    sid = ws.projects[trip].space_id
    export_space(sid, tmp_path, client, snapshot=T0, progress=False)
    emulator.forbidden = {trip}

    result = export_space(sid, tmp_path, client, snapshot=T1, progress=False)

    assert set(result.errors["id"]) == {trip}
    assert "project:tasks" in set(result.errors["resource"])
    assert json.loads(result.manifest.read_text())["errors"][0]["id"] == trip
    assert diff_snapshots(tmp_path).empty
    history = completion_history(tmp_path).set_index(["snapshot", "project_id"])
    assert history.loc[(pd.Timestamp(T0), trip), "tasks"] == len(ws.tasks(trip))
    assert pd.isna(history.loc[(pd.Timestamp(T1), trip), "tasks"])
    assert pd.isna(history.loc[(pd.Timestamp(T1), trip), "share_completed"])


def test_previous_needs_two_snapshots(emulator, client, tmp_path):
    export_space(small_space(emulator), tmp_path, client, progress=False)

    with pytest.raises(SnapshotNotFoundError, match="'previous' needs 2"):
        diff_snapshots(tmp_path)


# -- failures while writing ----------------------------------------------------------------


def test_a_full_disk_leaves_no_temporary_files_and_earlier_snapshots_intact(
    emulator, client, tmp_path, monkeypatch
):
    sid = small_space(emulator)
    first = export_space(sid, tmp_path, client, snapshot=T0, progress=False)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    real, calls = pq.write_table, []

    def write_table(*args, **kw):
        calls.append(1)
        if len(calls) == 5:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*args, **kw)

    monkeypatch.setattr(pq, "write_table", write_table)
    with pytest.raises(ExportError, match="No space left on device") as info:
        export_space(sid, tmp_path, client, snapshot=T1, progress=False)

    assert isinstance(info.value.__cause__, OSError)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert read_export(tmp_path)["tasks"].attrs["snapshot"] == first.snapshot


def test_a_failed_commit_removes_folders_already_moved(emulator, client, tmp_path, monkeypatch):
    sid = small_space(emulator)
    export_space(sid, tmp_path, client, snapshot=T0, progress=False)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    real = os.replace

    def replace(src, dst):
        if os.path.basename(os.path.dirname(dst)) == "_snapshots":
            raise OSError(errno.EIO, "Input/output error")
        return real(src, dst)

    monkeypatch.setattr(storage.os, "replace", replace)
    with pytest.raises(ExportError, match="cannot commit snapshot 2026-11-30T120000Z"):
        export_space(sid, tmp_path, client, snapshot=T1, progress=False)

    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


@pytest.mark.skipif(sys.platform == "win32", reason="advisory locks are POSIX")
def test_an_export_waits_for_another_one_writing_to_the_same_folder(emulator, client, tmp_path):
    import fcntl

    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(ExportError, match="another export is writing"):
            export_space(small_space(emulator), tmp_path, client, progress=False, lock_timeout=0.2)
    finally:
        os.close(fd)
    assert export_space(small_space(emulator), tmp_path, client, progress=False).rows["tasks"]


# -- CLI ---------------------------------------------------------------------------------------


@pytest.fixture
def env(emulator, monkeypatch):
    """The environment a scheduled export runs with, pointing at the emulator."""
    monkeypatch.setenv("TASKADE_API_URL", emulator.base_url)
    monkeypatch.setenv("TASKADE_API_TOKEN", FAKE_TOKEN)
    monkeypatch.delenv("TASKADE_TOKEN", raising=False)
    return emulator


def test_cli_exports_every_space_and_prints_a_summary(env, tmp_path, capsys):
    code = main(["export", "--all", "--out", str(tmp_path), "--quiet"])

    out = capsys.readouterr().out
    snapshot = list_snapshots(tmp_path)["snapshot"].iloc[0]
    assert code == 0
    assert f"snapshot {snapshot}: 2 space(s)" in out
    tasks = sum(len(p.tasks) for p in env.workspace.projects.values())
    assert any(line.split() == ["tasks", str(tasks)] for line in out.splitlines())
    assert "errors: 0" in out
    assert f"snapshot={snapshot}" in out
    assert FAKE_TOKEN not in out


def test_cli_reports_an_unknown_space(env, tmp_path, capsys):
    code = main(["export", "--space", "NoSuchSpace00000", "--out", str(tmp_path), "--quiet"])

    assert code == 1
    assert "space 'NoSuchSpace00000' is unknown or not visible" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_cli_reports_an_unwritable_folder(env, tmp_path, capsys):
    (tmp_path / "a-file").write_text("")

    code = main(["export", "--all", "--out", str(tmp_path / "a-file" / "out"), "--quiet"])

    assert code == 1
    assert "cannot write to" in capsys.readouterr().err


def test_cli_without_a_token_never_exports_sample_data(monkeypatch, tmp_path, capsys):
    for name in ("TASKADE_API_TOKEN", "TASKADE_TOKEN", "TASKADE_API_URL"):
        monkeypatch.delenv(name, raising=False)

    code = main(["export", "--all", "--out", str(tmp_path / "out"), "--quiet"])

    assert code == 1
    assert "TASKADE_API_TOKEN" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_cli_needs_exactly_one_of_space_or_all(tmp_path, capsys):
    for argv in (["--all", "--space", "x"], []):
        with pytest.raises(SystemExit) as info:
            main(["export", *argv, "--out", str(tmp_path)])
        assert info.value.code == 2
    assert "--space" in capsys.readouterr().err


def test_cli_warns_when_resources_failed(env, tmp_path, capsys):
    trip = project_id(env.workspace, "Trip to Lisbon")
    env.forbidden = {trip}

    code = main(["export", "--space", small_space(env), "--out", str(tmp_path), "--quiet"])

    captured = capsys.readouterr()
    assert code == 3  # partial: committed, with errors rows
    assert "errors: 4" in captured.out
    assert "4 resource(s) failed" in captured.err


def test_cli_as_a_subprocess(env, tmp_path):
    sid = small_space(env)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "taskade_frames",
            "export",
            "--space",
            sid,
            "--out",
            str(tmp_path),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ.copy(),
    )

    assert proc.returncode == 0, proc.stderr
    assert "snapshot " in proc.stdout
    assert read_export(tmp_path, space_id=sid)["spaces"]["id"].tolist() == [sid]
