"""The emulator's command line: serve a workspace on a fixed port until Ctrl-C.

Wired to ``taskade-frames emulator`` and ``python -m taskade_frames.emulator``.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Sequence

from ._server import DEFAULT_TOKEN, ERROR_STYLES, SCOPES, Emulator


def _positive_seconds(text: str) -> float:
    value = float(text)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text}")
    return value


def _days(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the emulator's options to ``parser``: one definition for both commands
    (``taskade-frames emulator`` and ``python -m taskade_frames.emulator``)."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    parser.add_argument(
        "--port",
        type=int,
        default=8765,
        help="port to listen on (default %(default)s; 0 picks a free one)",
    )
    parser.add_argument("--data", help="workspace JSON file to serve instead of the sample")
    parser.add_argument(
        "--token",
        default=DEFAULT_TOKEN,
        help="bearer token to accept: a local, non-secret value (default %(default)s). "
        "Clients read theirs from the TASKADE_API_TOKEN environment variable; never put a "
        "real token on a command line",
    )
    parser.add_argument("--page-cap", type=int, help="serve at most N items per page")
    parser.add_argument(
        "--latency", type=float, default=0.0, help="seconds to wait before each response"
    )
    parser.add_argument(
        "--rate-limit", type=int, metavar="N", help="allow N requests per second, then answer 429"
    )
    parser.add_argument(
        "--scope",
        choices=SCOPES,
        default="folder",
        help="how project, agent, media and template listings are scoped: "
        "folder (a space id lists its home folder only, as v1 documents), "
        "space (a space id lists everything) or both (default %(default)s)",
    )
    parser.add_argument(
        "--errors",
        choices=ERROR_STYLES,
        default="envelope",
        help="error bodies as the v2 envelope, or as a gateway in front "
        "of the API would send them (default %(default)s)",
    )
    parser.add_argument(
        "--clamp-pages",
        action="store_true",
        help="answer a page number past the end with the last page again",
    )
    parser.add_argument(
        "--advance-days",
        type=_days,
        default=0,
        metavar="N",
        help="let N days of (seeded, reproducible) work happen in the "
        "workspace before serving: tasks completed, reopened, added, moved",
    )
    parser.add_argument(
        "--advance-every",
        type=_positive_seconds,
        metavar="SECONDS",
        help="while serving, let one more day of work happen every SECONDS "
        "(so repeated exports build up a history)",
    )
    return parser


def _parser() -> argparse.ArgumentParser:
    return add_arguments(
        argparse.ArgumentParser(
            prog="taskade-frames emulator",
            description="Serve a local Taskade Action API v2 over a sample workspace.",
        )
    )


def main(
    argv: Sequence[str] | None = None,
    *,
    ready: threading.Event | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Run the emulator from command-line arguments; returns the exit status.

    ``ready``/``stop`` let a test start it in a thread and end it without Ctrl-C.
    """
    return serve(_parser().parse_args(argv), ready=ready, stop=stop)


def serve(
    args: argparse.Namespace,
    *,
    ready: threading.Event | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Serve with the options :func:`add_arguments` parsed until ``stop`` or Ctrl-C
    (exit status 130, as for any interrupted command)."""
    emu = Emulator(
        token=args.token,
        host=args.host,
        port=args.port,
        data=args.data,
        scope=args.scope,
        errors=args.errors,
        clamp_pages=args.clamp_pages,
    )
    emu.page_cap = args.page_cap
    emu.latency = args.latency
    if args.rate_limit:
        emu.rate_limit = (args.rate_limit, 1.0)
    if args.advance_days:
        emu.advance(args.advance_days)
    stop = stop or threading.Event()
    with emu:
        print(f"Taskade v2 emulator serving {emu.workspace!r}", flush=True)
        if emu.exposed:
            print(
                f"WARNING: listening on {args.host}, beyond this machine: anyone on the "
                "network can use it with the token below. Clients elsewhere must pass "
                "allow_insecure_http=True (plain http).",
                flush=True,
            )
        print(f"  base URL: {emu.base_url}", flush=True)
        print(f"  token:    {emu.token}  (send 'Authorization: Bearer <token>')", flush=True)
        print(f"  clock:    {_when(emu)}", flush=True)
        try:  # from the moment it says so, Ctrl-C stops it the documented way
            print("Press Ctrl-C to stop.", flush=True)
            if ready is not None:
                ready.set()
            _wait(emu, stop, args.advance_every)
        except KeyboardInterrupt:
            print("\nstopped", flush=True)
            return 130
    return 0


def _when(emu: Emulator) -> str:
    return f"{emu.now:%Y-%m-%d %H:%M} UTC"


def _wait(emu: Emulator, stop: threading.Event, every: float | None) -> None:
    """Block until ``stop``, advancing the workspace a day every ``every`` seconds."""
    due = None if every is None else time.monotonic() + every
    while True:
        timeout = 0.5 if due is None else min(0.5, max(0.0, due - time.monotonic()))
        if stop.wait(timeout):
            return
        if due is not None and every is not None and time.monotonic() >= due:
            changes = emu.advance(1)
            print(
                f"  clock:    {_when(emu)}: "
                + ", ".join(f"{n} {what}" for what, n in changes.items()),
                flush=True,
            )
            due += every
