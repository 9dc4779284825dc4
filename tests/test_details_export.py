"""Task details through the export: datasets of their own, read back, diffed."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from taskade_frames import export_all, export_space, schemas
from taskade_frames.cli import EXIT_USAGE, main
from taskade_frames.export import DATASETS as ENTITIES
from taskade_frames.export import DETAIL_DATASETS as DETAIL_ENTITIES
from taskade_frames.snapshots import diff_snapshots, read_export
from taskade_frames.space import load_space

from .conftest import FAKE_TOKEN


def personal(emulator) -> str:
    return next(s.id for s in emulator.workspace.spaces.values() if s.name == "Personal")


def project(emulator, name):
    return next(p for p in emulator.workspace.projects.values() if p.name == name)


def test_details_are_datasets_of_their_own_and_read_back(emulator, client, tmp_path):
    sid = personal(emulator)
    result = export_space(sid, tmp_path, client, progress=False, details=True)
    manifest = json.loads(result.manifest.read_text())
    assert manifest["entities"] == [*ENTITIES, *DETAIL_ENTITIES]
    frames = read_export(tmp_path)
    loaded = load_space(sid, client, progress=False, details=True)
    for entity, expected in loaded.detail_frames().items():
        got = frames[entity]
        assert dict(got.dtypes) == schemas.dtypes(entity), entity
        key = [
            "project_id",
            "task_id",
            *[c for c in got.columns if c.startswith("position") or c == "field_id"],
        ]
        pd.testing.assert_frame_equal(
            got.sort_values(key, ignore_index=True),
            expected.sort_values(key, ignore_index=True),
            obj=entity,
        )
        assert result.rows[entity] == len(expected) > 0
    assert (tmp_path / "task_dates").is_dir()


def test_an_export_without_details_has_no_detail_datasets(emulator, client, tmp_path):
    export_space(personal(emulator), tmp_path, client, progress=False)
    assert set(read_export(tmp_path)) == set(ENTITIES)
    assert not (tmp_path / "task_assignees").exists()
    assert emulator.request_count("taskAssigneesGet") == 0


def test_only_the_asked_parts_are_exported(emulator, client, tmp_path):
    result = export_all(tmp_path, client, progress=False, details=["notes"])
    assert set(read_export(tmp_path)) == {*ENTITIES, "task_notes"}
    assert result.rows["task_notes"] > 0 and "task_dates" not in result.rows


def test_the_diff_reports_reassignments_and_moved_due_dates(emulator, client, tmp_path):
    sid = personal(emulator)
    p = project(emulator, "Kitchen Renovation")
    first, second = p.tasks.id_at(0), p.tasks.id_at(1)
    handles = sorted(m["handle"] for m in p.members)
    emulator.workspace.set_task_details(p.id, first, assignees=[handles[0]])
    export_space(
        sid,
        tmp_path,
        client,
        progress=False,
        details=("assignees", "dates"),
        snapshot="2026-01-01T000000Z",
    )
    emulator.workspace.set_task_details(p.id, first, assignees=[handles[1], handles[0]])
    emulator.workspace.set_task_details(p.id, second, date={"start": {"date": "2030-01-02"}})
    export_space(
        sid,
        tmp_path,
        client,
        progress=False,
        details=("assignees", "dates"),
        snapshot="2026-01-02T000000Z",
    )
    diff = diff_snapshots(tmp_path)
    detail = diff[diff.change.isin(["reassigned", "due_changed"])]
    assert detail.change.tolist().count("due_changed") == 1
    due = detail[detail.change == "due_changed"].iloc[0]
    assert due.task_id == second and due.value_after == "2030-01-02"
    reassigned = detail[detail.change == "reassigned"]
    assert reassigned.task_id.tolist() == [first]
    assert reassigned.value_before.iloc[0] == handles[0]
    assert reassigned.value_after.iloc[0] == f"{handles[0]}, {handles[1]}"
    assert reassigned.text_after.iloc[0] == emulator.workspace.tasks(p.id)[0]["text"]
    assert len(diff) == len(detail)  # nothing else changed


def test_a_diff_against_a_snapshot_without_details_reports_no_detail_change(
    emulator, client, tmp_path
):
    sid = personal(emulator)
    export_space(sid, tmp_path, client, progress=False, snapshot="2026-01-01T000000Z")
    export_space(sid, tmp_path, client, progress=False, details=True, snapshot="2026-01-02T000000Z")
    diff = diff_snapshots(tmp_path)
    assert diff.empty and list(diff.columns)[-2:] == ["value_before", "value_after"]


# -- the CLI's --details -------------------------------------------------------------


@pytest.fixture
def env(emulator, monkeypatch):
    monkeypatch.setenv("TASKADE_API_URL", emulator.base_url)
    monkeypatch.setenv("TASKADE_API_TOKEN", FAKE_TOKEN)
    monkeypatch.delenv("TASKADE_TOKEN", raising=False)
    monkeypatch.delenv("TASKADE_API_V1_URL", raising=False)
    return emulator


def test_cli_details_says_the_cost_first_and_writes_the_datasets(env, tmp_path, capsys):
    sid = personal(env)
    code = main(
        [
            "export",
            "--space",
            sid,
            "--out",
            str(tmp_path),
            "--quiet",
            "--details",
            "assignees,dates",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    n = sum(len(p.tasks) for p in env.workspace.projects.values() if p.space_id == sid)
    assert f"{n} tasks x 2 parts = {2 * n} requests" in captured.err
    assert set(read_export(tmp_path)) == {*ENTITIES, "task_assignees", "task_dates"}
    assert any(line.split()[:1] == ["task_assignees"] for line in captured.out.splitlines())
    assert FAKE_TOKEN not in captured.out + captured.err


def test_cli_details_alone_means_every_part_and_bad_parts_are_usage_errors(env, tmp_path, capsys):
    sid = personal(env)
    assert (
        main(["export", "--space", sid, "--out", str(tmp_path / "a"), "--quiet", "--details"]) == 0
    )
    assert set(read_export(tmp_path / "a")) == {*ENTITIES, *DETAIL_ENTITIES}
    code = main(["export", "--space", sid, "--out", str(tmp_path / "b"), "--details", "owners"])
    assert code == EXIT_USAGE and "parts must be" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


def test_the_notebook_cache_answers_details_only_from_a_snapshot_that_has_them(
    emulator, client, tmp_path
):
    from taskade_frames import load_space as cached_load_space

    sid = personal(emulator)
    plain = cached_load_space(sid, client, cache=tmp_path, progress=False)
    assert plain.details is None
    first = cached_load_space(sid, client, cache=tmp_path, progress=False, details="dates")
    assert first.tasks.attrs["source"] == "live"  # the plain snapshot has no dates
    again = cached_load_space(sid, client, cache=tmp_path, progress=False, details="dates")
    assert again.tasks.attrs["source"] == "cache"
    assert set(again.detail_frames()) == {"task_dates"}
    live = load_space(sid, client, progress=False, details="dates").details.task_dates
    key = ["project_id", "task_id"]
    pd.testing.assert_frame_equal(
        again.details.task_dates.sort_values(key, ignore_index=True),
        live.sort_values(key, ignore_index=True),
        obj="task_dates",
    )


def test_a_day_of_emulated_work_shows_in_the_diff_as_reassignments_and_slips(
    emulator, client, tmp_path
):
    sid = personal(emulator)
    kw = {"progress": False, "details": ("assignees", "dates")}
    export_space(sid, tmp_path, client, snapshot="2026-01-01T000000Z", **kw)
    changes = emulator.advance(days=3)
    export_space(sid, tmp_path, client, snapshot="2026-01-02T000000Z", **kw)
    diff = diff_snapshots(tmp_path)
    counts = diff.change.value_counts()
    assert changes["reassigned"] > 0 and changes["rescheduled"] > 0
    assert counts.get("reassigned", 0) > 0 and counts.get("due_changed", 0) > 0
    moved = diff[diff.change == "due_changed"]
    assert (moved.value_after > moved.value_before).all()  # ISO dates: later sorts later
