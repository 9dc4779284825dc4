"""The ``taskade-frames`` command: demo, emulator, quick looks, export.

Reads the token from the environment only (``TASKADE_API_TOKEN``); with
none, ``demo`` runs against the bundled emulator. Exit codes: 0 success,
1 an API or data error, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from .client import TaskadeClient, _env_token
from .errors import TaskadeError

__all__ = ["main"]


@contextlib.contextmanager
def _client_or_emulator(use_emulator: bool | None = None) -> Iterator[tuple[TaskadeClient, str]]:
    """A client for Taskade when a token is set, else for a freshly started emulator."""
    if use_emulator is None:
        use_emulator = _env_token() is None
    if use_emulator:
        from .emulator import Emulator

        with Emulator() as emu, TaskadeClient(emu.token, base_url=emu.base_url) as client:
            yield client, f"the local emulator at {emu.base_url}"
    else:
        with TaskadeClient() as client:
            yield client, client.host


def _table(df: Any, limit: int = 40) -> str:
    import pandas as pd

    with pd.option_context("display.max_rows", limit, "display.width", 120,
                           "display.max_colwidth", 48):
        return df.to_string(index=False) if len(df) else "(none)"


def cmd_demo(args: argparse.Namespace) -> int:
    from .loaders import load_spaces
    from .space import load_space

    # The demo is the one command that falls back to the emulator by itself.
    with _client_or_emulator(args.emulator or None) as (client, where):
        print(f"taskade_frames demo against {where}\n")
        spaces = load_spaces(client)
        print(f"{len(spaces)} spaces")
        for space_id, name in zip(spaces["id"], spaces["name"], strict=True):
            space = load_space(space_id, client, progress=not args.quiet)
            print(f"\n== {name} ({space_id}): {len(space.projects)} projects, "
                  f"{len(space.tasks)} tasks, {len(space.agents)} agents, "
                  f"{len(space.members)} memberships, {len(space.errors)} errors")
            summary = space.completion()
            summary["share_completed"] = (summary["share_completed"] * 100).round(1)
            print(_table(summary.rename(columns={"share_completed": "% done"})
                         .drop(columns=["project_id"])))
    return 0


def cmd_emulator(args: argparse.Namespace) -> int:
    from .emulator import cli_main

    argv = ["--port", str(args.port)]
    if args.data:
        argv += ["--data", args.data]
    if args.token:
        argv += ["--token", args.token]
    return int(cli_main(argv + list(args.extra)) or 0)


def cmd_spaces(args: argparse.Namespace) -> int:
    from .loaders import load_spaces

    with _client_or_emulator(args.emulator) as (client, _):
        print(_table(load_spaces(client)))
    return 0


def cmd_projects(args: argparse.Namespace) -> int:
    from .loaders import load_projects

    with _client_or_emulator(args.emulator) as (client, _):
        print(_table(load_projects(args.space, client)))
    return 0


def cmd_tasks(args: argparse.Namespace) -> int:
    from .loaders import load_tasks

    with _client_or_emulator(args.emulator) as (client, _):
        df = load_tasks(args.project, client)
        cols = ["depth", "completed", "text", "n_children", "share_done"]
        view = df[cols].copy()
        view["text"] = ["  " * int(d) + str(t) for d, t in zip(df["depth"], df["text"],
                                                                strict=True)]
        print(_table(view, limit=args.limit))
        print(f"\n{len(df)} tasks, {int(df['completed'].sum())} completed")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .errors import NotFoundError, PermissionDeniedError
    from .export import export_all, export_space

    # Like every non-demo command, no token means an error, never a silent export of
    # the emulator's sample data; --emulator has to be asked for.
    with _client_or_emulator(args.emulator) as (client, where):
        try:
            if args.all:
                result = export_all(args.out, client, progress=not args.quiet)
            else:
                result = export_space(args.space, client=client, out=args.out,
                                      progress=not args.quiet)
        except (NotFoundError, PermissionDeniedError) as exc:
            print(f"error: space {args.space!r} is unknown or not visible with this token "
                  f"({exc})", file=sys.stderr)
            return 1
    print(f"snapshot {result.snapshot}: {len(result.spaces)} space(s) from {where} "
          f"in {result.seconds:.1f} s")
    print(_table(result.summary()))
    print(f"errors: {len(result.errors)}")
    if len(result.errors):
        print(_table(result.errors[["resource", "id", "status", "error"]], limit=20))
        print(f"warning: {len(result.errors)} resource(s) failed to load; they are listed "
              "in the errors dataset", file=sys.stderr)
    print(f"written to {result.out}/<entity>/snapshot={result.snapshot}/ "
          f"(committed by {result.manifest})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="taskade-frames",
        description="Taskade workspaces as pandas DataFrames. The token is read from "
        "the TASKADE_API_TOKEN environment variable (never pass it on the command line); "
        "`demo` runs against the bundled emulator when none is set.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, fn: Any, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(fn=fn)
        p.add_argument("--emulator", action="store_true",
                       help="run against the bundled emulator instead of Taskade")
        return p

    p = add("demo", cmd_demo, "load every sample space and print completion per project")
    p.add_argument("--quiet", action="store_true", help="no progress bars")

    p = sub.add_parser("emulator", help="serve the local v2 API emulator",
                       description="Serve the v2 API emulator on loopback until Ctrl-C.")
    p.set_defaults(fn=cmd_emulator)
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--data", help="workspace JSON file (default: data_samples/workspace.json)")
    p.add_argument("--token", help="token the emulator accepts: a local, non-secret value "
                   "(default 'emulator-token'). Clients read theirs from the TASKADE_API_TOKEN "
                   "environment variable; never put a real token on a command line")
    p.add_argument("extra", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)

    add("spaces", cmd_spaces, "list spaces")
    p = add("projects", cmd_projects, "list projects of a space")
    p.add_argument("--space", required=True, help="space id")
    p = add("tasks", cmd_tasks, "show the task tree of a project")
    p.add_argument("--project", required=True, help="project id")
    p.add_argument("--limit", type=int, default=60, help="rows to print")
    p = add("export", cmd_export, "write a parquet snapshot of one space or all spaces")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--space", help="space id")
    which.add_argument("--all", action="store_true", help="every space the token can see")
    p.add_argument("--out", required=True, help="folder of the parquet datasets")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.fn(args) or 0)
    except TaskadeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
