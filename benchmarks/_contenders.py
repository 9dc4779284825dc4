"""The contenders, one per process: each fetches a project's tasks from the emulator.

``run.py`` starts ``python benchmarks/_contenders.py NAME --base-url ... --project ...``
once per contender, so that each has its own interpreter, GIL and peak RSS. The
process times ``--repeat`` runs, checks that every run returned every task, and
prints one JSON line: best and all seconds, rows, RSS after imports and peak RSS
(``ru_maxrss`` of the whole process at the end, nothing subtracted).

Contenders:

* ``floor``: a bare ``requests.Session`` loop of POSTs with ``after`` cursors and
  ``json.loads`` of each body; no DataFrame, items not kept. ``--page-size`` 100 or 1000.
* ``taskade_frames``: ``load_tasks`` with every tree column.
* ``naive``: the same page loop keeping the items, ``pd.DataFrame(list_of_dicts)``,
  then ``depth`` and ``root_id`` by per-row recursion over a ``{id: parent}`` dict
  (memoised with ``functools.cache``: what a careful user writes).
* ``dlt``: dlt's ``rest_api`` source with a small "after the last id" paginator,
  iterated straight into ``pd.DataFrame`` (no pipeline, no normalise/load step:
  the most favourable path for dlt).
* ``dlt_parquet``: the same source through ``pipeline.run`` to filesystem parquet,
  read back into a DataFrame (what dlt is built for).
* ``trees``: ``bench_trees.run`` (tree columns alone on a random forest).
* ``decode``: ``bench_decode.run`` (pages into task columns, each way we could).
* ``fanout``: ``load_space`` over a many-project space, ``--workers`` threads,
  counting the requests by operation.
* ``export``: ``export_space`` against ``pyarrow.parquet.write_table``, each
  ``--repeat`` times interleaved; medians and every time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_seconds() -> float:
    """User + system CPU time of this process (all its threads) so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _server_cpu_seconds(pid: int | None) -> float | None:
    """CPU time of the emulator process so far (Linux ``/proc``), or None."""
    if not pid:
        return None
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def _current_rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # not Linux: the peak so far is the next best thing
        return _rss_mb()


# -- the page loop shared by floor and naive --------------------------------------


