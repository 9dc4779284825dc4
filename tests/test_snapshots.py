"""Snapshots as a history: ordering under overlap, damage, bad spaces, retention, engines.

Every test exports over real HTTP from an emulator into its own ``tmp_path``.
The object-store side of the same promises is in ``test_snapshots_s3.py``.
"""

from __future__ import annotations

import itertools
import threading
import time
from datetime import UTC, datetime

import pandas as pd
import pytest

from taskade_frames import TaskadeClient, schemas, storage
from taskade_frames.cli import main
from taskade_frames.emulator._model import Space
from taskade_frames.export import DATASETS, ExportError, export_all, export_space
from taskade_frames.loaders import load_spaces
from taskade_frames.snapshots import (
    DamagedSnapshotWarning,
    completion_history,
    diff_snapshots,
    list_snapshots,
    prune_snapshots,
    read_export,
)
from taskade_frames.space import load_space

from .conftest import FAKE_TOKEN

T0 = datetime(2020, 11, 29, 12, 0, 0, tzinfo=UTC)
T1 = datetime(2020, 11, 30, 12, 0, 0, tzinfo=UTC)
T2 = datetime(2020, 12, 1, 12, 0, 0, tzinfo=UTC)


def small_space(emulator) -> str:
    ws = emulator.workspace
    return next(p.space_id for p in ws.projects.values() if p.name == "Trip to Lisbon")


