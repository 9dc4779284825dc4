"""The ``taskade-frames`` command: demo, emulator, quick looks, export.

Reads the token from the environment only (``TASKADE_API_TOKEN``); with
none, ``demo`` runs against the bundled emulator. It behaves like a Unix
tool: listings go to stdout in a chosen ``--format``, messages to stderr, a
closed pipe ends it quietly, and the exit code says how it went (``EXIT_CODES``).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from .client import TaskadeClient, default_client, read_environment, session_client
from .errors import TaskadeError

__all__ = ["EXIT_CODES", "main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_PARTIAL = 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports when the reader went away

# Scripts and schedulers branch on these; the README's scheduling recipe quotes them.
EXIT_CODES = {
    EXIT_OK: "all good",
    EXIT_FAILED: "failed: an API, network, data or write error; no snapshot was committed",
    EXIT_USAGE: "bad arguments",
    EXIT_PARTIAL: "partial: finished, but some resources failed to load (see the errors "
    "table / dataset)",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
    EXIT_BROKEN_PIPE: "stdout was closed early (e.g. piped into head)",
}

FORMATS = ("table", "csv", "json", "parquet")


class UsageError(ValueError):
    """A combination of options that cannot work: exit code 2."""


def _plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else many or word + 's'}"


@contextlib.contextmanager
def _client_or_emulator(
    use_emulator: bool | None = None, advance_days: int = 0
) -> Iterator[tuple[TaskadeClient, str]]:
    """A client for Taskade when a token is set, else for a freshly started emulator
    (moved ``advance_days`` days on, so repeated runs can build a history)."""
    if use_emulator is None:
        use_emulator = session_client() is None and read_environment().token is None
    if advance_days and not use_emulator:
        raise UsageError("--advance-days only applies to the bundled emulator (--emulator)")
    if use_emulator:
        from .emulator import Emulator

        with Emulator() as emu, TaskadeClient(emu.token, base_url=emu.base_url) as client:
            if advance_days:
                emu.advance(advance_days)
            yield client, f"the local emulator at {emu.base_url}"
    else:
        # The library's one way to find a client (session, then environment); it is
        # shared, so it is not closed here.
        client = default_client()
        yield client, client.host


# -- rendering -------------------------------------------------------------------------------


def _cell(value: Any, width: int = 48) -> str:
    import pandas as pd

    text = "" if value is None or value is pd.NA else " ".join(str(value).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _table(df: Any) -> str:
    """Every row of ``df`` as aligned text: numbers to the right, text to the left."""
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    if not len(df):
        return "(none)"
    columns = []
    for name in df.columns:
        cells = [str(name), *(_cell(v) for v in df[name])]
        width = max(map(len, cells))
        right = is_numeric_dtype(df[name].dtype) and not is_bool_dtype(df[name].dtype)
        columns.append([c.rjust(width) if right else c.ljust(width) for c in cells])
    return "\n".join("  ".join(row).rstrip() for row in zip(*columns, strict=True))


def _outline(tasks: Any) -> str:
    """Tasks as an indented outline, left-aligned, two spaces per level."""
    import pandas as pd

    if not len(tasks):
        return "(none)"
    lines = ["done  share  task"]
    done = tasks["completed"].fillna(False).astype(bool)
    for depth, finished, share, text in zip(
        tasks["depth"], done, tasks["share_done"], tasks["text"], strict=True
    ):
        pct = "" if pd.isna(share) else f"{share:.0%}"
        indent = "  " * (0 if pd.isna(depth) else int(depth))
        lines.append(f"{'[x]' if finished else '[ ]'}  {pct:>5}  {indent}{_cell(text, 100)}")
    return "\n".join(lines)


def _emit(df: Any, args: argparse.Namespace, table: Callable[[Any], str] = _table) -> None:
    """Write ``df`` in ``args.format`` to ``args.output`` or stdout.

    Parquet is binary: it goes to ``--output`` or to a redirected stdout, never to a
    terminal. A file is written next to its target and renamed, so a failed run never
    leaves half a file.
    """
    fmt, output = args.format, args.output
    if fmt == "parquet" and output is None and sys.stdout.isatty():
        raise UsageError("parquet is binary: pass --output FILE or redirect stdout")
    if fmt == "parquet":
        import io

        buffer = io.BytesIO()
        df.to_parquet(buffer, index=False)
        data: bytes | str = buffer.getvalue()
    elif fmt == "csv":
        data = df.to_csv(index=False)
    elif fmt == "json":
        data = df.to_json(orient="records", date_format="iso", force_ascii=False) + "\n"
    else:
        data = table(df) + "\n"
    if output is None:
        if isinstance(data, bytes):
            sys.stdout.flush()
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        else:
            sys.stdout.write(data)
        return
    target = Path(output)
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    try:
        if isinstance(data, bytes):
            partial.write_bytes(data)
        else:
            partial.write_text(data, encoding="utf-8")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def _check_output(args: argparse.Namespace) -> None:
    """Refuse an ``--output`` that cannot be written before any data is fetched: a folder
    is a usage mistake (exit 2), a missing folder an environment one (exit 1)."""
    output = getattr(args, "output", None)
    if output is None:
        return
    target = Path(output)
    if target.is_dir():
        raise UsageError(f"--output {output} is a folder: name a file in it")
    parent = target.parent
    if not parent.is_dir():
        raise FileNotFoundError(f"cannot write {output}: no folder {parent}")


def _limited(df: Any, limit: int | None) -> Any:
    return df if limit is None else df.head(limit)


def _note(text: str, args: argparse.Namespace) -> None:
    """A line for people after a table (on stderr when the table went to a file);
    the formats for scripts get their data and nothing else."""
    if args.format == "table":
        print(text, file=sys.stdout if args.output is None else sys.stderr)


# -- commands --------------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    from .loaders import load_spaces
    from .space import load_space

    failed = 0
    # The demo is the one command that falls back to the emulator by itself.
    with _client_or_emulator(args.emulator or None, args.advance_days) as (client, where):
        print(f"taskade_frames demo against {where}\n")
        spaces = load_spaces(client)
        print(_plural(len(spaces), "space"))
        for space_id, name in zip(spaces["id"], spaces["name"], strict=True):
            space = load_space(space_id, client, progress=not args.quiet)
            failed += len(space.errors)
            counts = ", ".join(
                [
                    _plural(len(space.projects), "project"),
                    _plural(len(space.tasks), "task"),
                    _plural(len(space.agents), "agent"),
                    _plural(len(space.members), "membership"),
                    _plural(len(space.errors), "error"),
                ]
            )
            print(f"\n== {name} ({space_id}): {counts}")
            # The vocabulary of taskade_frames.completion, shares shown as percentages.
            summary = space.completion().drop(columns=["project_id"])
            for share in ("share_completed", "share_done"):
                summary[share] = (summary[share] * 100).round(1)
            print(
                _table(
                    summary.rename(
                        columns={
                            "share_completed": "share_completed %",
                            "share_done": "share_done %",
                        }
                    )
                )
            )
    return EXIT_PARTIAL if failed else EXIT_OK


def cmd_emulator(args: argparse.Namespace) -> int:
    from .emulator import cli_serve

    return int(cli_serve(args) or 0)


def cmd_spaces(args: argparse.Namespace) -> int:
    from .loaders import load_spaces

    with _client_or_emulator(args.emulator, args.advance_days) as (client, _):
        _emit(_limited(load_spaces(client), args.limit), args)
    return EXIT_OK


def cmd_projects(args: argparse.Namespace) -> int:
    from .loaders import load_projects

    with _client_or_emulator(args.emulator, args.advance_days) as (client, _):
        _emit(_limited(load_projects(args.space, client), args.limit), args)
    return EXIT_OK


def cmd_tasks(args: argparse.Namespace) -> int:
    from .loaders import load_tasks

    with _client_or_emulator(args.emulator, args.advance_days) as (client, _):
        df = load_tasks(args.project, client)
    shown = _limited(df, args.limit)
    _emit(shown, args, table=_outline)
    done = int(df["completed"].sum())
    head = (
        f"{len(shown)} of {len(df)} tasks shown"
        if len(shown) < len(df)
        else _plural(len(df), "task")
    )
    _note(f"\n{head}, {done} completed", args)
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from .errors import NotFoundError, PermissionDeniedError
    from .export import export_all, export_space

    # Like every non-demo command, no token means an error, never a silent export of
    # the emulator's sample data; --emulator has to be asked for.
    details = _details_arg(args.details)
    with (
        _client_or_emulator(args.emulator, args.advance_days) as (client, where),
        _detail_costs_to_stderr(bool(details)),
    ):
        try:
            if args.all:
                result = export_all(args.out, client, progress=not args.quiet, details=details)
            else:
                result = export_space(
                    args.space,
                    client=client,
                    out=args.out,
                    progress=not args.quiet,
                    details=details,
                )
        except (NotFoundError, PermissionDeniedError) as exc:
            print(
                f"error: space {args.space!r} is unknown or not visible with this token ({exc})",
                file=sys.stderr,
            )
            return EXIT_FAILED
    print(
        f"snapshot {result.snapshot}: {len(result.spaces)} space(s) from {where} "
        f"in {result.seconds:.1f} s"
    )
    print(_table(result.summary()))
    print(f"errors: {len(result.errors)}")
    print(
        f"written to {result.out}/<entity>/snapshot={result.snapshot}/ "
        f"(committed by {result.manifest})"
    )
    if len(result.errors):
        print(_table(result.errors[["resource", "id", "status", "error"]].head(20)))
        print(
            f"warning: {len(result.errors)} resource(s) failed to load; they are listed "
            "in the errors dataset (exit code 3: partial)",
            file=sys.stderr,
        )
        return EXIT_PARTIAL
    return EXIT_OK


def _details_arg(value: str | None) -> bool | list[str]:
    """``--details`` alone means every part; ``--details assignees,dates`` some."""
    if value is None:
        return False
    if value == "all":
        return True
    from .details import check_parts

    return list(check_parts([p.strip() for p in value.split(",") if p.strip()]))


@contextlib.contextmanager
def _detail_costs_to_stderr(on: bool) -> Iterator[None]:
    """Say what the detail fan-out will cost ("N tasks x M parts = K requests") before
    it runs, and which tasks vanished meanwhile: the details module logs both."""
    if not on:
        yield
        return
    logger = logging.getLogger("taskade_frames.details")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


# -- the parser ------------------------------------------------------------------------------


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("taskade-frames")
    except PackageNotFoundError:  # run from a source tree that was never installed
        from . import __version__

        return __version__


def _epilog() -> str:
    codes = "\n".join(f"  {code:>3}  {meaning}" for code, meaning in EXIT_CODES.items())
    return f"exit codes:\n{codes}"


def _add_listing_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--format",
        choices=FORMATS,
        default="table",
        help="table for people (default); csv, json (an array of records) or "
        "parquet for scripts. parquet needs --output FILE or a redirected stdout",
    )
    p.add_argument(
        "--output",
        "-o",
        metavar="FILE",
        help="write to FILE (replaced only once complete) instead of stdout",
    )
    p.add_argument("--limit", type=_non_negative, metavar="N", help="at most N rows (default: all)")


def cmd_snapshots(args: argparse.Namespace) -> int:
    from .snapshots import list_snapshots, prune_snapshots

    if args.action == "prune":
        removed = prune_snapshots(
            args.out, keep_last=args.keep_last, older_than=args.older_than, dry_run=args.dry_run
        )
        verb = "would remove" if args.dry_run else "removed"
        print(_table(removed) if len(removed) else f"nothing to remove in {args.out}")
        print(
            f"{verb} {int((removed['kind'] == 'snapshot').sum())} snapshot(s), "
            f"{int((removed['kind'] == 'leftover').sum())} leftover(s)"
        )
        return 0
    if args.keep_last is not None or args.older_than is not None or args.dry_run:
        raise UsageError("--keep-last, --older-than and --dry-run go with prune, not list")
    listed = list_snapshots(args.out)
    print(_table(listed))
    damaged = int(listed["damaged"].notna().sum())
    if damaged:
        print(f"warning: {damaged} damaged snapshot(s); readers skip them", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="taskade-frames",
        description="Taskade workspaces as pandas DataFrames. The token is read from "
        "the TASKADE_API_TOKEN environment variable (never pass it on the command line); "
        "`demo` runs against the bundled emulator when none is set.",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, fn: Any, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name,
            help=help,
            description=help,
            epilog=_epilog(),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.set_defaults(fn=fn)
        p.add_argument(
            "--emulator",
            action="store_true",
            help="run against the bundled emulator instead of Taskade",
        )
        p.add_argument(
            "--advance-days",
            type=_non_negative,
            default=0,
            metavar="N",
            help="with --emulator: let N days of seeded work happen first",
        )
        return p

    p = add("demo", cmd_demo, "load every sample space and print completion per project")
    p.add_argument("--quiet", action="store_true", help="no progress bars")

    _add_emulator_command(sub)

    _add_listing_options(add("spaces", cmd_spaces, "list spaces"))
    p = add("projects", cmd_projects, "list projects of a space")
    p.add_argument("--space", required=True, help="space id or link")
    _add_listing_options(p)
    p = add("tasks", cmd_tasks, "show the task tree of a project as an outline")
    p.add_argument("--project", required=True, help="project id or link (taskade.com/d/...)")
    _add_listing_options(p)
    _add_export_options(
        add("export", cmd_export, "write a parquet snapshot of one space or all spaces")
    )
    _add_snapshots_command(sub)
    return parser


def _add_export_options(p: argparse.ArgumentParser) -> None:
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--space", help="space id or link")
    which.add_argument("--all", action="store_true", help="every space the token can see")
    p.add_argument(
        "--out",
        required=True,
        help="folder or URI (s3://bucket/prefix, gs://, "
        "abfs://, file://) of the parquet datasets; credentials come from the "
        "environment (AWS_* variables, profiles), never from the URI",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument(
        "--details",
        nargs="?",
        const="all",
        metavar="PARTS",
        help="also export v1 task details as datasets of their own: every part, "
        "or some of assignees,dates,notes,fields (one request per task and part; "
        "the count is printed before the requests start)",
    )


def _add_snapshots_command(sub: Any) -> None:
    p = sub.add_parser(
        "snapshots",
        help="list or prune the snapshots of an export",
        description="List the committed snapshots of an export, or prune "
        "old ones (the newest is always kept).",
    )
    p.set_defaults(fn=cmd_snapshots)
    p.add_argument("action", choices=["list", "prune"])
    p.add_argument("--out", required=True, help="folder or URI of the export")
    p.add_argument("--keep-last", type=int, help="prune: keep this many newest snapshots")
    p.add_argument("--older-than", help="prune: remove snapshots older than this ('30d')")
    p.add_argument("--dry-run", action="store_true", help="prune: only say what would go")


def _add_emulator_command(sub: Any) -> None:
    """The emulator's own options, from its own parser definition (one source)."""
    from .emulator import add_cli_arguments

    p = sub.add_parser(
        "emulator",
        help="serve the local v2 API emulator",
        description="Serve the v2 API emulator on loopback until Ctrl-C.",
    )
    add_cli_arguments(p)
    p.set_defaults(fn=cmd_emulator)


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        _check_output(args)
        code = int(args.fn(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, inside the handlers below
        return code
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except TaskadeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
