"""Exports straight to an S3-compatible store: moto's server, started by the tests on loopback.

Object stores cannot rename, so the commit is the manifest written last; these
tests check that protocol against a real HTTP S3 API (not a mock of pyarrow):
round trip, diff, a process killed mid-export, retention, and that no object
holds the API token or the store's credentials.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime

import pandas as pd
import pytest

from taskade_frames import schemas
from taskade_frames.export import DATASETS, export_all, export_space
from taskade_frames.loaders import load_spaces
from taskade_frames.snapshots import (
    diff_snapshots,
    list_snapshots,
    prune_snapshots,
    read_export,
)
from taskade_frames.space import load_space

from .conftest import FAKE_TOKEN
from .secret_scan import forms_of

moto_server = pytest.importorskip("moto.server")

# Obviously fake, and long enough that a leak of any 9-character piece is caught.
ACCESS_KEY = "FAKEACCESSKEYFORTESTS0001"
SECRET_KEY = "fake-secret-key-for-moto-tests-only-qzxwvjkp"
T0 = datetime(2020, 11, 29, 12, 0, 0, tzinfo=UTC)
T1 = datetime(2020, 11, 30, 12, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def s3_endpoint():
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_env(s3_endpoint, monkeypatch):
    """The standard AWS variables a scheduled job would have, pointing at moto."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return s3_endpoint


@pytest.fixture
def bucket(s3_env):
    import pyarrow.fs as pafs

    name = f"exports-{uuid.uuid4().hex[:12]}"
    pafs.S3FileSystem(
        endpoint_override=s3_env, scheme="http", allow_bucket_creation=True
    ).create_dir(name)
    return name


def objects(bucket: str) -> dict[str, bytes]:
    import pyarrow.fs as pafs

    fs, _ = pafs.FileSystem.from_uri(f"s3://{bucket}")
    found = {}
    for info in fs.get_file_info(pafs.FileSelector(bucket, recursive=True)):
        if info.type == pafs.FileType.File:
            with fs.open_input_stream(info.path) as f:
                found[info.path] = f.read()
    return found


def small_space(emulator) -> str:
    ws = emulator.workspace
    return next(p.space_id for p in ws.projects.values() if p.name == "Trip to Lisbon")


