"""Task details (v1) against the running emulator, and the pure parts on their own."""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from taskade_frames import TaskadeClient, schemas
from taskade_frames.client import derive_v1_url
from taskade_frames.details import (
    PARTS,
    load_task_details,
    plan_requests,
    resolve_date,
    typed_field_value,
)
from taskade_frames.errors import ConfigurationError, PermissionDeniedError

from .conftest import FAKE_TOKEN


def project(emu, name="Mobile App 2.0 Launch"):
    return next(p for p in emu.workspace.projects.values() if p.name == name)


def test_every_part_matches_what_the_workspace_holds(emulator, client):
    p = project(emulator)
    details = load_task_details(p.id, client, progress=False)
    assert len(details.errors) == 0 and details.deleted == []
    for name, frame in details.frames().items():
        assert list(frame.columns) == schemas.columns(name)
        assert frame.dtypes.to_dict() == schemas.dtypes(name)
    want = {(t, h) for t, d in p.details.items() for h in d.get("assignees", [])}
    got = set(zip(details.task_assignees.task_id, details.task_assignees.handle, strict=True))
    assert got == want
    notes = {t: d["note"]["value"] for t, d in p.details.items() if "note" in d}
    assert dict(zip(details.task_notes.task_id, details.task_notes.value, strict=True)) == notes
    dates = {t: d["date"] for t, d in p.details.items() if "date" in d}
    got_dates = {
        t: json.loads(j)
        for t, j in zip(details.task_dates.task_id, details.task_dates.date_json, strict=True)
    }
    assert got_dates == dates
    n_values = sum(len(d.get("fields", {})) for d in p.details.values())
    assert len(details.task_field_values) == n_values
    assert details.requests == len(p.tasks) * 4


def test_empty_dates_and_notes_are_no_rows_not_errors(emulator, client):
    p = project(emulator, "Acme Inbox")
    for i in range(len(p.tasks)):
        emulator.workspace.set_task_details(p.id, p.tasks.id_at(i), date=None, note=None)
    details = load_task_details(p.id, client, parts=("dates", "notes"), progress=False)
    assert len(details.task_dates) == 0 and len(details.task_notes) == 0
    assert len(details.errors) == 0 and details.deleted == []
    assert details.task_dates.dtypes.to_dict() == schemas.dtypes("task_dates")


def test_notes_are_kept_exactly_as_given(emulator, client):
    p = project(emulator, "Acme Inbox")
    odd = "  two\nlines, trailing space \t\n€ and 🎉 "
    emulator.workspace.set_task_details(
        p.id, p.tasks.id_at(0), note={"type": "text/plain", "value": odd}
    )
    emulator.workspace.set_task_details(
        p.id, p.tasks.id_at(1), note={"type": "text/markdown", "value": ""}
    )
    notes = load_task_details(p.id, client, parts="notes", progress=False).task_notes
    by_task = dict(zip(notes.task_id, notes.value, strict=True))
    assert by_task[p.tasks.id_at(0)] == odd and by_task[p.tasks.id_at(1)] == ""


def test_every_field_type_of_the_sample_gets_its_typed_column(emulator, client):
    typed = {
        "Select": "value_text",
        "number": "value_number",
        "string": "value_text",
        "DateTime": "value_date",
        "boolean": "value_bool",
        "Rating": "value_number",
        "Assign": "value_text",
    }
    seen = set()
    for name in (
        "Mobile App 2.0 Launch",
        "Q3 Product Roadmap",
        "Website Redesign",
        "Customer Interview Notes",
        "Kitchen Renovation",
    ):
        values = load_task_details(
            project(emulator, name).id, client, parts="fields", progress=False
        ).task_field_values
        for kind, rows in values.groupby("field_type"):
            assert rows[typed[kind]].notna().all(), kind
            assert rows["value_json"].notna().all()
            seen.add(kind)
    assert seen == set(typed)
    kinds = {f["data"]["type"] for p in emulator.workspace.projects.values() for f in p.fields}
    assert kinds == seen


def test_select_values_read_as_option_names(emulator, client):
    p = project(emulator)
    status = next(f for f in p.fields if f["data"].get("displayName") == "Status")
    values = load_task_details(p.id, client, parts="fields", progress=False).task_field_values
    rows = values[values.field_id == status["id"]]
    assert set(rows.value_text) <= {"To do", "In progress", "Done"} and len(rows)
    assert set(rows.value_json.map(json.loads)) <= set(status["data"]["options"])


