"""Interrupts stop the work (issue 11.9): Ctrl-C during a whole-space load or a transcript
fetch ends it promptly, even while every worker waits out a 429's ``Retry-After``.

A real SIGINT goes to a child process that loads from the session emulator with
real sleeps. The bound (5 s, against retry waits of 3 s × 8 per worker) is a
correctness bound, not a benchmark: without the stop it takes the whole retry budget.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from .conftest import FAKE_TOKEN

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent("""
    import sys
    import taskade_frames as tf
    base_url, token, what, ident = sys.argv[1:]
    client = tf.TaskadeClient(token, base_url=base_url)
    print("ready", flush=True)
    if what == "space":
        tf.load_space(ident, client, progress=False)
    else:
        tf.load_conversations(ident, client, transcripts=True)
    print("finished", flush=True)
""")


def _interrupt(emulator, what: str, ident: str, operation: str) -> tuple[float, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, emulator.base_url, FAKE_TOKEN, what, ident],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 30
        while emulator.request_count(operation) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert emulator.request_count(operation) >= 2, "the workers never started waiting"
        time.sleep(0.3)  # every worker is now inside a 3 s retry wait
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        return time.monotonic() - sent, out + err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("what", ["space", "transcripts"])
def test_sigint_stops_the_work_within_seconds_during_retry_waits(emulator, what):
    ws = emulator.workspace
    if what == "space":
        ident = next(iter(ws.spaces))
        operation = "listTasks"
    else:
        ident = max(
            ws.agents, key=lambda a: sum(c.agent_id == a for c in ws.conversations.values())
        )
        operation = "getConversation"
    emulator.faults.push("status", count=100_000, operation=operation, status=429, retry_after="3")

    took, output = _interrupt(emulator, what, ident, operation)

    assert "KeyboardInterrupt" in output
    assert "finished" not in output
    assert took < 5, f"the interrupt took {took:.1f} s to stop the work"
    # Once stopped, nothing goes on asking in the background.
    asked = emulator.request_count(operation)
    time.sleep(1)
    assert emulator.request_count(operation) == asked
