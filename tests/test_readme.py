"""The README's notebook recipe for the emulator runs as written, and a stopped emulator says so."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import taskade_frames as tf
from taskade_frames import TransportError

from .conftest import FAKE_TOKEN, recording

README = Path(__file__).resolve().parents[1] / "README.md"


def _block_with(text: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    found = [b for b in blocks if text in b]
    assert found, f"no python block in the README holds {text!r}"
    return found[0]


@pytest.fixture(autouse=True)
def _no_session_client(monkeypatch):
    for name in ("TASKADE_API_TOKEN", "TASKADE_TOKEN", "TASKADE_API_URL"):
        monkeypatch.delenv(name, raising=False)
    tf.use_client(None)
    yield
    tf.use_client(None)


def test_the_readme_emulator_recipe_runs_cell_by_cell():
    source = _block_with("Emulator().start()")
    start, stop = source.split("emu.stop()")[0], "emu.stop()"
    namespace: dict = {"tf": tf}

    exec(start, namespace)  # the first cell: start, use_client, load_spaces
    emu = namespace["emu"]
    try:
        assert len(tf.load_spaces()) == 2  # "every later cell": the emulator still serves
    finally:
        exec(stop, namespace)
    assert "stopped" in repr(emu)


def test_a_call_after_the_emulator_stopped_says_it_is_not_running(sleeps):
    from taskade_frames.emulator import Emulator

    with Emulator(token=FAKE_TOKEN) as emu:
        client = tf.TaskadeClient(emu.token, base_url=emu.base_url, _hooks=recording(sleeps))
    # The block has ended: the next "cell" finds nothing listening.
    with pytest.raises(TransportError) as info:
        tf.load_spaces(client)
    message = str(info.value)
    assert "connection refused" in message
    assert "emulator, it is not running" in message and "Emulator().start()" in message


def test_a_remote_host_that_refuses_gets_no_emulator_hint():
    from taskade_frames._http import _stopped_emulator_hint

    assert _stopped_emulator_hint("www.taskade.com:443") == ""
    assert _stopped_emulator_hint("10.1.2.3:8080") == ""
    assert "emulator" in _stopped_emulator_hint("[::1]:8765")
    assert "emulator" in _stopped_emulator_hint("localhost:8765")