def test_only_the_parts_asked_are_fetched_and_the_cost_is_said_first(emulator, client, caplog):
    p = project(emulator)
    with caplog.at_level(logging.INFO, logger="taskade_frames.details"):
        details = load_task_details(p.id, client, parts=("assignees", "dates"), progress=False)
    ops = {r["operation"] for r in emulator.requests}
    assert ops == {"listTasks", "taskAssigneesGet", "taskGetDate"}
    assert set(details.frames()) == {"task_assignees", "task_dates"}
    n = len(p.tasks)
    assert plan_requests(n, ("assignees", "dates")) in caplog.text
    assert emulator.request_count("taskAssigneesGet") == n
    with pytest.raises(ValueError, match="parts must be"):
        load_task_details(p.id, client, parts=("owners",))


def test_a_429_storm_is_waited_out_and_nothing_is_lost(emulator, client, sleeps):
    p = project(emulator, "Q3 Product Roadmap")
    calm = load_task_details(p.id, client, progress=False)
    for _, operation, _ in PARTS.values():  # fewer per route than the client's 429 budget
        emulator.faults.push("status", count=6, operation=operation, status=429, retry_after="2")
    stormy = load_task_details(p.id, client, progress=False)
    assert len(stormy.errors) == 0
    for name, frame in calm.frames().items():
        key = [c for c in frame.columns if c != "date_json"][:4]
        pd.testing.assert_frame_equal(
            stormy.frames()[name].sort_values(key, ignore_index=True),
            frame.sort_values(key, ignore_index=True),
        )
    assert sleeps.count(2.0) == 24
    assert client.stats["rate_limited"] == 24


def test_a_task_deleted_during_the_load_is_reported_not_fatal(emulator, client):
    p = project(emulator)
    tasks = [p.tasks.id_at(i) for i in range(len(p.tasks))]
    gone = p.tasks.id_at(len(p.tasks) - 1)  # a leaf: its subtree is itself
    emulator.workspace.delete_task(p.id, gone)
    details = load_task_details(p.id, client, tasks=tasks, progress=False)
    assert details.deleted == [(p.id, gone)]
    row = details.errors[details.errors.id == gone]
    assert row.error.tolist() == ["TaskDeleted"] and row.status.tolist() == [404]
    assert len(details.errors) == 1
    assert gone not in set(details.task_assignees.task_id)
    assert details.task_assignees.task_id.nunique() > 5


def test_a_403_goes_to_errors_and_strict_raises_it(emulator, client):
    p = project(emulator, "Acme Inbox")
    secret = p.tasks.id_at(0)
    emulator.forbidden = {secret}
    details = load_task_details(p.id, client, parts=("assignees", "notes"), progress=False)
    errors = details.errors.sort_values("resource", ignore_index=True)
    assert errors.id.tolist() == [secret, secret]
    assert errors.status.tolist() == [403, 403]
    assert set(errors.error) == {"PermissionDeniedError"}
    assert set(errors.resource) == {"task:task_assignees", "task:task_notes"}
    assert secret not in set(details.task_assignees.task_id)
    with pytest.raises(PermissionDeniedError):
        load_task_details(p.id, client, parts="assignees", progress=False, strict=True)


def test_a_server_error_on_a_read_is_retried(emulator, client):
    p = project(emulator, "Acme Inbox")
    emulator.faults.push("status", count=2, operation="taskNoteGet", status=503)
    details = load_task_details(p.id, client, parts="notes", progress=False)
    assert len(details.errors) == 0 and client.stats["retries"] == 2


def test_malformed_dates_are_reported_and_kept_as_given(emulator, client):
    p = project(emulator, "Acme Inbox")
    bad = {"start": {"date": "2025-13-45"}}
    emulator.workspace.set_task_details(p.id, p.tasks.id_at(0), date=bad)
    details = load_task_details(p.id, client, parts="dates", progress=False)
    row = details.task_dates[details.task_dates.task_id == p.tasks.id_at(0)]
    assert json.loads(row.date_json.iloc[0]) == bad and row.start_date.isna().all()
    assert details.errors.id.tolist() == [p.tasks.id_at(0)]
    assert "not an ISO date" in details.errors.message.iloc[0]