def _session(token: str):
    import requests

    session = requests.Session()
    # No proxies or netrc from the environment: the benchmark talks to loopback only.
    session.trust_env = False
    session.headers.update({"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    return session


def _pages(session, base_url: str, project_id: str, page_size: int):
    """Yield each page's items until the empty page, as a plain user loop does."""
    url = f"{base_url}/listTasks"
    after = None
    while True:
        body: dict[str, Any] = {"projectId": project_id, "limit": page_size}
        if after is not None:
            body["after"] = after
        resp = session.post(url, data=json.dumps(body))
        resp.raise_for_status()
        items = json.loads(resp.content)["items"]
        if not items:
            return
        yield items
        after = items[-1]["id"]


def floor(args: argparse.Namespace) -> Callable[[str], int]:
    session = _session(args.token)

    def fetch(project_id: str) -> int:
        rows = 0
        for items in _pages(session, args.base_url, project_id, args.page_size):
            rows += len(items)
        return rows

    return fetch


# Numbers a contender reports besides its timings (printed with them).
EXTRA: dict[str, Any] = {}


def taskade_frames(args: argparse.Namespace) -> Callable[[str], int]:
    from taskade_frames import TaskadeClient, load_tasks

    client = TaskadeClient(args.token, base_url=args.base_url, read_ahead=not args.no_read_ahead)

    def fetch(project_id: str) -> int:
        df = load_tasks(project_id, client)
        assert df.attrs["reports"][0]["complete"]
        # The frame's own size, to set the peak RSS against (measured after the clock).
        EXTRA["frame_mb"] = float(df.memory_usage(deep=True).sum()) / 2**20
        return len(df)

    return fetch


def naive(args: argparse.Namespace) -> Callable[[str], int]:
    import functools

    import pandas as pd

    session = _session(args.token)

    def fetch(project_id: str) -> int:
        items: list[dict[str, Any]] = []
        for page in _pages(session, args.base_url, project_id, args.page_size):
            items.extend(page)
        df = pd.DataFrame(items)
        parent_of = dict(zip(df["id"], df["parentId"], strict=True))

        @functools.cache
        def depth(task_id: str) -> int:
            parent = parent_of[task_id]
            return 0 if pd.isna(parent) else depth(parent) + 1

        @functools.cache
        def root(task_id: str) -> str:
            parent = parent_of[task_id]
            return task_id if pd.isna(parent) else root(parent)

        df["depth"] = df["id"].map(depth)
        df["root_id"] = df["id"].map(root)
        return len(df)

    return fetch


def _dlt_source(args: argparse.Namespace, project_id: str):
    from dlt.sources.helpers.rest_client.paginators import BasePaginator
    from dlt.sources.rest_api import rest_api_source

    class AfterLastId(BasePaginator):
        """Cursor paging in the JSON body: ``after`` = the id of the last item received.

        The v2 ``listTasks`` answer has no cursor of its own::

            {"ok": true, "items": [{"id": "t1", ...}, {"id": "t2", ...}]}

        so the next request is the same body with ``"after": "t2"``; an empty
        ``items`` ends the listing.
        """

        def __init__(self) -> None:
            super().__init__()
            self._after: str | None = None

        def update_state(self, response, data=None) -> None:
            if isinstance(data, dict):  # dlt unwraps a one-item page into the item
                data = [data]
            if not data:
                self._has_next_page = False
            else:
                self._after = data[-1]["id"]

        def update_request(self, request) -> None:
            request.json = {**(request.json or {}), "after": self._after}

    return rest_api_source(
        {
            "client": {
                "base_url": args.base_url + "/",
                "auth": {"type": "bearer", "token": args.token},
            },
            "resources": [
                {
                    "name": "tasks",
                    "endpoint": {
                        "path": "listTasks",
                        "method": "POST",
                        "json": {"projectId": project_id, "limit": args.page_size},
                        "paginator": AfterLastId(),
                        "data_selector": "items",
                    },
                }
            ],
        },
        name="taskade",
    )


def dlt_frame(args: argparse.Namespace) -> Callable[[str], int]:
    import dlt.sources.rest_api  # noqa: F401  (imports are not part of the timing)
    import pandas as pd

    def fetch(project_id: str) -> int:
        df = pd.DataFrame(list(_dlt_source(args, project_id).resources["tasks"]))
        return len(df)

    return fetch


def dlt_parquet(args: argparse.Namespace) -> Callable[[str], int]:
    import dlt as dlt_lib
    import dlt.sources.rest_api  # imports are not part of the timing
    import pyarrow.parquet as pq

    workdir = Path(tempfile.mkdtemp(prefix="bench-dlt-"))
    runs = iter(range(1_000_000))

    def fetch(project_id: str) -> int:
        run = next(runs)
        pipeline = dlt_lib.pipeline(
            pipeline_name=f"bench_{run}",
            pipelines_dir=str(workdir / "pipelines"),
            destination=dlt_lib.destinations.filesystem(str(workdir / f"lake_{run}")),
            dataset_name="taskade",
        )
        pipeline.run(_dlt_source(args, project_id), loader_file_format="parquet")
        files = sorted((workdir / f"lake_{run}" / "taskade" / "tasks").rglob("*.parquet"))
        df = pq.read_table(files).to_pandas()
        return len(df)

    return fetch


# -- the single-number benchmarks ---------------------------------------------------


def trees(args: argparse.Namespace) -> dict[str, Any]:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import inspect

    import bench_trees

    kwargs: dict[str, Any] = {}
    if "baseline_n" in inspect.signature(bench_trees.run).parameters:
        kwargs["baseline_n"] = args.baseline_n
    return bench_trees.run(args.n, args.repeat, **kwargs)


def decode(args: argparse.Namespace) -> dict[str, Any]:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import bench_decode

    return bench_decode.run(args.n or 100_000, args.repeat)


def _counting_client(args: argparse.Namespace, rate_limit: float | None):
    """A client that also counts the operations it sends (retries are in ``stats``)."""
    from collections import Counter

    from taskade_frames import TaskadeClient

    class CountingClient(TaskadeClient):
        sent: Counter

        def send(self, op, body, *rest, **kw):
            self.sent[op.name] += 1
            return super().send(op, body, *rest, **kw)

        def send_early(self, op, body):  # a request read ahead is a request too
            self.sent[op.name] += 1
            return super().send_early(op, body)

    client = CountingClient(args.token, base_url=args.base_url, rate_limit=rate_limit)
    client.sent = Counter()
    return client


def fanout(args: argparse.Namespace) -> dict[str, Any]:
    """``load_space`` over a many-project space: seconds, CPU, requests by operation, 429s."""
    from taskade_frames.space import load_space  # the live load: its own max_workers

    seconds = []
    cpu = []
    stats: dict[str, Any] = {}
    by_operation: dict[str, int] = {}
    frames = None
    for _ in range(args.repeat):
        client = _counting_client(args, args.rate_limit or None)
        cpu_start = _cpu_seconds()
        start = time.perf_counter()
        kw = {"max_workers": args.workers} if args.workers else {}
        frames = load_space(args.space, client, progress=False, **kw)
        seconds.append(time.perf_counter() - start)
        cpu.append(_cpu_seconds() - cpu_start)
        run_stats = client.stats
        by_operation = dict(sorted(client.sent.items()))
        client.close()
        # Report the 429s of every run, not just the fastest one.
        stats = {k: stats.get(k, 0) + run_stats[k] for k in ("requests", "retries", "rate_limited")}
    assert frames is not None
    import inspect

    return {
        "default_workers": inspect.signature(load_space).parameters["max_workers"].default,
        "seconds": seconds,
        "cpu_seconds": min(cpu),
        "rows": len(frames.tasks),
        "projects": len(frames.projects),
        "errors": len(frames.errors),
        "by_operation": by_operation,
        **{f"{k}_total": v for k, v in stats.items()},
        "requests_per_run": stats["requests"] / args.repeat,
    }


def export(args: argparse.Namespace) -> dict[str, Any]:
    """``export_space`` with the fetch taken out, against bare parquet writes of the tasks.

    The space is loaded once; ``export_space`` then runs with ``load_space``
    answering from memory, so both sides time the same thing: frames in
    memory to parquet on disk (zstd, the export's default codec).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    import taskade_frames.export as export_mod
    import taskade_frames.space as space_mod
    from taskade_frames import TaskadeClient, schemas

    client = TaskadeClient(args.token, base_url=args.base_url)
    out = Path(tempfile.mkdtemp(prefix="bench-export-"))

    start = time.perf_counter()
    loaded = space_mod.load_space(args.space, client, progress=False)
    load_seconds = time.perf_counter() - start
    tasks = loaded.tasks
    schema = schemas.arrow_schema("tasks")

    table = pa.Table.from_pandas(
        schemas.coerce(tasks, "tasks")[schema.names], schema=schema, preserve_index=False
    )

    def write_only(i: int) -> None:
        pq.write_table(table, out / f"bare-{i}.parquet", compression="zstd")

    def convert_and_write(i: int) -> None:
        t = pa.Table.from_pandas(tasks[schema.names], schema=schema, preserve_index=False)
        pq.write_table(t, out / f"bare-pandas-{i}.parquet", compression="zstd")

    def export_write(i: int) -> None:
        export_mod.export_space(args.space, out / f"export-{i}", client, progress=False)

    contenders = {
        "write_table": write_only,
        "from_pandas_write_table": convert_and_write,
        "export_write": export_write,
    }
    times: dict[str, list[float]] = {name: [] for name in contenders}
    cpu: dict[str, list[float]] = {name: [] for name in contenders}
    real_load_space = space_mod.load_space
    space_mod.load_space = lambda *a, **k: loaded  # the fetch is timed separately
    try:
        for i in range(args.repeat):  # interleaved, so that noise hits all three alike
            for name, fn in contenders.items():
                c0, t0 = _cpu_seconds(), time.perf_counter()
                fn(i)
                times[name].append(time.perf_counter() - t0)
                cpu[name].append(_cpu_seconds() - c0)
    finally:
        space_mod.load_space = real_load_space
    median = {name: statistics.median(values) for name, values in times.items()}

    start = time.perf_counter()
    result = export_mod.export_space(args.space, out / "export-e2e", client, progress=False)
    end_to_end = time.perf_counter() - start
    assert result.rows["tasks"] == len(tasks)
    return {
        "rows": len(tasks),
        "load_space_seconds": load_seconds,
        "write_table_seconds": median["write_table"],
        "from_pandas_write_table_seconds": median["from_pandas_write_table"],
        "export_write_seconds": median["export_write"],
        "times": times,
        "cpu_times": cpu,
        "export_ratios": [
            e / w for e, w in zip(times["export_write"], times["write_table"], strict=True)
        ],
        "export_end_to_end_seconds": end_to_end,
        "tasks_file_mb": (out / "bare-0.parquet").stat().st_size / 2**20,
    }


LOADERS: dict[str, Callable[[argparse.Namespace], Callable[[str], int]]] = {
    "floor": floor,
    "taskade_frames": taskade_frames,
    "naive": naive,
    "dlt": dlt_frame,
    "dlt_parquet": dlt_parquet,
}
SINGLE: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "trees": trees,
    "decode": decode,
    "fanout": fanout,
    "export": export,
}


def _warm_memory(mb: int) -> None:
    """Touch and free ``mb`` MB in a throwaway process, right before a timed run.

    A VM may back a page the guest never used slowly (about 2 ms per MB here) and
    one freed moments ago at once; without this, whoever runs after a big
    contender inherits its pages and runs faster. A child process, so that this
    process's peak RSS stays its own.
    """
    if mb > 0:
        code = f"import numpy as np; a = np.empty({mb} << 20, np.uint8); a[::4096] = 1"
        subprocess.run([sys.executable, "-c", code], check=False, timeout=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=[*LOADERS, *SINGLE])
    parser.add_argument("--base-url")
    parser.add_argument("--token")
    parser.add_argument("--project")
    parser.add_argument("--warmup-project", help="fetched once, untimed, before the runs")
    parser.add_argument("--space")
    parser.add_argument("--expect", type=int, help="rows every run must return")
    parser.add_argument("--server-pid", type=int, help="the emulator's pid, to read its CPU time")
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument(
        "--no-read-ahead", action="store_true", help="taskade_frames: each request after a page"
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--n", type=int, help="tasks for the tree benchmark")
    parser.add_argument("--baseline-n", type=int, default=20_000)
    parser.add_argument("--workers", type=int, help="load_space max_workers (default: its own)")
    parser.add_argument("--rate-limit", type=float)
    parser.add_argument(
        "--warm-mb", type=int, default=0, help="MB a throwaway process touches before each run"
    )
    args = parser.parse_args(argv)

    if args.name in SINGLE:
        idle = _current_rss_mb()
        result = SINGLE[args.name](args)
        result.update(idle_rss_mb=idle, peak_rss_mb=_rss_mb())
        print(json.dumps(result), flush=True)
        return 0

    fetch = LOADERS[args.name](args)
    if args.warmup_project:
        # First calls pay for lazy imports, caches and the connection; a user
        # re-running a notebook cell does not, so neither do the timed runs.
        fetch(args.warmup_project)
    idle = _current_rss_mb()
    seconds: list[float] = []
    cpu: list[float] = []
    server_cpu: list[float] = []
    rows = 0
    for _ in range(args.repeat):
        _warm_memory(args.warm_mb)
        server_start = _server_cpu_seconds(args.server_pid)
        cpu_start = _cpu_seconds()
        start = time.perf_counter()
        rows = fetch(args.project)
        seconds.append(time.perf_counter() - start)
        cpu.append(_cpu_seconds() - cpu_start)
        server_end = _server_cpu_seconds(args.server_pid)
        if server_start is not None and server_end is not None:
            server_cpu.append(server_end - server_start)
        if args.expect is not None and rows != args.expect:
            raise SystemExit(f"{args.name}: got {rows} rows, expected {args.expect}")
    print(
        json.dumps(
            {
                **EXTRA,
                "seconds": seconds,
                "best": min(seconds),
                "cpu_seconds": cpu,
                "server_cpu_seconds": server_cpu,
                "rows": rows,
                "idle_rss_mb": idle,
                "peak_rss_mb": _rss_mb(),
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
