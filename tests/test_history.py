"""Agent conversations as data: one session history for prompt_agent, %%taskade and the widget.

Every path that sends a prompt (the function, the cell magic, the widget) is driven
against the emulator over loopback, and the one history frame must hold each
exchange, failures included, with the same columns and dtypes everywhere.
"""

from __future__ import annotations

import copy
import pickle

import pandas as pd
import pytest

import taskade_frames as tf
from taskade_frames import history, load_agents, load_spaces
from taskade_frames.history import HISTORY_COLUMNS, PromptReply

from .conftest import FAKE_TOKEN


@pytest.fixture(autouse=True)
def _fresh_history():
    """Each test starts with an empty session history and nothing persisted."""
    history.clear_prompt_history()
    history.persist_prompt_history(None)
    yield
    history.persist_prompt_history(None)
    history.clear_prompt_history()


@pytest.fixture
def target(client):
    space = load_spaces(client)["id"].iloc[0]
    agent = load_agents(space, client)["id"].iloc[0]
    return space, agent


def test_prompt_agent_returns_the_reply_text_with_timing_and_ids(client, target):
    space, agent = target

    reply = tf.prompt_agent(space, agent, "What is open?", client)

    assert isinstance(reply, str) and isinstance(reply, PromptReply)
    assert reply.startswith("[Emulator canned reply]")  # reads as the text
    assert f"{reply}" == reply.text and reply.ok and reply.error is None
    assert (reply.space_id, reply.agent_id, reply.prompt) == (space, agent, "What is open?")
    assert reply.latency_s >= 0 and reply.time.tzinfo is not None


def test_every_call_lands_in_one_typed_history_frame(client, emulator, target):
    space, agent = target
    tf.prompt_agent(space, agent, "first", client, agent_name="Planner")
    emulator.credits = 0
    with pytest.raises(tf.OutOfCreditsError):
        tf.prompt_agent(space, agent, "second", client)

    frame = tf.prompt_history()

    assert list(frame.columns) == list(HISTORY_COLUMNS)
    assert frame.dtypes.to_dict() == HISTORY_COLUMNS
    assert frame["prompt"].tolist() == ["first", "second"]
    assert frame["agent"].tolist()[0] == "Planner" and pd.isna(frame["agent"].iloc[1])
    assert pd.isna(frame["error"].iloc[0]) and frame["reply"].iloc[0].startswith("[Emulator")
    assert frame["error"].iloc[1].startswith("Out of credits:") and pd.isna(frame["reply"].iloc[1])
    assert frame["time"].is_monotonic_increasing
    assert FAKE_TOKEN not in frame.to_csv()


def test_on_error_return_gives_a_failed_reply_instead_of_raising(client, emulator, target):
    space, agent = target
    emulator.credits = 0

    failed = tf.prompt_agent(space, agent, "hello", client, on_error="return")

    assert failed == "" and not failed.ok and failed.reply is None
    assert "HTTP 402" in failed.error
    with pytest.raises(ValueError, match="on_error"):
        tf.prompt_agent(space, agent, "hello", client, on_error="ignore")


def test_argument_mistakes_send_nothing_and_record_nothing(client, emulator, target):
    space, agent = target
    with pytest.raises(ValueError, match="prompt"):
        tf.prompt_agent(space, agent, "   ", client)
    assert emulator.request_count("promptAgent") == 0
    assert tf.prompt_history().empty
    assert list(tf.prompt_history().columns) == list(HISTORY_COLUMNS)


def test_history_persists_to_parquet_across_sessions(client, target, tmp_path):
    space, agent = target
    path = tmp_path / "agents" / "history.parquet"
    tf.prompt_agent(space, agent, "before persisting", client)

    tf.persist_prompt_history(path)  # writes what was sent so far
    tf.prompt_agent(space, agent, "after persisting", client)
    history.clear_prompt_history()  # a new kernel: memory is empty, the file is not
    tf.prompt_agent(space, agent, "next session", client)

    saved = tf.prompt_history(path)
    assert saved["prompt"].tolist() == ["before persisting", "after persisting", "next session"]
    assert saved.dtypes.to_dict() == HISTORY_COLUMNS
    assert tf.prompt_history()["prompt"].tolist() == ["next session"]
    assert [p.name for p in path.parent.iterdir()] == ["history.parquet"]  # no temp left
    assert FAKE_TOKEN.encode() not in path.read_bytes()


def test_a_file_that_is_not_a_history_is_refused(tmp_path):
    other = tmp_path / "other.parquet"
    pd.DataFrame({"a": [1]}).to_parquet(other)
    with pytest.raises(ValueError, match="not a prompt history"):
        tf.prompt_history(other)
    with pytest.raises(FileNotFoundError):
        tf.prompt_history(tmp_path / "missing.parquet")
    with pytest.raises(ValueError, match="not a prompt history"):
        tf.persist_prompt_history(other)  # refused now, not at the next prompt


def test_a_reply_survives_copy_and_pickle_with_its_fields():
    reply = PromptReply(
        "Ship it.", prompt="Ship?", space_id="s1", agent_id="a1", agent="Planner", latency_s=0.25
    )
    for clone in (copy.deepcopy(reply), pickle.loads(pickle.dumps(reply))):
        assert clone == "Ship it." and isinstance(clone, PromptReply)
        assert clone.record() == reply.record()