def by_keys(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(list(df.columns), ignore_index=True)


def test_export_to_s3_reads_back_as_the_loaders_frames(emulator, client, bucket):
    out = f"s3://{bucket}/taskade"

    result = export_all(out, client, progress=False)

    assert result.out == out
    frames = read_export(out)
    for entity in DATASETS:
        if entity == "spaces":
            expected = load_spaces(client)
        else:
            expected = pd.concat(
                [load_space(sid, client, progress=False).frames()[entity] for sid in result.spaces],
                ignore_index=True,
            )
        pd.testing.assert_frame_equal(
            by_keys(frames[entity]), by_keys(schemas.coerce(expected, entity)), obj=entity
        )
    keys = set(objects(bucket))
    assert f"{bucket}/taskade/_snapshots/{result.snapshot}.json" in keys
    assert not any("/.staging/" in k for k in keys)


def test_endpoint_in_the_uri_query_is_used_and_never_shown(
    emulator, client, bucket, monkeypatch, s3_endpoint
):
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    out = f"s3://{bucket}/q?endpoint_override={s3_endpoint}&scheme=http"

    result = export_space(small_space(emulator), out, client, progress=False)

    assert result.out == f"s3://{bucket}/q"
    assert len(read_export(out)["tasks"]) == result.rows["tasks"] > 0


def test_two_snapshots_on_s3_then_a_diff(emulator, client, bucket):
    out = f"s3://{bucket}/x"
    ws = emulator.workspace
    sid = small_space(emulator)
    pid = next(p.id for p in ws.projects.values() if p.space_id == sid and len(p.tasks) > 1)
    tid = next(t["id"] for t in ws.tasks(pid) if not t["completed"])
    export_space(sid, out, client, snapshot=T0, progress=False)
    ws.update_task(pid, tid, completed=True)
    export_space(sid, out, client, snapshot=T1, progress=False)

    diff = diff_snapshots(out)

    assert list_snapshots(out)["snapshot"].tolist() == ["2020-11-29T120000Z", "2020-11-30T120000Z"]
    assert diff[["task_id", "change"]].values.tolist() == [[tid, "completed"]]


def test_a_process_killed_mid_export_to_s3_leaves_nothing_visible(emulator, client, bucket, s3_env):
    out = f"s3://{bucket}/k"
    ws = emulator.workspace
    first = export_space(small_space(emulator), out, client, snapshot=T0, progress=False)
    before = read_export(out)
    for i in range(3):  # more spaces: a wide window to kill in
        sid = ws.add_space(f"Extra {i}")
        ws.add_task(ws.add_project(sid, f"Project {i}"), "a task")
    emulator.latency = 0.05
    env = {**os.environ, "TASKADE_API_URL": emulator.base_url, "TASKADE_API_TOKEN": FAKE_TOKEN}
    proc = subprocess.Popen(
        [sys.executable, "-m", "taskade_frames", "export", "--all", "--out", out, "--quiet"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not [k for k in objects(bucket) if "/snapshot=" in k and first.snapshot not in k]:
            assert proc.poll() is None, (
                f"the export ended before it was killed: {proc.communicate()}"
            )
            assert time.monotonic() < deadline, "nothing was written in time"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
        emulator.latency = 0.0

    assert proc.returncode == -signal.SIGKILL
    partial = {k for k in objects(bucket) if "/snapshot=" in k and first.snapshot not in k}
    assert partial, "the kill left parts of the unfinished snapshot"
    assert list_snapshots(out)["snapshot"].tolist() == [first.snapshot]
    after = read_export(out)
    for entity in DATASETS:
        pd.testing.assert_frame_equal(after[entity], before[entity], obj=entity)

    fresh = prune_snapshots(out)  # too young: a running export could be writing them
    assert fresh.empty and partial <= set(objects(bucket))
    removed = prune_snapshots(out, stale_after="0s")
    assert set(removed["kind"]) == {"leftover"}
    assert not {k for k in objects(bucket) if "/snapshot=" in k and first.snapshot not in k}
    rerun = export_all(out, client, progress=False)
    assert list_snapshots(out)["snapshot"].tolist() == [first.snapshot, rerun.snapshot]


def test_prune_on_s3_keeps_the_newest(emulator, client, bucket):
    out = f"s3://{bucket}/p"
    sid = small_space(emulator)
    for when in (T0, T1):
        export_space(sid, out, client, snapshot=when, progress=False)

    removed = prune_snapshots(out, older_than="1d")

    assert removed["name"].tolist() == ["2020-11-29T120000Z"]
    assert list_snapshots(out)["snapshot"].tolist() == ["2020-11-30T120000Z"]
    assert not any("2020-11-29T120000Z" in k for k in objects(bucket))


def test_no_object_holds_the_token_or_a_credential(
    emulator, client, bucket, s3_endpoint, monkeypatch
):
    from taskade_frames import space as space_mod

    ws = emulator.workspace
    bad = ws.add_space("Echoes")
    real = space_mod.load_space

    def load_space_echoing(sid, *args, **kwargs):
        if sid == bad:  # a server echoing our headers into an error
            raise ValueError(f"unexpected 'Authorization: Bearer {FAKE_TOKEN}'")
        return real(sid, *args, **kwargs)

    monkeypatch.setattr(space_mod, "load_space", load_space_echoing)
    emulator.forbidden = {next(iter(ws.projects))}
    out = f"s3://{bucket}/scan?endpoint_override={s3_endpoint}&scheme=http"

    result = export_all(out, client, progress=False)

    assert len(result.errors) >= 2
    secrets = [FAKE_TOKEN, SECRET_KEY, ACCESS_KEY]
    pieces = {s[i : i + 9] for s in secrets for i in range(len(s) - 8)}
    found = objects(bucket)
    assert len(found) > len(DATASETS)
    for key, data in found.items():
        # Parquet pages are compressed: search the raw bytes, then the decoded values.
        for form in forms_of(data):
            assert not [p for p in pieces if p.encode() in form], key
            assert b"endpoint_override" not in form and s3_endpoint.encode() not in form, key
