"""Serve a synthetic workspace from its own process, for the benchmarks.

The harness starts this with ``subprocess`` so the server never shares the
client's GIL: on a 2-core machine that is how a real client and a remote API
split the work. It prints one JSON line (base URL, token, space and project
ids) once it is listening, then serves until its stdin closes.

    python benchmarks/_serve.py --tasks 100000 [--warmup-tasks 1000]
    python benchmarks/_serve.py --tasks 100 --projects 200 --latency 0.02 --rate-limit 300
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from taskade_frames.emulator import Emulator, add_task_details, synthetic_workspace

SEED = 6


def _add_details(ws) -> None:
    """v1 details (assignees among the members, dates, notes, values) as the sample has."""
    import random

    rng = random.Random(SEED)
    for project_id in ws.projects:
        add_task_details(ws, project_id, rng)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, required=True, help="tasks per project")
    parser.add_argument("--projects", type=int, default=1)
    parser.add_argument(
        "--warmup-tasks",
        type=int,
        default=0,
        help="also serve a second space with one project this size",
    )
    parser.add_argument("--max-depth", type=int, default=6)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per response")
    parser.add_argument("--rate-limit", type=int, help="requests per second, then 429")
    parser.add_argument(
        "--details",
        action="store_true",
        help="give tasks v1 details (assignees, dates, notes, field values)",
    )
    args = parser.parse_args(argv)

    started = time.perf_counter()
    if args.warmup_tasks:
        # One folder per space, so project 0 (the measured one) is alone in space 0
        # and the warm-up project sits in space 1.
        ws = synthetic_workspace(
            SEED,
            spaces=2,
            folders_per_space=1,
            projects=2,
            tasks_per_project=[args.tasks, args.warmup_tasks],
            max_depth=args.max_depth,
        )
    else:
        ws = synthetic_workspace(
            SEED, projects=args.projects, tasks_per_project=args.tasks, max_depth=args.max_depth
        )
    for project in ws.projects.values():
        if len(project.tasks):
            # The id index is built lazily on the first `after`; build it now so
            # that the first contender does not pay for it.
            project.tasks.position(project.tasks.id_at(0))
    if args.details:
        _add_details(ws)
    built = time.perf_counter() - started

    emu = Emulator(ws)
    emu.latency = args.latency
    if args.rate_limit:
        emu.rate_limit = (args.rate_limit, 1.0)
    with emu:
        info = {
            "base_url": emu.base_url,
            "pid": os.getpid(),
            "token": emu.token,
            "space_ids": list(ws.spaces),
            "project_ids": list(ws.projects)[:10],
            "projects": len(ws.projects),
            "build_seconds": round(built, 3),
        }
        print(json.dumps(info), flush=True)
        sys.stdin.read()  # until the harness closes our stdin
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
