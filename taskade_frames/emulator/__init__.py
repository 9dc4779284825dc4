"""A local Taskade Action API v2 server over an in-memory workspace.

The emulator is real HTTP on loopback, speaks the v2 spec (``POST
/api/v2/{operation}``, bearer token, ``{"ok": ...}`` envelopes), and can be told
to misbehave: page caps, latency, rate limits, forbidden ids, credits and
one-shot faults. It shares no code with the client, so a misreading of the API
cannot hide in both.

>>> from taskade_frames.emulator import Emulator
>>> with Emulator() as emu:  # doctest: +SKIP
...     emu.page_cap = 50
...     emu.faults.push("status", status=503, retry_after="1")
...     emu.advance(days=1)  # a day of work happens; emu.now is the moved clock
...     ...  # point a client at emu.base_url with emu.token
"""

from __future__ import annotations

from ._faults import Fault, Faults
from ._main import add_arguments as add_cli_arguments
from ._main import main as cli_main
from ._main import serve as cli_serve
from ._model import TaskTable, Workspace
from ._sample_workspace import build_sample, sample_workspace
from ._server import DEFAULT_TOKEN, Emulator
from ._synthetic import synthetic_workspace
from ._task_details import add_task_details

__all__ = [
    "DEFAULT_TOKEN",
    "Emulator",
    "Fault",
    "Faults",
    "TaskTable",
    "Workspace",
    "add_cli_arguments",
    "add_task_details",
    "build_sample",
    "cli_main",
    "cli_serve",
    "sample_workspace",
    "synthetic_workspace",
]
