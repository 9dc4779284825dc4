"""The emulator's clock over HTTP, and ``taskade-frames emulator`` with its time options."""

from __future__ import annotations

import contextlib
import io
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta

from taskade_frames import TaskadeClient, load_tasks
from taskade_frames.cli import build_parser
from taskade_frames.emulator import Emulator, cli_serve
from taskade_frames.emulator._model import CLOCK_START

from .conftest import FAKE_TOKEN

WAIT = 30  # an upper bound for the server thread to start or print, never a measurement


def backlog_id(emu: Emulator) -> str:
    return next(p.id for p in emu.workspace.projects.values() if p.name == "Bug Triage Backlog")


def test_advance_changes_what_clients_read_and_reset_turns_the_clock_back(emulator):
    with TaskadeClient(FAKE_TOKEN, base_url=emulator.base_url) as client:
        before = load_tasks(backlog_id(emulator), client)
        changes = emulator.advance(days=2)
        after = load_tasks(backlog_id(emulator), client)

    assert emulator.now == CLOCK_START + timedelta(days=2)
    assert int(after["completed"].sum()) > int(before["completed"].sum())
    assert len(after) >= len(before) and changes["completed"] > 0
    emulator.reset(workspace=True)
    assert emulator.now == CLOCK_START


def _serve_in_thread(argv: list[str], until: str) -> str:
    """Run ``taskade-frames emulator ARGV`` in a thread until its output shows ``until``."""
    args = build_parser().parse_args(["emulator", *argv])
    ready, stop, out = threading.Event(), threading.Event(), io.StringIO()
    with contextlib.redirect_stdout(out):
        worker = threading.Thread(
            target=cli_serve, args=(args,), kwargs={"ready": ready, "stop": stop}
        )
        worker.start()
        try:
            assert ready.wait(WAIT)
            deadline = time.monotonic() + WAIT
            while until not in out.getvalue() and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            stop.set()
            worker.join(WAIT)
    return out.getvalue()


def test_the_emulator_command_starts_days_ahead_and_keeps_advancing():
    out = _serve_in_thread(
        [
            "--port",
            "0",
            "--advance-days",
            "2",
            "--advance-every",
            "0.05",
            "--latency",
            "0",
            "--scope",
            "both",
        ],
        until="2025-08-11",
    )

    lines = [line for line in out.splitlines() if "clock:" in line]
    assert lines[0].split("clock:")[1].strip() == "2025-08-10 09:00 UTC", out
    assert any("2025-08-11 09:00 UTC" in line and "completed" in line for line in lines), out


def test_ctrl_c_stops_the_emulator_with_exit_code_130():
    argv = [sys.executable, "-m", "taskade_frames", "emulator", "--port", "0"]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        for line in proc.stdout:  # wait for the server to say it is up
            if line.startswith("Press Ctrl-C"):
                break
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=WAIT)

    assert proc.returncode == 130, err
    assert "stopped" in rest and "Traceback" not in err