def test_details_load_the_same_under_every_behaviour_profile(profile_emulator, profile_client):
    p = project(profile_emulator, "Q3 Product Roadmap")
    details = load_task_details(p.id, profile_client, progress=False)
    assert len(details.errors) == 0
    assert len(details.task_assignees) == sum(
        len(d.get("assignees", [])) for d in p.details.values()
    )


# -- the v1 URL and the client's GET ----------------------------------------------


@pytest.mark.parametrize(
    ("v2", "v1"),
    [
        ("https://www.taskade.com/api/v2", "https://www.taskade.com/api/v1"),
        ("https://www.taskade.com/api/v2/", "https://www.taskade.com/api/v1"),
        ("http://127.0.0.1:8765/api/v2", "http://127.0.0.1:8765/api/v1"),
        ("https://proxy.example/taskade/api/v2", "https://proxy.example/taskade/api/v1"),
        ("https://proxy.example/v2", None),
        ("https://proxy.example/api/v2beta", None),
    ],
)
def test_v1_url_is_derived_on_the_same_host(v2, v1):
    assert derive_v1_url(v2) == v1


def test_v1_url_follows_the_token_rules_and_can_be_overridden(monkeypatch):
    with pytest.raises(ConfigurationError, match="plain http"):
        TaskadeClient(
            FAKE_TOKEN, base_url="https://a.example/api/v2", v1_base_url="http://b.example/api/v1"
        )
    c = TaskadeClient(
        FAKE_TOKEN, base_url="https://a.example/api/v2", v1_base_url="https://b.example/rest/v1/"
    )
    assert c.v1_base_url == "https://b.example/rest/v1"
    monkeypatch.setenv("TASKADE_API_V1_URL", "https://c.example/api/v1")
    assert (
        TaskadeClient(FAKE_TOKEN, base_url="https://a.example/api/v2").v1_base_url
        == "https://c.example/api/v1"
    )
    monkeypatch.delenv("TASKADE_API_V1_URL")
    odd = TaskadeClient(FAKE_TOKEN, base_url="https://a.example/gateway")
    with pytest.raises(ConfigurationError, match="v1_base_url"):
        odd.get_v1("/projects/p/tasks/t/note", "taskNoteGet")
    assert FAKE_TOKEN not in repr(c)


def test_get_v1_errors_are_typed_and_token_free(emulator, client):
    p = project(emulator, "Acme Inbox")
    emulator.forbidden = {p.id}
    with pytest.raises(PermissionDeniedError) as info:
        client.get_v1(f"/projects/{p.id}/tasks/{p.tasks.id_at(0)}/note", "taskNoteGet")
    assert info.value.operation == "taskNoteGet" and FAKE_TOKEN not in str(info.value)
    with pytest.raises(ValueError):
        client.get_v1("projects/x", "taskNoteGet")


def test_ids_are_quoted_into_the_path(emulator, client):
    p = project(emulator, "Acme Inbox")
    details = load_task_details(
        p.id, client, parts="notes", tasks=["../../x", "a/b?c"], progress=False
    )
    # Both are unknown tasks of a live project: reported as deleted, never another route.
    assert sorted(t for _, t in details.deleted) == ["../../x", "a/b?c"]
    assert {r["operation"] for r in emulator.requests} == {"taskNoteGet", "listTasks"}


# -- pure parts ------------------------------------------------------------------------


@given(
    day=st.dates(min_value=date(1971, 1, 1), max_value=date(2100, 12, 31)),
    hour=st.integers(0, 23),
    minute=st.integers(0, 59),
    zone=st.sampled_from(["Europe/Berlin", "America/New_York", "Asia/Kolkata", "UTC"]),
)
def test_resolved_dates_keep_the_day_and_find_the_instant(day, hour, minute, zone):
    got, problem = resolve_date(
        {"date": day.isoformat(), "time": f"{hour:02d}:{minute:02d}", "timezone": zone}
    )
    assert problem is None and got["date"] == day
    local = datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo(zone))
    assert got["utc"] == pd.Timestamp(local.astimezone(UTC))
    naive, _ = resolve_date({"date": day.isoformat(), "time": f"{hour:02d}:{minute:02d}"})
    assert naive["utc"] is None and naive["date"] == day
    only, _ = resolve_date({"date": day.isoformat()})
    assert only["utc"] is None and only["time"] is None


