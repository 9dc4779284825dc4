"""Links anywhere an id goes (issue 11.4): one parser, shared by loaders, CLI and picker."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import taskade_frames as tf
from taskade_frames.cli import main
from taskade_frames.ids import parse_id, parse_link
from taskade_frames.widgets import parse_project_ref

from .conftest import FAKE_TOKEN

BASE = "https://www.taskade.com"


@pytest.mark.parametrize(
    "text,expected",
    [
        (f"{BASE}/d/P1", ("project", "P1")),
        (f"{BASE}/d/P1?view=board#top", ("project", "P1")),
        (f"{BASE}/p/P1/", ("project", "P1")),
        ("taskade.com/d/P1", ("project", "P1")),
        (f"{BASE}/spaces/S1", ("space", "S1")),
        (f"{BASE}/spaces/S1/projects", ("space", "S1")),
        (f"{BASE}/spaces/S1/d/P1", ("project", "P1")),
        (f"{BASE}/a/A1", ("agent", "A1")),
        (f"{BASE}/spaces/S1/agents/A1", ("agent", "A1")),
        (f"{BASE}/folders/F1", ("folder", "F1")),
        ("  P1  ", (None, "P1")),
        ("0a1b2c3d-0000-4000-8000-00000000abcd", (None, "0a1b2c3d-0000-4000-8000-00000000abcd")),
        (f"{BASE}/settings/api", None),
        (f"{BASE}/d/", None),
        ("not an id", None),
        ("", None),
    ],
)
def test_parse_link(text, expected):
    assert parse_link(text) == expected


@pytest.mark.parametrize(
    "value,kind,message",
    [
        (f"{BASE}/a/A1", "project", "got a link to an agent"),
        (f"{BASE}/d/P1", "space", "got a link to a project"),
        (f"{BASE}/settings", "space", "must be an id or a Taskade space link, got 'https"),
        ("  ", "agent", "got an empty string"),
        (None, "project", "got NoneType None"),
        (42, "space", "got int 42"),
    ],
)
def test_bad_input_is_a_value_error_naming_what_was_received(value, kind, message):
    with pytest.raises(ValueError, match=message) as info:
        parse_id(value, kind)
    assert f"{kind}_id" in str(info.value)


ID_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"


@given(
    st.text(alphabet=ID_CHARS, min_size=1, max_size=24),
    st.sampled_from(["d", "p", "spaces", "a", "folders"]),
)
def test_a_link_and_its_bare_id_name_the_same_thing(ident, segment):
    kind = parse_link(f"{BASE}/{segment}/x")[0]  # type: ignore[index]
    assert parse_id(f"{BASE}/{segment}/{ident}?x=1", kind) == parse_id(ident, kind) == ident


def test_the_picker_uses_the_same_parser():
    assert parse_project_ref(f"{BASE}/spaces/S1/d/P1") == "P1"
    assert parse_project_ref(f"{BASE}/a/A1") is None  # an agent link is not a project


def test_every_loader_accepts_links(client, emulator):
    ws = emulator.workspace
    project = next(p for p in ws.projects.values() if p.fields)
    agent = next(iter(ws.agents.values()))
    space = f"{BASE}/spaces/{project.space_id}"
    link = f"{BASE}/d/{project.id}?view=list"

    assert tf.load_tasks(link, client)["project_id"].eq(project.id).all()
    for load in (tf.load_blocks, tf.load_fields, tf.load_members):
        assert load(link, client)["project_id"].eq(project.id).all()
    for load in (
        tf.load_folders,
        tf.load_projects,
        tf.load_agents,
        tf.load_media,
        tf.load_templates,
    ):
        assert load(space, client)["space_id"].eq(project.space_id).all()
    convos = tf.load_conversations(f"{BASE}/a/{agent.id}", client)
    assert convos["agent_id"].eq(agent.id).all()
    reply = tf.prompt_agent(f"{BASE}/spaces/{agent.space_id}", f"{BASE}/a/{agent.id}", "hi", client)
    assert agent.name in reply
    whole = tf.load_space(space, client, progress=False)
    assert whole.space_id == project.space_id and len(whole.errors) == 0


def test_a_project_link_where_a_space_is_wanted_is_refused_before_any_request(client, emulator):
    with pytest.raises(ValueError, match="got a link to a project"):
        tf.load_space(f"{BASE}/d/P1", client, progress=False)
    assert emulator.request_count() == 0


def test_cli_options_take_links(emulator, monkeypatch, capsys):
    monkeypatch.setenv("TASKADE_API_URL", emulator.base_url)
    monkeypatch.setenv("TASKADE_API_TOKEN", FAKE_TOKEN)
    project = next(iter(emulator.workspace.projects.values()))

    assert main(["tasks", "--project", f"{BASE}/d/{project.id}", "--limit", "5"]) == 0
    assert f"{len(project.tasks)} tasks" in capsys.readouterr().out
    assert main(["projects", "--space", f"{BASE}/spaces/{project.space_id}"]) == 0
    assert project.name in capsys.readouterr().out
    assert main(["tasks", "--project", f"{BASE}/a/{project.id}"]) == 2
    assert "got a link to an agent" in capsys.readouterr().err
