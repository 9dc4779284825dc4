"""Benchmarks: ``load_tasks`` against the raw-fetch floor, naive pandas and dlt, in one run.

Starts the emulator in its own process with synthetic workspaces, runs every
contender in its own process (interleaved, best of ``--repeat`` rounds, so
machine noise hits them alike), then tree columns alone, whole-space fan-out
and parquet export. Prints a markdown report and writes it to
``benchmarks/RESULTS.md``.

    python benchmarks/run.py [--sizes 10000,100000,1000000] [--repeat 3] [--quick]
        [--out FILE | --out -]

Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WARMUP_TASKS = 1000
CONTENDER_TIMEOUT = 900.0

# Targets from the issues.
MAX_RATIO_TO_FLOOR = 1.25
MIN_AHEAD_OF_DLT = 1.5  # dlt's seconds over ours, at 100k tasks and more
MAX_PEAK_OVER_FRAME = 2.0  # peak RSS growth of a load over the frame's own memory
MAX_TREE_SECONDS = 1.5
MIN_FANOUT_SPEEDUP = 5.0
MAX_SPACE_OVER_BOUND = 1.15
MAX_EXPORT_RATIO = 1.2
MAX_SELECTION_MS = 20.0  # a cached tree selection at 1M tasks


@dataclass
class Contender:
    key: str  # the name _contenders.py knows
    label: str
    args: tuple[str, ...] = ()
    needs: str | None = None  # an optional package it imports
    variant: bool = False  # shown for comparison; targets judge the main contender


CONTENDERS = (
    Contender("floor", "floor: requests + json.loads, page 100", ("--page-size", "100")),
    Contender("floor", "floor: requests + json.loads, page 1000", ("--page-size", "1000")),
    Contender("taskade_frames", "taskade_frames.load_tasks (all tree columns)"),
    Contender(
        "taskade_frames",
        "the same, read_ahead=False (each request after its page)",
        ("--no-read-ahead",),
        variant=True,
    ),
    Contender("naive", "naive pandas: DataFrame(list of dicts) + recursion"),
    Contender("dlt", "dlt rest_api source -> DataFrame", needs="dlt"),
)
DLT_PIPELINE = Contender("dlt_parquet", "dlt pipeline.run -> parquet -> DataFrame", needs="dlt")


@dataclass
class Row:
    size: int
    contender: Contender
    seconds: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    server_cpu: list[float] = field(default_factory=list)
    peak_rss_mb: float = 0.0
    idle_rss_mb: float = 0.0
    frame_mb: float | None = None
    skipped: str | None = None
    error: str | None = None

    @property
    def best(self) -> float | None:
        return min(self.seconds) if self.seconds else None

    @property
    def work(self) -> float | None:
        """Least CPU seconds of client and emulator together over the rounds."""
        if not self.cpu or not self.server_cpu:
            return None
        return min(self.cpu) + min(self.server_cpu)


def _log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _env(scratch: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        RUNTIME__DLTHUB_TELEMETRY="false",  # dlt would otherwise phone home
        RUNTIME__LOG_LEVEL="WARNING",
        DLT_DATA_DIR=str(scratch / "dlt-data"),
        DLT_PROJECT_DIR=str(scratch / "dlt-project"),
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
        PYTHONUNBUFFERED="1",
        TMPDIR=str(scratch),  # contenders' scratch files go away with the run's folder
    )
    return env


@contextlib.contextmanager
def serve(env: dict[str, str], *args: str) -> Iterator[dict[str, Any]]:
    """Run ``_serve.py`` in its own process; yield what it printed once listening."""
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "_serve.py"), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the emulator did not start ({' '.join(args)})")
        yield json.loads(line)
    finally:
        assert proc.stdin is not None
        proc.stdin.close()  # _serve.py stops when its stdin closes
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def contend(env: dict[str, str], name: str, *args: str) -> dict[str, Any]:
    """Run one contender process; its last stdout line is its JSON result."""
    proc = subprocess.run(
        [sys.executable, str(HERE / "_contenders.py"), name, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=CONTENDER_TIMEOUT,
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"{name} failed: {tail}")
    return json.loads(lines[-1])


# -- the parts of the run ------------------------------------------------------------


def load_one_project(
    env: dict[str, str],
    size: int,
    repeat: int,
    contenders: Sequence[Contender],
    warm_mb: int = 0,
) -> list[Row]:
    """Every contender on one project of ``size`` tasks; each run after ``warm_mb`` MB of
    memory was touched and freed (``--warm-memory``)."""
    rows = [Row(size, c) for c in contenders]
    for row in rows:
        if row.contender.needs and importlib.util.find_spec(row.contender.needs) is None:
            row.skipped = f"{row.contender.needs} not installed (pip install -e '.[bench]')"
    _log(f"{size:,} tasks: building the workspace")
    with serve(env, "--tasks", str(size), "--warmup-tasks", str(WARMUP_TASKS)) as info:
        common = (
            "--base-url",
            info["base_url"],
            "--token",
            info["token"],
            "--project",
            info["project_ids"][0],
            "--warmup-project",
            info["project_ids"][1],
            "--expect",
            str(size),
            "--repeat",
            "1",
            "--server-pid",
            str(info["pid"]),
            "--warm-mb",
            str(warm_mb),
        )
        for round_no in range(1, repeat + 1):
            for row in rows:
                if row.skipped or row.error:
                    continue
                _log(f"{size:,} tasks, round {round_no}/{repeat}: {row.contender.label}")
                try:
                    out = contend(env, row.contender.key, *common, *row.contender.args)
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    row.error = str(exc)
                    _log(f"  {row.error}")
                    continue
                row.seconds += out["seconds"]
                row.cpu += out["cpu_seconds"]
                row.server_cpu += out["server_cpu_seconds"]
                row.peak_rss_mb = max(row.peak_rss_mb, out["peak_rss_mb"])
                row.idle_rss_mb = max(row.idle_rss_mb, out["idle_rss_mb"])
                row.frame_mb = out.get("frame_mb", row.frame_mb)
                _log(f"  {out['best']:.3f} s, peak RSS {out['peak_rss_mb']:.0f} MB")
    return rows


def decoders(env: dict[str, str], tasks: int = 100_000) -> dict[str, Any]:
    _log(f"decoding pages alone: {tasks:,} tasks (bench_decode.run)")
    return contend(env, "decode", "--n", str(tasks), "--repeat", "5")


def tree_columns(env: dict[str, str], n: int, repeat: int) -> dict[str, Any]:
    _log(f"tree columns alone: {n:,} tasks (bench_trees.run)")
    return contend(
        env, "trees", "--n", str(n), "--repeat", str(repeat), "--baseline-n", str(min(n, 20_000))
    )


def fan_out(
    env: dict[str, str], projects: int, tasks: int, latency: float, workers: Sequence[int]
) -> list[dict[str, Any]]:
    """``load_space`` at 1 and 8 workers, the emulator answering after ``latency``, no limits."""
    out = []
    with serve(
        env, "--tasks", str(tasks), "--projects", str(projects), "--latency", str(latency)
    ) as info:
        for n in workers:
            _log(f"fan-out over {projects} projects, {latency * 1000:.0f} ms: {n} worker(s)")
            result = contend(
                env,
                "fanout",
                "--base-url",
                info["base_url"],
                "--token",
                info["token"],
                "--space",
                info["space_ids"][0],
                "--workers",
                str(n),
                "--repeat",
                "1",
            )
            result.update(workers=n)
            out.append(result)
            _log(f"  {min(result['seconds']):.2f} s, {result['rate_limited_total']} x 429")
    return out


def space_at_limit(
    env: dict[str, str],
    projects: int,
    tasks: int,
    latency: float,
    server_limit: int,
    runs: Sequence[tuple[int | None, float | None]],
) -> list[dict[str, Any]]:
    """``load_space`` against an emulator with the API's latency and rate limit.

    ``runs`` are ``(max_workers or None for load_space's default, client rate limit or None)``.
    """
    out = []
    with serve(
        env,
        "--tasks",
        str(tasks),
        "--projects",
        str(projects),
        "--latency",
        str(latency),
        "--rate-limit",
        str(server_limit),
    ) as info:
        for workers, limit in runs:
            _log(
                f"space at the limit: {projects} projects, {latency * 1000:.0f} ms, "
                f"{server_limit}/s: workers {workers or 'default'}, client limit {limit or 'none'}"
            )
            args = ["--workers", str(workers)] if workers else []
            result = contend(
                env,
                "fanout",
                "--base-url",
                info["base_url"],
                "--token",
                info["token"],
                "--space",
                info["space_ids"][0],
                "--rate-limit",
                str(limit or 0),
                "--repeat",
                "1",
                *args,
            )
            used = workers or result.get("default_workers", 0)
            requests = result["requests_per_run"]
            # Requests needed: a refused one (429) did no work and is not in the bound.
            needed = requests - result["rate_limited_total"]
            bound = max(needed / server_limit, needed * latency / max(used, 1))
            result.update(
                workers=used,
                requests_needed=needed,
                client_rate_limit=limit,
                server_rate_limit=server_limit,
                latency=latency,
                bound_seconds=bound,
            )
            out.append(result)
            _log(
                f"  {min(result['seconds']):.2f} s for {requests:.0f} requests "
                f"(bound {bound:.2f} s), {result['rate_limited_total']} x 429"
            )
    return out


def parquet_export(env: dict[str, str], n: int, repeat: int) -> dict[str, Any]:
    _log(f"parquet export: {n:,} tasks")
    with serve(env, "--tasks", str(n), "--warmup-tasks", str(WARMUP_TASKS)) as info:
        return contend(
            env,
            "export",
            "--base-url",
            info["base_url"],
            "--token",
            info["token"],
            "--space",
            info["space_ids"][0],
            "--repeat",
            str(repeat),
        )


# -- the report ------------------------------------------------------------------------


def _table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], right: Sequence[bool] | None = None
) -> list[str]:
    cells = [[str(c) for c in r] for r in rows]
    right = right or [False] + [True] * (len(headers) - 1)
    widths = [
        max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)
    ]

    def line(values: Sequence[str]) -> str:
        padded = [
            v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right, strict=True)
        ]
        return "| " + " | ".join(padded) + " |"

    rule = (
        "| "
        + " | ".join(
            ("-" * (w - 1) + ":") if r else "-" * w for w, r in zip(widths, right, strict=True)
        )
        + " |"
    )
    return [line(headers), rule, *(line(r) for r in cells)]


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def _memory_gb() -> str:
    try:
        with open("/proc/meminfo") as f:
            kb = int(next(ln for ln in f if ln.startswith("MemTotal:")).split()[1])
        return f"{kb / 2**20:.1f} GB"
    except (OSError, StopIteration, ValueError):
        return "unknown"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(ln for ln in f if ln.startswith("model name")).split(":", 1)[1].strip()
    except (OSError, StopIteration):
        return platform.processor() or "unknown"


# Touch MB of fresh memory in a new process, then the same pages again: on a VM whose host
# backs guest memory lazily the first touch is what a large load pays per MB it grows.
_TOUCH_MB = 512
_TOUCH = f"""
import json, time, numpy as np
a = np.empty({_TOUCH_MB} << 20, np.uint8)
t = time.perf_counter(); a[::4096] = 1; first = time.perf_counter() - t
t = time.perf_counter(); a[::4096] = 2; again = time.perf_counter() - t
print(json.dumps([first * 1000 / {_TOUCH_MB}, again * 1000 / {_TOUCH_MB}]))
"""


def touch_cost() -> tuple[float, float] | None:
    """Milliseconds per MB to touch fresh memory in a new process, and to touch it again."""
    try:
        out = subprocess.run(
            [sys.executable, "-c", _TOUCH], capture_output=True, text=True, timeout=120
        )
        first, again = json.loads(out.stdout)
        return float(first), float(again)
    except (OSError, subprocess.TimeoutExpired, ValueError, TypeError):
        return None


def _touch_line(touch: Sequence[tuple[float, float] | None]) -> str:
    got = [t for t in touch if t is not None]
    if not got:
        return "- Fresh memory: not measured"
    firsts = ", ".join(f"{first:.2f}" for first, _ in got)
    agains = ", ".join(f"{again:.3f}" for _, again in got)
    return (
        f"- Fresh memory: a new process writing one byte per page of {_TOUCH_MB} MB takes "
        f"{firsts} ms per MB (at the start and end of the run), and {agains} ms per MB for "
        "the same pages again. Memory a contender grows into costs it that much time."
    )


def _warm_sentence(warm_mb: int) -> str:
    if not warm_mb:
        return "No memory is warmed between contenders (`--warm-memory 0`). "
    return (
        f"Right before each timed load a throwaway process touches and frees {warm_mb:,} "
        "MB (`--warm-memory`), so every contender starts with the same supply of recently "
        "used pages. "
    )


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=HERE,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def _s(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.3f}"


def _ok(met: bool | None) -> str:
    return "n/a" if met is None else ("met" if met else "MISSED")


def report(
    *,
    argv: Sequence[str],
    started: float,
    load: list[float],
    sizes: Sequence[int],
    rows: list[Row],
    repeat: int,
    trees: dict[str, Any] | None,
    fan: list[dict[str, Any]] | None,
    space: list[dict[str, Any]] | None,
    export: dict[str, Any] | None,
    fan_setup: dict[str, Any],
    decode: dict[str, Any] | None = None,
    touch: Sequence[tuple[float, float] | None] = (),
    warm_mb: int = 0,
) -> str:
    shown = _without_out(argv)
    lines = [
        "# Benchmark results",
        "",
        f"`python benchmarks/run.py{' ' + ' '.join(shown) if shown else ''}`, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {_commit()}, "
        f"{time.perf_counter() - started:.0f} s for the whole run.",
        "",
        f"- Machine: {os.cpu_count()} cores ({_cpu_model()}), {_memory_gb()} memory, "
        f"{platform.system()} {platform.release()}",
        f"- Python {platform.python_version()}, pandas {_version('pandas')}, pyarrow "
        f"{_version('pyarrow')}, numpy {_version('numpy')}, requests {_version('requests')}, "
        f"dlt {_version('dlt')}",
        f"- Load average (1 min) at start {load[0]:.2f}, at end {load[1]:.2f}: the machine "
        "is shared, so absolute times move between runs; ratios measured in the same run "
        "are steadier.",
        _touch_line(touch),
        "",
        "## Loading one project",
        "",
        f"One project of N tasks (synthetic, depth up to 6) served by the emulator in its "
        f"own process. Every contender runs in its own process, once per round, the "
        f"contenders interleaved; seconds are the best of {repeat} round"
        f"{'s' if repeat > 1 else ''}. {_warm_sentence(warm_mb)}Each process first fetches a "
        f"{WARMUP_TASKS:,}-task project untimed (imports, connection, first-call caches). "
        "Peak RSS is "
        "`ru_maxrss` of the contender's whole process (interpreter and imports included, "
        "nothing subtracted); RSS before is its resident size just before the timed run. "
        "x floor is seconds over the faster floor of that size. Client and emulator CPU "
        "are the CPU seconds each process spent in the timed run (least over the rounds); "
        "CPU x floor compares their sum with the faster floor's: on a busy machine it is "
        "the steadier estimate of the wall-time ratio on an idle one, except for "
        "`load_tasks` reading ahead, whose client and emulator work at the same time "
        "(the sum overstates its wall time; the `read_ahead=False` row is the serial one).",
        "",
    ]
    table = []
    for size in sizes:
        here = [r for r in rows if r.size == size]
        floors = [r for r in here if r.contender.key == "floor" and r.best is not None]
        floor = min(floors, key=lambda r: r.best or 0.0) if floors else None
        for r in here:
            if r.skipped or r.error or r.best is None:
                table.append(
                    [f"{size:,}", r.contender.label, r.skipped or r.error or "-", *[""] * 7]
                )
                continue
            ratio = f"{r.best / floor.best:.2f}" if floor and floor.best else "-"
            work = f"{r.work / floor.work:.2f}" if floor and floor.work and r.work else "-"
            table.append(
                [
                    f"{size:,}",
                    r.contender.label,
                    _s(r.best),
                    f"{size / r.best:,.0f}",
                    ratio,
                    _s(min(r.cpu) if r.cpu else None),
                    _s(min(r.server_cpu) if r.server_cpu else None),
                    work,
                    f"{r.idle_rss_mb:,.0f}",
                    f"{r.peak_rss_mb:,.0f}",
                ]
            )
    lines += _table(
        [
            "tasks",
            "contender",
            "seconds",
            "rows/s",
            "x floor",
            "client CPU s",
            "emulator CPU s",
            "CPU x floor",
            "RSS before MB",
            "peak RSS MB",
        ],
        table,
        [True, False, *[True] * 8],
    )

    lines += _memory_lines(sizes, rows)
    if decode is not None:
        lines += _decode_section(decode)
    if trees is not None:
        lines += [
            "",
            "## Tree columns alone",
            "",
            "`benchmarks/bench_trees.run`: `add_tree_columns` on a random forest in document "
            f"order (depth up to {trees.get('max_depth', '?')}), best of {trees['repeat']}; "
            "the per-row baseline runs on a prefix.",
            "",
        ]
        lines += _table(
            ["what", "tasks", "seconds", "us/task"],
            [
                [
                    "add_tree_columns (all columns)",
                    f"{trees['n']:,}",
                    _s(trees["seconds_with_path"]),
                    f"{1e6 * trees['seconds_with_path'] / max(trees['n'], 1):.2f}",
                ],
                [
                    "add_tree_columns(path=False)",
                    f"{trees['n']:,}",
                    _s(trees["seconds_without_path"]),
                    f"{1e6 * trees['seconds_without_path'] / max(trees['n'], 1):.2f}",
                ],
                [
                    "per-row apply + recursion",
                    f"{trees['baseline_n']:,}",
                    _s(trees["baseline_seconds"]),
                    f"{1e6 * trees['baseline_per_task']:.2f}",
                ],
            ],
        )
        lines += _selection_lines(trees)
        lines.append("")
        lines.append(f"Peak RSS of the process: {trees['peak_rss_mb']:,.0f} MB.")

    if fan is not None:
        lines += _fan_section(fan, fan_setup)
    if space is not None:
        lines += _space_section(space)
    if export is not None:
        lines += _export_section(export)

    lines += ["", "## Targets", ""]
    lines += _table(
        ["target", "reached", "status"],
        targets(sizes, rows, trees, fan, space, export),
        [False, False, False],
    )
    return "\n".join(lines) + "\n"


def _best(rows: list[Row], size: int, key: str) -> float | None:
    times = [
        r.best
        for r in rows
        if r.size == size and r.contender.key == key and not r.contender.variant and r.best
    ]
    return min(times) if times else None


def _memory(rows: list[Row], size: int) -> tuple[float, float] | None:
    """(peak RSS growth during the load, the frame's own deep memory) in MB."""
    for r in rows:
        main = r.contender.key == "taskade_frames" and not r.contender.variant
        if r.size == size and main and r.seconds and r.frame_mb:
            return r.peak_rss_mb - r.idle_rss_mb, r.frame_mb
    return None


def targets(
    sizes: Sequence[int],
    rows: list[Row],
    trees: dict[str, Any] | None,
    fan: list[dict[str, Any]] | None,
    space: list[dict[str, Any]] | None,
    export: dict[str, Any] | None,
) -> list[list[str]]:
    out = []
    for size in sizes:
        tf, floor = _best(rows, size, "taskade_frames"), _best(rows, size, "floor")
        if tf is None or floor is None:
            continue
        if size >= 100_000:
            out.append(
                [
                    f"load_tasks <= {MAX_RATIO_TO_FLOOR} x floor at {size:,}",
                    f"{tf / floor:.2f} x",
                    _ok(tf / floor <= MAX_RATIO_TO_FLOOR),
                ]
            )
        for rival, margin in (("naive", 1.0), ("dlt", MIN_AHEAD_OF_DLT)):
            other = _best(rows, size, rival)
            if other is None:
                continue
            if margin > 1 and size >= 100_000:
                label = f"{margin:g} x ahead of {rival} at {size:,}"
                met = other / tf >= margin
            else:
                label, met = f"ahead of {rival} at {size:,}", tf < other
            out.append([label, f"{other / tf:.2f} x faster", _ok(met)])
    memory = _memory(rows, max(sizes))
    if memory is not None:
        grown, frame = memory
        out.append(
            [
                f"peak memory at {max(sizes):,} <= {MAX_PEAK_OVER_FRAME:g} x the frame",
                f"{grown:,.0f} MB peak growth / {frame:,.0f} MB frame = {grown / frame:.2f} x",
                _ok(grown / frame <= MAX_PEAK_OVER_FRAME),
            ]
        )
    out += _tree_targets(trees)
    if fan is not None and len(fan) >= 2:
        one, many = min(fan[0]["seconds"]), min(fan[-1]["seconds"])
        seen429 = sum(f["rate_limited_total"] for f in fan)
        out.append(
            [
                f"fan-out >= {MIN_FANOUT_SPEEDUP:g} x at {fan[-1]['workers']} workers, no 429",
                f"{one / many:.1f} x, {seen429} x 429",
                _ok(one / many >= MIN_FANOUT_SPEEDUP and not seen429),
            ]
        )
    for run in space or []:
        over = min(run["seconds"]) / run["bound_seconds"]
        out.append(
            [
                f"space at the API limit <= {MAX_SPACE_OVER_BOUND} x bound, no 429 "
                f"({run['workers']} workers, client {_limit(run['client_rate_limit'])})",
                f"{over:.2f} x, {run['rate_limited_total']} x 429",
                _ok(over <= MAX_SPACE_OVER_BOUND and not run["rate_limited_total"]),
            ]
        )
    if export is not None:
        ratio = export["export_write_seconds"] / export["write_table_seconds"]
        out.append(
            [
                f"export <= {MAX_EXPORT_RATIO} x bare write_table (medians)",
                f"{ratio:.2f} x",
                _ok(ratio <= MAX_EXPORT_RATIO),
            ]
        )
    return out


def _limit(rate: float | None) -> str:
    return "none" if not rate else f"{rate:g}/s"


def _tree_targets(trees: dict[str, Any] | None) -> list[list[str]]:
    if trees is None:
        return []
    sec = trees["seconds_with_path"]
    big = trees["n"] >= 1_000_000
    out = [
        [
            f"tree columns {trees['n']:,} < {MAX_TREE_SECONDS} s",
            f"{sec:.3f} s",
            _ok(sec < MAX_TREE_SECONDS) if big else "n/a (< 1M)",
        ]
    ]
    # Cached selections (#15.4, built by helper "trees"): a call again on the same frame.
    for name in SELECTIONS:
        seconds = trees.get(f"{name}_repeat")
        if seconds is None:
            continue
        out.append(
            [
                f"{name} again at {trees['n']:,} <= {MAX_SELECTION_MS:g} ms",
                f"{1e3 * seconds:.2f} ms",
                _ok(1e3 * seconds <= MAX_SELECTION_MS) if big else "n/a (< 1M)",
            ]
        )
    return out


SELECTIONS = ("subtree", "ancestors", "children")


def _selection_lines(trees: dict[str, Any]) -> list[str]:
    if "selection_first_call" not in trees:
        return []
    rows = [
        [
            "first selection on a fresh frame (builds the index)",
            f"{1e3 * trees['selection_first_call']:.1f}",
        ]
    ]
    rows += [
        [f"{name} again (cached)", f"{1e3 * trees[f'{name}_repeat']:.2f}"]
        for name in SELECTIONS
        if f"{name}_repeat" in trees
    ]
    if "chain_seconds" in trees:
        rows.append(
            [
                f"add_tree_columns on one chain {trees['n']:,} deep",
                f"{1e3 * trees['chain_seconds']:.0f}",
            ]
        )
    return [
        "",
        f"Selections on the same {trees['n']:,} tasks (`bench_trees.time_selections`; "
        "a repeat is the best of at least 5 calls):",
        "",
        *_table(["what", "ms"], rows),
    ]


def _memory_lines(sizes: Sequence[int], rows: list[Row]) -> list[str]:
    found = [(size, _memory(rows, size)) for size in sizes]
    found = [(size, m) for size, m in found if m is not None]
    if not found:
        return []
    lines = [
        "",
        "Memory of `load_tasks`: the frame's own `memory_usage(deep=True)` against how much "
        "the process grew at its peak during the load (peak RSS minus RSS before).",
        "",
    ]
    lines += _table(
        ["tasks", "frame MB", "peak growth MB", "growth / frame"],
        [
            [f"{size:,}", f"{frame:,.0f}", f"{grown:,.0f}", f"{grown / frame:.2f}"]
            for size, (grown, frame) in found
        ],
    )
    return lines


def _decode_section(decode: dict[str, Any]) -> list[str]:
    lines = [
        "",
        "## Decoding pages alone",
        "",
        f"`benchmarks/bench_decode.run`: {decode['pages']} pages of 1,000 tasks as the emulator "
        "serves them, into the four Arrow columns `load_tasks` builds (id, text, parent id, "
        f"completed); least CPU time of {decode['repeat']} runs, per task. The typed path's "
        "dependency was chosen from this table.",
        "",
    ]
    plain = decode["seconds"].get("json.loads + columns (plain path)")
    lines += _table(
        ["way", "us/task", "x plain path"],
        [
            [name, f"{1e6 * sec / decode['tasks']:.3f}", f"{sec / plain:.2f}" if plain else "-"]
            for name, sec in decode["seconds"].items()
        ],
    )
    return lines


def _fan_section(fan: list[dict[str, Any]], setup: dict[str, Any]) -> list[str]:
    lines = [
        "",
        "## Whole-space fan-out",
        "",
        f"`load_space` over one space of {setup['projects']} projects ({setup['tasks']} tasks "
        f"each), the emulator answering every request after {setup['latency'] * 1000:.0f} ms, "
        "no rate limit on either side. One run each. Client CPU is the CPU seconds of the "
        "client process during the load: when it nears the wall time, the GIL is the limit.",
        "",
    ]
    base = min(fan[0]["seconds"])
    lines += _table(
        [
            "workers",
            "seconds",
            "speed-up vs 1",
            "requests",
            "429s seen",
            "client CPU s",
            "peak RSS MB",
        ],
        [
            [
                f["workers"],
                _s(min(f["seconds"])),
                f"{base / min(f['seconds']):.1f}x",
                f"{f['requests_per_run']:.0f}",
                f["rate_limited_total"],
                _s(f.get("cpu_seconds")),
                f"{f['peak_rss_mb']:,.0f}",
            ]
            for f in fan
        ],
    )
    return lines


def _space_section(space: list[dict[str, Any]]) -> list[str]:
    first = space[0]
    lines = [
        "",
        "## A whole space at the API's own limit",
        "",
        f"`load_space` over one space of {first['projects']} projects, the emulator answering "
        f"every request after {first['latency'] * 1000:.0f} ms and allowing "
        f"{first['server_rate_limit']} requests per second (token bucket; a 429 with "
        "`Retry-After` beyond). The bound is the larger of requests needed / rate and "
        "requests needed x latency / workers, where requests needed leaves out the 429s "
        "(a refused request does no work): no client can do better. One run each.",
        "",
    ]
    lines += _table(
        [
            "workers",
            "client limit",
            "seconds",
            "requests",
            "needed",
            "bound s",
            "x bound",
            "429s seen",
            "client CPU s",
        ],
        [
            [
                r["workers"],
                _limit(r["client_rate_limit"]),
                _s(min(r["seconds"])),
                f"{r['requests_per_run']:.0f}",
                f"{r['requests_needed']:.0f}",
                _s(r["bound_seconds"]),
                f"{min(r['seconds']) / r['bound_seconds']:.2f}",
                r["rate_limited_total"],
                _s(r.get("cpu_seconds")),
            ]
            for r in space
        ],
    )
    ops = first.get("by_operation") or {}
    lines += ["", "Requests by operation (first run; retries are counted in the table above):", ""]
    lines += _table(["operation", "requests"], [[k, v] for k, v in ops.items()])
    return lines


def _export_section(export: dict[str, Any]) -> list[str]:
    times = export["times"]
    n = len(times["write_table"])
    lines = [
        "",
        "## Parquet export",
        "",
        f"{export['rows']:,} tasks (one space). The space is loaded once "
        f"({export['load_space_seconds']:.2f} s); `export_space` then runs with `load_space` "
        "answering from memory, so it is timed on the same work as the bare writes: frames in "
        "memory to parquet (zstd, the export default; the export also writes the small "
        "frames, fsyncs and commits a manifest). The three are interleaved in one process, "
        f"{n} times each; the median is the figure, the spread shows the noise. The CPU "
        "columns are the CPU seconds of the process (all threads): on a shared machine they "
        "are the steadier comparison.",
        "",
    ]
    wt = export["write_table_seconds"]

    cpu = export.get("cpu_times") or {}
    cpu_wt = statistics.median(cpu["write_table"]) if cpu.get("write_table") else None

    def row(label: str, key: str) -> list[str]:
        values = times[key]
        med = export[f"{key}_seconds"]
        cpu_med = statistics.median(cpu[key]) if cpu.get(key) else None
        return [
            label,
            _s(med),
            f"{min(values):.3f}-{max(values):.3f}",
            f"{med / wt:.2f}",
            _s(cpu_med),
            f"{cpu_med / cpu_wt:.2f}" if cpu_med and cpu_wt else "-",
        ]

    lines += _table(
        [
            "what",
            "median s",
            "spread (min-max) s",
            "x bare write_table",
            "median CPU s",
            "CPU x bare",
        ],
        [
            row("pyarrow.parquet.write_table(table) (Arrow table ready)", "write_table"),
            row("pa.Table.from_pandas + write_table", "from_pandas_write_table"),
            row("export_space, fetch excluded", "export_write"),
            [
                "export_space end to end (fetch included)",
                _s(export["export_end_to_end_seconds"]),
                "-",
                "-",
                "-",
                "-",
            ],
        ],
    )
    ratios = sorted(export["export_ratios"])
    lines += [
        "",
        f"Export over bare write, run by run: {', '.join(f'{r:.2f}' for r in ratios)}. "
        f"Tasks file: {export['tasks_file_mb']:.1f} MB. Peak RSS of the process: "
        f"{export['peak_rss_mb']:,.0f} MB.",
    ]
    return lines


NOTES_MARK = "<!-- notes: kept when run.py rewrites this file -->"


def _kept_notes(path: Path) -> str:
    """Hand-written notes below ``NOTES_MARK`` in an earlier report, kept as they are."""
    try:
        old = path.read_text(encoding="utf-8")
    except OSError:
        return ""
    at = old.find(NOTES_MARK)
    return "" if at < 0 else "\n" + old[at:]


def _without_out(argv: Sequence[str]) -> list[str]:
    """The command line without ``--out``: where the report went is nobody's business."""
    shown: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--out":
            skip = True
        elif not arg.startswith("--out="):
            shown.append(arg)
    return shown


def _sizes(text: str) -> list[int]:
    sizes = [int(s.replace("_", "")) for s in text.split(",") if s.strip()]
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("sizes must be positive integers, e.g. 10000,100000")
    return sizes


def _space_run(text: str) -> tuple[int | None, float | None]:
    workers, _, limit = text.strip().partition("@")
    return (
        None if workers == "default" else int(workers),
        None if limit in ("", "none") else float(limit),
    )


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        type=_sizes,
        help="tasks in the project, comma-separated (default 10000,100000,1000000)",
    )
    parser.add_argument("--repeat", type=int, help="rounds to take the best of (default 3)")
    parser.add_argument(
        "--quick", action="store_true", help="10k and 100k tasks, one round, 50 fan-out projects"
    )
    parser.add_argument("--tree-n", type=int, help="tasks for tree columns alone (default 1000000)")
    parser.add_argument("--export-n", type=int, help="tasks for the export (default 1000000)")
    parser.add_argument("--fanout-projects", type=int, help="projects (default 200)")
    parser.add_argument("--fanout-tasks", type=int, default=100, help="tasks per project")
    parser.add_argument(
        "--fanout-latency",
        type=float,
        default=0.02,
        help="emulator seconds per response (default 0.02)",
    )
    parser.add_argument(
        "--fanout-workers", default="1,8", help="worker counts, the first is the base (1,8)"
    )
    parser.add_argument(
        "--decode-tasks", type=int, help="tasks for decoding alone (default 100000)"
    )
    parser.add_argument("--space-projects", type=int, help="projects at the limit (default 200)")
    parser.add_argument(
        "--space-latency", type=float, default=0.08, help="seconds per response (default 0.08)"
    )
    parser.add_argument(
        "--space-rate", type=int, default=20, help="emulator requests per second (default 20)"
    )
    parser.add_argument(
        "--space-runs",
        default="default@20,4@20",
        help="runs at the limit, WORKERS@CLIENT_LIMIT each: WORKERS a number or 'default' "
        "(load_space's own), CLIENT_LIMIT requests/s or 'none' (default,4 at 20/s)",
    )
    parser.add_argument("--export-repeat", type=int, help="export rounds, median taken (default 5)")
    parser.add_argument(
        "--dlt-pipeline", action="store_true", help="also time dlt's pipeline.run to parquet (slow)"
    )
    parser.add_argument(
        "--skip", default="", help="comma-separated: decode,trees,fanout,space,export"
    )
    parser.add_argument(
        "--warm-memory",
        type=int,
        metavar="MB",
        help="touch and free MB in a throwaway process before each timed load "
        "(default 2048; 0 with --quick)",
    )
    parser.add_argument(
        "--out", default=str(HERE / "RESULTS.md"), help="where to write the report; '-' for nowhere"
    )
    args = parser.parse_args(argv)

    quick = args.quick
    warm_mb = args.warm_memory if args.warm_memory is not None else (0 if quick else 2048)
    sizes = args.sizes or ([10_000, 100_000] if quick else [10_000, 100_000, 1_000_000])
    repeat = args.repeat or (1 if quick else 3)
    tree_n = args.tree_n or (max(sizes) if quick else 1_000_000)
    export_n = args.export_n or (max(sizes) if quick else 1_000_000)
    fan_projects = args.fanout_projects or (50 if quick else 200)
    space_projects = args.space_projects or (50 if quick else 200)
    export_repeat = args.export_repeat or (3 if quick else 5)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    contenders = [*CONTENDERS, DLT_PIPELINE] if args.dlt_pipeline else list(CONTENDERS)

    started = time.perf_counter()
    load_start = os.getloadavg()[0]
    touch = [touch_cost()]
    with tempfile.TemporaryDirectory(prefix="taskade-bench-") as scratch:
        env = _env(Path(scratch))
        decode = None if "decode" in skip else decoders(env, args.decode_tasks or 100_000)
        rows: list[Row] = []
        for size in sizes:
            rows += load_one_project(env, size, repeat, contenders, warm_mb)
        trees = None if "trees" in skip else tree_columns(env, tree_n, repeat)
        fan_setup = {
            "projects": fan_projects,
            "tasks": args.fanout_tasks,
            "latency": args.fanout_latency,
        }
        fan = (
            None
            if "fanout" in skip
            else fan_out(
                env,
                fan_projects,
                args.fanout_tasks,
                args.fanout_latency,
                [int(w) for w in args.fanout_workers.split(",")],
            )
        )
        space = (
            None
            if "space" in skip
            else space_at_limit(
                env,
                space_projects,
                args.fanout_tasks,
                args.space_latency,
                args.space_rate,
                [_space_run(run) for run in args.space_runs.split(",")],
            )
        )
        export = None if "export" in skip else parquet_export(env, export_n, export_repeat)
        touch.append(touch_cost())

    text = report(
        argv=argv,
        started=started,
        load=[load_start, os.getloadavg()[0]],
        sizes=sizes,
        rows=rows,
        repeat=repeat,
        trees=trees,
        fan=fan,
        space=space,
        export=export,
        fan_setup=fan_setup,
        decode=decode,
        touch=touch,
        warm_mb=warm_mb,
    )
    print(text)
    if args.out != "-":
        out = Path(args.out)
        out.write_text(text + _kept_notes(out), encoding="utf-8")
        _log(f"wrote {args.out}")
    failed = [r for r in rows if r.error]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
