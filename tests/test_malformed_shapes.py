"""Malformed shapes from a server (issue 12.8, loader part) and unknown ids (issue 14.2).

Each malformed answer is served by the emulator over HTTP and must give an
``InvalidResponseError`` naming the operation, never a ``RecursionError``,
``TypeError``, ``AttributeError`` or ``OutOfBoundsDatetime``; in ``load_space``
it becomes one ``errors`` row while the rest of the space loads.
"""

from __future__ import annotations

import pytest

import taskade_frames as tf
from taskade_frames import InvalidResponseError, NotFoundError
from taskade_frames.emulator._model import TaskTable


@pytest.fixture
def new_project(emulator):
    ws = emulator.workspace
    return ws.add_project(next(iter(ws.spaces)), "Malformed drill")


def _project_with(ws, predicate):
    return next(p for p in ws.projects.values() if predicate(p))


@pytest.mark.parametrize("data", ["a string", ["a", "list"], 42])
def test_a_field_whose_data_is_not_an_object(client, emulator, data):
    ws = emulator.workspace
    project = _project_with(ws, lambda p: p.fields)
    project.fields[0] = {"id": project.fields[0]["id"], "data": data}

    with pytest.raises(InvalidResponseError, match="listFields"):
        tf.load_fields(project.id, client)

    space = tf.load_space(project.space_id, client, progress=False)
    assert space.errors[["resource", "id", "error"]].values.tolist() == [
        ["project:fields", project.id, "InvalidResponseError"]
    ]
    assert project.id in set(space.tasks["project_id"])  # the rest of the project loaded


@pytest.mark.parametrize(
    "data,message",
    [
        ({"llm": "gpt-4o"}, "data.llm"),
        ({"llm": {"type": "openai"}, "endedAt": 10**20}, "outside the years"),
        ({"endedAt": "2026-01-01"}, "epoch time"),
    ],
)
def test_a_malformed_conversation(client, emulator, data, message):
    ws = emulator.workspace
    convo = next(iter(ws.conversations.values()))
    convo.data = data

    with pytest.raises(InvalidResponseError, match=message):
        tf.load_conversations(convo.agent_id, client)

    space_id = ws.agents[convo.agent_id].space_id
    space = tf.load_space(space_id, client, progress=False)
    assert space.errors[["resource", "id"]].values.tolist() == [
        ["agent:conversations", convo.agent_id]
    ]


@pytest.fixture
def tampered_tasks(monkeypatch):
    """Rewrite the task records the emulator serves: ``{task_id: edit(record)}``."""
    import json

    edits: dict = {}
    original = TaskTable.records

    def records(self, start=0, stop=None):
        return [
            edits[r["id"]](dict(r)) if r["id"] in edits else r for r in original(self, start, stop)
        ]

    monkeypatch.setattr(TaskTable, "records", records)
    monkeypatch.setattr(
        TaskTable, "encode", lambda self, start=0, stop=None: json.dumps(records(self, start, stop))
    )
    return edits


@pytest.mark.parametrize(
    "bad_id,message",
    [
        # The pager refuses these before any conversion; either way, a typed error.
        ({"a": 1}, "not a string or a number"),
        ([1, 2], "not a string or a number"),
        (True, "must be a string or an integer"),
        (1.5, "must be a string or an integer"),
    ],
)
def test_an_id_that_is_not_an_id(client, emulator, new_project, tampered_tasks, bad_id, message):
    task = emulator.workspace.add_task(new_project, "odd id")
    tampered_tasks[task] = lambda r: dict(r, id=bad_id)

    with pytest.raises(InvalidResponseError, match=message):
        tf.load_tasks(new_project, client)


def test_ids_5_and_text_5_are_not_merged(client, emulator, new_project, tampered_tasks):
    ws = emulator.workspace
    a = ws.add_task(new_project, "number", id="n5")
    ws.add_task(new_project, "text", id="5")
    tampered_tasks[a] = lambda r: dict(r, id=5)

    with pytest.raises(InvalidResponseError, match="distinct on the server"):
        tf.load_tasks(new_project, client)


def test_a_whitespace_only_or_unknown_transcript_is_kept_whole(client, emulator):
    ws = emulator.workspace
    agent = next(iter(ws.agents))
    odd = ['[{"role": "user", "content": "hi"}]', "**User**: hi\n**Bot**: hello", "  \n "]
    ids = [ws.add_conversation(agent, f"odd {i}", text) for i, text in enumerate(odd)]

    messages = tf.load_messages(agent, client)

    for convo_id, text in zip(ids, odd, strict=True):
        rows = messages[messages["conversation_id"] == convo_id]
        assert rows["text"].tolist() == [text] and rows["role"].isna().all()


# -- unknown ids (issue 14.2) ------------------------------------------------------------


def test_an_unknown_space_raises_before_fanning_out_and_names_the_id(client, emulator):
    with pytest.raises(NotFoundError, match="'nope'"):
        tf.load_space("nope", client, progress=False)
    assert emulator.request_count() == 1  # only the check: nothing fanned out


def test_a_project_id_passed_as_a_space_id_raises(client, emulator):
    pid = next(iter(emulator.workspace.projects))
    with pytest.raises(NotFoundError, match=repr(pid)):
        tf.load_space(pid, client, progress=False)


@pytest.mark.parametrize("blank", ["", "   ", None, 5])
def test_a_blank_or_non_string_space_id_is_a_value_error(client, blank):
    with pytest.raises(ValueError, match="space_id"):
        tf.load_space(blank, client, progress=False)
