"""Task details at the API's own limit: ``load_task_details`` against ``requests / rate``.

Details cost one v1 request per task and part, so a load of a big project is
bound by the server's rate limit, not by the client. This serves one project
of ``--tasks`` tasks with v1 details from an emulator in its own process,
allowing ``--rate`` requests per second (token bucket; a 429 with
``Retry-After`` beyond), and times ``load_task_details`` with the client's
rate limit set to the same rate. The bound is every request the server
answered divided by the rate; the target is wall time <= 1.15 x the bound,
with no 429.

    python benchmarks/bench_details.py [--tasks 1000] [--rate 20] [--parts assignees,dates]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGET = 1.15


def run(
    tasks: int = 1000, rate: int = 20, parts: tuple[str, ...] | None = None, workers: int = 8
) -> dict:
    """One timed load; returns the figures of the report row."""
    from taskade_frames import TaskadeClient
    from taskade_frames.details import PARTS, load_task_details

    parts = parts or tuple(PARTS)
    server = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "_serve.py"),
            "--tasks",
            str(tasks),
            "--details",
            "--rate-limit",
            str(rate),
        ],
        stdout=subprocess.PIPE,
        stdin=subprocess.PIPE,
        text=True,
    )
    try:
        info = json.loads(server.stdout.readline())  # type: ignore[union-attr]
        time.sleep(1.5)  # let the server's bucket fill, as it is for a client that just arrived
        with TaskadeClient(info["token"], base_url=info["base_url"], rate_limit=rate) as client:
            started = time.perf_counter()
            details = load_task_details(
                info["project_ids"][0], client, parts=parts, max_workers=workers, progress=False
            )
            seconds = time.perf_counter() - started
            stats = client.stats
    finally:
        server.stdin.close()  # type: ignore[union-attr]
        server.wait(timeout=30)
        server.stdout.close()  # type: ignore[union-attr]
    bound = stats["requests"] / rate
    return {
        "tasks": tasks,
        "parts": len(parts),
        "rate": rate,
        "workers": workers,
        "requests": stats["requests"],
        "rate_limited": stats["rate_limited"],
        "seconds": round(seconds, 2),
        "bound": round(bound, 2),
        "ratio": round(seconds / bound, 3),
        "errors": len(details.errors),
        "rows": {name: len(frame) for name, frame in details.frames().items()},
    }


def row(r: dict) -> str:
    met = "met" if r["ratio"] <= TARGET and r["rate_limited"] == 0 else "MISSED"
    return (
        f"| {r['tasks']:,} tasks x {r['parts']} parts | {r['rate']} | {r['workers']} | "
        f"{r['requests']:,} | {r['rate_limited']} | {r['seconds']:.2f} | {r['bound']:.2f} | "
        f"{r['ratio']:.3f} x | {met} |"
    )


HEADER = (
    "| load | server limit /s | workers | requests | 429s seen | seconds | "
    "bound (requests / rate) s | x bound | <= 1.15 x, no 429 |\n"
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--rate", type=int, default=20)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--parts", default="assignees,dates,notes,fields")
    args = parser.parse_args(argv)
    result = run(args.tasks, args.rate, tuple(args.parts.split(",")), args.workers)
    print(json.dumps(result), file=sys.stderr)
    print(HEADER)
    print(row(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