def test_the_spec_examples_full_timestamp_in_date_resolves():
    got, problem = resolve_date(
        {"date": "2026-07-21T09:00:00.000Z", "time": "example", "timezone": "example"}
    )
    assert problem is None and got["date"] == date(2026, 7, 21)
    assert got["utc"] == pd.Timestamp("2026-07-21T09:00:00Z")


@pytest.mark.parametrize(
    "value",
    [
        None,
        "x",
        {"date": 5},
        {"date": "tomorrow"},
        {"date": "2025-01-01", "time": "25:00", "timezone": "UTC"},
        {"date": "2025-01-01", "time": "10:00", "timezone": "Mars/Base"},
    ],
)
def test_unresolvable_dates_say_why(value):
    assert resolve_date(value)[1] is not None


def test_typed_values_only_fill_the_column_that_fits():
    assert typed_field_value("number", {}, "12") == {}
    assert typed_field_value("boolean", {}, 1) == {}
    assert typed_field_value("Assign", {}, ["ana", "bo"]) == {"value_text": "ana, bo"}
    assert typed_field_value("DateTime", {}, {"date": "2025-08-01"}) == {
        "value_date": date(2025, 8, 1)
    }
    assert typed_field_value("Relationship", {}, {"ids": [1]}) == {}
    assert set(PARTS) == {"assignees", "dates", "notes", "fields"}


# -- load_space(details=...) -------------------------------------------------------


def test_load_space_adds_detail_frames_only_when_asked(emulator, client):
    from taskade_frames import load_space

    acme = next(s.id for s in emulator.workspace.spaces.values() if s.name == "Acme Product")
    plain = load_space(acme, client, progress=False)
    assert plain.details is None and plain.detail_frames() == {}
    assert emulator.request_count("taskAssigneesGet") == 0
    emulator.reset()
    space = load_space(acme, client, progress=False, details=("assignees", "dates"))
    assert set(space.detail_frames()) == {"task_assignees", "task_dates"}
    n_tasks = len(space.tasks)
    assert emulator.request_count("taskAssigneesGet") == n_tasks
    assert emulator.request_count("taskNoteGet") == 0
    assert set(space.detail_frames()["task_dates"].project_id) <= set(space.projects.id)
    assert len(space.errors) == 0
    with pytest.raises(ValueError, match="parts must be"):
        load_space(acme, client, progress=False, details="owners")


def test_load_space_detail_failures_join_the_errors_frame(emulator, client):
    from taskade_frames import load_space

    home = next(s.id for s in emulator.workspace.spaces.values() if s.name == "Personal")
    p = project(emulator, "Trip to Lisbon")
    emulator.forbidden = {p.tasks.id_at(0)}
    space = load_space(home, client, progress=False, details="notes")
    assert space.errors.id.tolist() == [p.tasks.id_at(0)]
    assert space.errors.resource.tolist() == ["task:task_notes"]


def test_v1_url_ignores_the_environment_when_told_to(monkeypatch):
    monkeypatch.setenv("TASKADE_API_V1_URL", "https://c.example/api/v1")
    c = TaskadeClient(FAKE_TOKEN, base_url="https://a.example/api/v2", trust_env=False)
    assert c.v1_base_url == "https://a.example/api/v1"
    assert (
        TaskadeClient.from_env(token=FAKE_TOKEN, base_url="https://a.example/api/v2").v1_base_url
        == "https://c.example/api/v1"
    )


def test_a_large_run_says_its_cost_as_a_warning(emulator, client, caplog):
    backlog = project(emulator, "Bug Triage Backlog")
    with caplog.at_level(logging.WARNING, logger="taskade_frames.details"):
        load_task_details(backlog.id, client, parts="notes", progress=False)
    said = [r for r in caplog.records if "requests" in r.getMessage()]
    assert [r.levelno for r in said] == [logging.WARNING]
    assert plan_requests(len(backlog.tasks), ("notes",)) in said[0].getMessage()