def by_keys(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(list(df.columns), ignore_index=True)


# -- round trip under every behaviour profile ---------------------------------------------


def test_round_trip_gives_the_loaders_frames_under_every_profile(
    profile_emulator, profile_client, tmp_path
):
    result = export_all(tmp_path, profile_client, progress=False)
    live = [load_space(sid, profile_client, progress=False).frames() for sid in result.spaces]

    frames = read_export(tmp_path)

    for entity in DATASETS:
        if entity == "spaces":
            expected = load_spaces(profile_client)
        else:
            expected = pd.concat([f[entity] for f in live], ignore_index=True)
        pd.testing.assert_frame_equal(
            by_keys(frames[entity]), by_keys(schemas.coerce(expected, entity)), obj=entity
        )
    ws = profile_emulator.workspace
    truth = {t["id"] for p in ws.projects.values() for t in ws.tasks(p.id)}
    assert set(frames["tasks"]["id"]) == truth
    assert frames["errors"].empty


# -- 12.6: overlapping exports commit in the order their data was read ---------------------


def test_overlapping_exports_are_named_in_the_order_their_data_was_read(emulator, tmp_path):
    ws = emulator.workspace
    sid = small_space(emulator)
    project = next(p for p in ws.projects.values() if p.space_id == sid and len(p.tasks) > 5)
    open_ids = [t["id"] for t in ws.tasks(project.id) if not t["completed"]]
    assert len(open_ids) > 5
    emulator.latency = 0.1  # each export holds the lock for a second or more
    stop = threading.Event()

    def complete_tasks() -> None:  # tasks only ever get completed while exports run
        for tid in open_ids:
            if stop.wait(0.15):
                return
            ws.update_task(project.id, tid, completed=True)

    results: list = []
    failures: list = []

    def run() -> None:
        try:
            with TaskadeClient(FAKE_TOKEN, base_url=emulator.base_url, timeout=30) as c:
                results.append(export_space(sid, tmp_path, c, progress=False))
        except BaseException as exc:
            failures.append(exc)

    mutator = threading.Thread(target=complete_tasks)
    mutator.start()
    threads = []
    try:
        for _ in range(4):  # they queue on the lock while the clock moves on
            threads.append(threading.Thread(target=run))
            threads[-1].start()
            time.sleep(0.6)
        for t in threads:
            t.join(120)
    finally:
        stop.set()
        mutator.join()
        emulator.latency = 0.0
    assert not failures, failures

    listed = list_snapshots(tmp_path)
    assert len(listed) == 4
    assert listed["snapshot_time"].is_monotonic_increasing
    assert listed["snapshot_time"].is_unique
    committed_order = [r.snapshot for r in sorted(results, key=lambda r: r.snapshot_time)]
    assert listed["snapshot"].tolist() == committed_order
    history = completion_history(tmp_path)
    done = history[history["project_id"] == project.id]["completed"].tolist()
    assert done == sorted(done) and done[-1] > done[0]
    names = listed["snapshot"].tolist()
    for before, after in itertools.pairwise(names):
        changes = diff_snapshots(tmp_path, before, after)
        assert "reopened" not in set(changes["change"])


# -- 12.7: interrupted commits and damaged snapshots -----------------------------------------


def _interrupt_on(monkeypatch, when):
    real = storage.Store.move

    def move(self, src, dst):
        if when == "before-manifest" and dst.startswith(storage.MANIFESTS):
            raise KeyboardInterrupt
        real(self, src, dst)
        if when == "after-manifest" and dst.startswith(storage.MANIFESTS):
            raise KeyboardInterrupt

    monkeypatch.setattr(storage.Store, "move", move)


def test_ctrl_c_right_after_the_commit_point_keeps_the_snapshot_whole(
    emulator, client, tmp_path, monkeypatch
):
    sid = small_space(emulator)
    export_space(sid, tmp_path, client, snapshot=T0, progress=False)
    _interrupt_on(monkeypatch, "after-manifest")
    with pytest.raises(KeyboardInterrupt):
        export_space(sid, tmp_path, client, snapshot=T1, progress=False)
    monkeypatch.undo()

    listed = list_snapshots(tmp_path)
    assert listed["snapshot"].tolist() == ["2020-11-29T120000Z", "2020-11-30T120000Z"]
    assert listed["damaged"].isna().all()
    assert len(read_export(tmp_path)["tasks"]) == listed["tasks"].iloc[-1] > 0
    assert diff_snapshots(tmp_path).empty
    assert not (tmp_path / storage.STAGING).exists()


def test_ctrl_c_before_the_commit_point_leaves_nothing_visible(
    emulator, client, tmp_path, monkeypatch
):
    sid = small_space(emulator)
    export_space(sid, tmp_path, client, snapshot=T0, progress=False)
    _interrupt_on(monkeypatch, "before-manifest")
    with pytest.raises(KeyboardInterrupt):
        export_space(sid, tmp_path, client, snapshot=T1, progress=False)
    monkeypatch.undo()

    assert list_snapshots(tmp_path)["snapshot"].tolist() == ["2020-11-29T120000Z"]
    assert not (tmp_path / "tasks" / "snapshot=2020-11-30T120000Z").exists()
    assert not (tmp_path / storage.STAGING).exists()


def _damage(out, how: str, name: str) -> None:
    part = out / "tasks" / f"snapshot={name}"
    target = next(part.rglob("*.parquet"))
    if how == "part-deleted":
        target.unlink()
    elif how == "part-truncated":
        target.write_bytes(target.read_bytes()[:20])
    elif how == "manifest-garbled":
        (out / storage.MANIFESTS / f"{name}.json").write_text("{not json")


@pytest.mark.parametrize("how", ["part-deleted", "part-truncated", "manifest-garbled"])
def test_a_damaged_snapshot_is_reported_and_skipped_never_a_dead_end(
    emulator, client, tmp_path, how
):
    sid = small_space(emulator)
    for when in (T0, T1, T2):
        export_space(sid, tmp_path, client, snapshot=when, progress=False)
    _damage(tmp_path, how, "2020-12-01T120000Z")

    listed = list_snapshots(tmp_path)
    if how != "part-truncated":  # a truncated file is only found when it is read
        assert listed["damaged"].notna().tolist() == [False, False, True]
        with pytest.warns(DamagedSnapshotWarning, match="2020-12-01T120000Z"):
            assert read_export(tmp_path)["tasks"].attrs["snapshot"] == "2020-11-30T120000Z"
        with pytest.warns(DamagedSnapshotWarning):
            assert diff_snapshots(tmp_path).empty  # previous and latest of the good ones
    with pytest.raises(ExportError, match="damaged"):
        read_export(tmp_path, "2020-12-01T120000Z")
    with pytest.warns(DamagedSnapshotWarning, match="2020-12-01T120000Z"):
        history = completion_history(tmp_path)
    assert history["snapshot"].drop_duplicates().tolist() == [pd.Timestamp(T0), pd.Timestamp(T1)]
    later = export_space(sid, tmp_path, client, progress=False)
    assert read_export(tmp_path, later.snapshot)["tasks"].attrs["snapshot"] == later.snapshot


# -- 12.8: one bad space does not sink export_all ------------------------------------------


def _break(ws, how: str) -> str:
    """Add a space that misbehaves in one way; returns its id."""
    if how in ("empty-id", "blank-id", "long-id"):
        sid = {"empty-id": "", "blank-id": "   ", "long-id": "x" * 300}[how]
        ws.spaces[sid] = Space(sid, f"Bad {how}")
        return sid
    sid = ws.add_space(f"Bad {how}")
    pid = ws.add_project(sid, "Broken")
    ws.add_task(pid, "a task")
    if how == "field-data-string":
        ws.projects[pid].fields.append({"id": "fld1", "data": "not an object"})
    elif how == "deeply-nested":
        deep: dict = {}
        for _ in range(5000):
            deep = {"a": deep}
        ws.projects[pid].fields.append({"id": "fld2", "data": deep})
    elif how == "llm-string":
        aid = ws.add_agent(sid, "Agent")
        ws.add_conversation(aid, "chat", data={"llm": "not an object"})
    elif how == "ended-out-of-range":
        aid = ws.add_agent(sid, "Agent")
        ws.add_conversation(aid, "chat", data={"endedAt": 10**20, "startedAt": 0})
    return sid


@pytest.mark.parametrize(
    "how",
    [
        "empty-id",
        "blank-id",
        "long-id",
        "field-data-string",
        "deeply-nested",
        "llm-string",
        "ended-out-of-range",
    ],
)
def test_one_bad_space_becomes_errors_rows_and_the_others_are_committed(
    emulator, client, tmp_path, how
):
    good = list(emulator.workspace.spaces)
    bad = _break(emulator.workspace, how)

    result = export_all(tmp_path, client, progress=False)

    assert set(good) <= set(result.spaces)
    errors = read_export(tmp_path)["errors"]
    if bad not in result.spaces:
        row = errors[errors["resource"] == "space"]
        assert row["id"].tolist() == [bad]
        assert row["error"].iloc[0] and row["message"].iloc[0]
    else:  # the space is committed and the malformed resource is an errors row
        assert len(errors) >= 1
    assert len(list_snapshots(tmp_path)) == 1
    assert len(read_export(tmp_path)["tasks"]) > 1000


def test_export_space_of_an_unusable_id_is_a_clear_error_and_writes_nothing(client, tmp_path):
    for sid, error in (
        ("", ValueError),
        ("   ", ValueError),
        ("x" * 300, ValueError),
        (5, TypeError),
    ):
        with pytest.raises(error):
            export_space(sid, tmp_path / "out", client, progress=False)
    assert not (tmp_path / "out").exists()


# -- 14.3: arguments that cannot be mixed up ----------------------------------------------


def test_swapped_arguments_are_a_type_error_and_leave_no_stray_folder(
    emulator, client, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    sid = small_space(emulator)
    with pytest.raises(TypeError, match="out must be a local path or a URI"):
        export_space(sid, client, "out")
    with pytest.raises(TypeError, match="out must be a local path or a URI"):
        export_all(client, "out")
    with pytest.raises(TypeError, match="expected a TaskadeClient, got str"):
        export_all("out", "out2")
    with pytest.raises(TypeError):
        export_space(sid, "out", client, False)  # options are keyword-only
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("uri", ["s3:bucket/x", "nosuchscheme://bucket/x"])
def test_a_uri_never_becomes_a_local_folder(emulator, client, tmp_path, monkeypatch, uri):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError):
        export_space(small_space(emulator), uri, client, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_file_uris_write_the_same_export(emulator, client, tmp_path):
    result = export_space(small_space(emulator), f"file://{tmp_path}/x", client, progress=False)

    assert list_snapshots(tmp_path / "x")["snapshot"].tolist() == [result.snapshot]
    assert len(read_export(f"file://{tmp_path}/x")["tasks"]) == result.rows["tasks"]


# -- 14.3: snapshot arguments take what the library returns ---------------------------------


def test_snapshot_arguments_accept_the_names_timestamps_and_dates_returned(
    emulator, client, tmp_path
):
    sid = small_space(emulator)
    for when in (T0, T1):
        export_space(sid, tmp_path, client, snapshot=when, progress=False)
    last = export_space(sid, tmp_path, client, progress=False)  # microsecond time
    listed = list_snapshots(tmp_path)
    history = completion_history(tmp_path)

    for value in (
        listed["snapshot_time"].iloc[0],
        history["snapshot"].iloc[0],
        T0,
        T0.date(),
        listed["snapshot"].iloc[0],
    ):
        assert read_export(tmp_path, value)["tasks"].attrs["snapshot"] == "2020-11-29T120000Z"
    newest = listed["snapshot_time"].iloc[-1]
    assert read_export(tmp_path, newest)["tasks"].attrs["snapshot"] == last.snapshot
    assert diff_snapshots(
        tmp_path, listed["snapshot_time"].iloc[0], history["snapshot"].iloc[-1]
    ).empty
    with pytest.raises(TypeError):
        read_export(tmp_path, 3)
    with pytest.raises(ValueError, match="timezone"):
        read_export(tmp_path, datetime(2020, 11, 29, 12))


# -- 16.3: retention ------------------------------------------------------------------------


def test_prune_keeps_the_newest_and_removes_leftovers(emulator, client, tmp_path):
    sid = small_space(emulator)
    for when in (T0, T1, T2):
        export_space(sid, tmp_path, client, snapshot=when, progress=False)
    orphan = tmp_path / "tasks" / "snapshot=2020-12-02T120000Z" / "space_id=x"
    orphan.mkdir(parents=True)

    dry = prune_snapshots(tmp_path, keep_last=1, dry_run=True)
    assert dry[dry["kind"] == "snapshot"]["name"].tolist() == [
        "2020-11-29T120000Z",
        "2020-11-30T120000Z",
    ]
    assert len(list_snapshots(tmp_path)) == 3

    removed = prune_snapshots(tmp_path, keep_last=2)

    assert removed[removed["kind"] == "snapshot"]["name"].tolist() == ["2020-11-29T120000Z"]
    assert "tasks/snapshot=2020-12-02T120000Z" in removed["name"].tolist()
    assert list_snapshots(tmp_path)["snapshot"].tolist() == [
        "2020-11-30T120000Z",
        "2020-12-01T120000Z",
    ]
    for entity in DATASETS:
        assert not (tmp_path / entity / "snapshot=2020-11-29T120000Z").exists()
    # Everything is older than a day, but the newest snapshot always stays.
    prune_snapshots(tmp_path, older_than="1d")
    assert list_snapshots(tmp_path)["snapshot"].tolist() == ["2020-12-01T120000Z"]
    assert len(read_export(tmp_path)["tasks"]) > 0


def test_prune_waits_for_a_running_export(emulator, client, tmp_path):
    import fcntl
    import os

    sid = small_space(emulator)
    export_space(sid, tmp_path, client, snapshot=T0, progress=False)
    staged = tmp_path / storage.STAGING / "2020-12-02T120000Z-abcd" / "tasks"
    staged.mkdir(parents=True)
    fd = os.open(tmp_path, os.O_RDONLY)  # what a running export holds
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(ExportError, match="another export is writing"):
            prune_snapshots(tmp_path, keep_last=1, lock_timeout=0.2)
        assert staged.exists()
    finally:
        os.close(fd)
    prune_snapshots(tmp_path, keep_last=1)
    assert not staged.exists()


def test_prune_rejects_nonsense(tmp_path):
    for kwargs in (
        {"keep_last": 0},
        {"keep_last": True},
        {"older_than": "soon"},
        {"older_than": "-1d"},
    ):
        with pytest.raises(ValueError):
            prune_snapshots(tmp_path, **kwargs)


def test_cli_lists_and_prunes_snapshots(emulator, client, tmp_path, capsys):
    sid = small_space(emulator)
    for when in (T0, T1):
        export_space(sid, tmp_path, client, snapshot=when, progress=False)

    assert main(["snapshots", "list", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "2020-11-29T120000Z" in out and "2020-11-30T120000Z" in out
    assert main(["snapshots", "prune", "--out", str(tmp_path), "--keep-last", "1"]) == 0
    assert "removed 1 snapshot(s)" in capsys.readouterr().out
    assert list_snapshots(tmp_path)["snapshot"].tolist() == ["2020-11-30T120000Z"]
    assert main(["snapshots", "list", "--out", str(tmp_path / "typo")]) == 1
    assert "holds no export" in capsys.readouterr().err


# -- 16.5: engines read the dataset in place -------------------------------------------------


def test_polars_scans_the_dataset_with_hive_partitions(emulator, client, tmp_path):
    import polars as pl

    sid = small_space(emulator)
    a = export_space(sid, tmp_path, client, snapshot=T0, progress=False)
    b = export_space(sid, tmp_path, client, snapshot=T1, progress=False)

    # Names stay strings (snapshots within one second get a "-2" suffix).
    counts = (
        pl.scan_parquet(
            f"{tmp_path}/tasks/**/*.parquet", hive_partitioning=True, try_parse_hive_dates=False
        )
        .group_by("snapshot", "space_id")
        .agg(pl.len().alias("n"))
        .sort("snapshot")
        .collect()
    )

    assert counts["snapshot"].to_list() == [a.snapshot, b.snapshot]
    assert counts["space_id"].to_list() == [sid, sid]
    assert counts["n"].to_list() == [a.rows["tasks"], b.rows["tasks"]]


def fragments(secret: str, size: int = 9) -> set[str]:
    return {secret[i : i + size] for i in range(len(secret) - size + 1)}


def test_no_file_holds_the_token_even_when_errors_quote_it(emulator, client, tmp_path, monkeypatch):
    from taskade_frames import space as space_mod

    ws = emulator.workspace
    bad = ws.add_space("Echoes")
    real = space_mod.load_space

    def load_space(sid, *args, **kwargs):
        if sid == bad:
            raise ValueError(f"unexpected value 'Bearer {FAKE_TOKEN}'")
        return real(sid, *args, **kwargs)

    monkeypatch.setattr(space_mod, "load_space", load_space)
    pid = next(iter(ws.projects))
    emulator.forbidden = {pid}

    result = export_all(tmp_path, client, progress=False)

    assert bad not in result.spaces and len(result.errors) >= 2
    assert "<redacted>" in " ".join(result.errors["message"].dropna())
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(f.encode() in data for f in fragments(FAKE_TOKEN)), path


# -- 16.4: a notebook cache -----------------------------------------------------------------


def test_load_space_answers_from_a_fresh_snapshot_and_reloads_a_stale_one(
    emulator, client, tmp_path
):
    import taskade_frames as tf

    ws = emulator.workspace
    sid = small_space(emulator)
    live = load_space(sid, client, progress=False)

    first = tf.load_space(sid, client, cache=tmp_path, max_age="15min", progress=False)
    pid = next(p.id for p in ws.projects.values() if p.space_id == sid and len(p.tasks))
    ws.add_task(pid, "added after the first load")
    again = tf.load_space(sid, client, cache=tmp_path, max_age="15min", progress=False)
    stale = tf.load_space(sid, client, cache=tmp_path, max_age="0s", progress=False)

    assert first.tasks.attrs["source"] == "live" and again.tasks.attrs["source"] == "cache"
    assert again.tasks.attrs["snapshot"] == first.tasks.attrs["snapshot"]
    for entity, df in live.frames().items():
        for got in (first, again):
            frame = got.frames()[entity]
            assert list(frame.columns) == list(df.columns), entity
            pd.testing.assert_frame_equal(by_keys(frame), by_keys(df), obj=entity, check_like=False)
    assert stale.tasks.attrs["source"] == "live"
    assert len(stale.tasks) == len(again.tasks) + 1
    assert len(list_snapshots(tmp_path)) == 2
    assert tf.load_space(sid, client, progress=False).tasks.attrs == {}


def test_scrub_masks_tokens_and_url_credentials():
    from taskade_frames.errors import register_secret
    from taskade_frames.export import scrub

    register_secret(FAKE_TOKEN)
    text = f"GET https://bob:hunter2pass@proxy.example/api failed: Bearer {FAKE_TOKEN}"

    assert scrub(text) == "GET https://proxy.example/api failed: Bearer <redacted>"
    assert scrub("no secrets here") == "no secrets here"
