"""The emulator's command line: serve a workspace on a fixed port until Ctrl-C.

Wired to ``taskade-frames emulator`` and ``python -m taskade_frames.emulator``.
"""

from __future__ import annotations

import argparse
import threading
from collections.abc import Sequence

from ._server import DEFAULT_TOKEN, ERROR_STYLES, SCOPES, Emulator


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="taskade-frames emulator",
        description="Serve a local Taskade Action API v2 over a sample workspace.",
    )
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default %(default)s)")
    parser.add_argument("--port", type=int, default=8765,
                        help="port to listen on (default %(default)s; 0 picks a free one)")
    parser.add_argument("--data", help="workspace JSON file to serve instead of the sample")
    parser.add_argument(
        "--token", default=DEFAULT_TOKEN,
        help="bearer token to accept: a local, non-secret value (default %(default)s). "
        "Clients read theirs from the TASKADE_API_TOKEN environment variable; never put a "
        "real token on a command line")
    parser.add_argument("--page-cap", type=int, help="serve at most N items per page")
    parser.add_argument("--latency", type=float, default=0.0,
                        help="seconds to wait before each response")
    parser.add_argument("--rate-limit", type=int, metavar="N",
                        help="allow N requests per second, then answer 429")
    parser.add_argument("--scope", choices=SCOPES, default="folder",
                        help="how project, agent, media and template listings are scoped: "
                        "folder (a space id lists its home folder only, as v1 documents), "
                        "space (a space id lists everything) or both (default %(default)s)")
    parser.add_argument("--errors", choices=ERROR_STYLES, default="envelope",
                        help="error bodies as the v2 envelope, or as a gateway in front "
                        "of the API would send them (default %(default)s)")
    parser.add_argument("--clamp-pages", action="store_true",
                        help="answer a page number past the end with the last page again")
    return parser


def main(argv: Sequence[str] | None = None, *, ready: threading.Event | None = None,
         stop: threading.Event | None = None) -> int:
    """Run the emulator from command-line arguments; returns the exit status.

    ``ready``/``stop`` let a test start it in a thread and end it without Ctrl-C.
    """
    args = _parser().parse_args(argv)
    emu = Emulator(token=args.token, host=args.host, port=args.port, data=args.data,
                   scope=args.scope, errors=args.errors, clamp_pages=args.clamp_pages)
    emu.page_cap = args.page_cap
    emu.latency = args.latency
    if args.rate_limit:
        emu.rate_limit = (args.rate_limit, 1.0)
    stop = stop or threading.Event()
    with emu:
        print(f"Taskade v2 emulator serving {emu.workspace!r}", flush=True)
        print(f"  base URL: {emu.base_url}", flush=True)
        print(f"  token:    {emu.token}  (send 'Authorization: Bearer <token>')", flush=True)
        print("Press Ctrl-C to stop.", flush=True)
        if ready is not None:
            ready.set()
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            print("\nstopped", flush=True)
    return 0
