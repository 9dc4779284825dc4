"""Time ``add_tree_columns`` on a large random task forest against a per-row baseline.

Also times the selections (``subtree``, ``ancestors``, ``children``): the first call on a
frame builds its tree, later calls on the same frame reuse it; and deep shapes (a single
chain) that used to grow the ``path`` column quadratically.

The forest looks like real ``listTasks`` output: tasks in document order (pre-order), ids of
16 letters and digits, depths up to 12 with most tasks a few levels down. The baseline is
what one would write first: ``DataFrame.apply`` per row with recursive parent walks. It is
timed on at most ``--baseline-n`` tasks (it would need hours for a million) and compared per
task.

    python benchmarks/bench_trees.py [--n 1000000] [--repeat 3] [--baseline-n 20000]

``run(n, repeat)`` returns the numbers as a dict for a harness.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from taskade_frames.trees import add_tree_columns, ancestors, children, subtree

MAX_DEPTH = 12
SEED = 20240611
_ALPHABET = np.frombuffer(
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", dtype=np.uint8
)


def _depths_in_document_order(n: int, rng: np.random.Generator) -> np.ndarray:
    """A pre-order depth sequence: each task is at most one level below the one before."""
    moves = rng.random(n)
    climbs = rng.geometric(0.5, n)
    depth = np.zeros(n, np.int64)
    d = 0
    for i in range(1, n):  # setup only; a Markov chain does not vectorise
        if moves[i] < 0.42:
            d = min(d + 1, MAX_DEPTH)  # first child of the previous task
        elif moves[i] < 0.75:
            pass  # next sibling
        else:
            d = max(d - int(climbs[i]), 0)  # back up the outline
        depth[i] = d
    return depth


def make_forest(n: int, seed: int = SEED) -> pd.DataFrame:
    """A deterministic random task forest in document order, shaped like the loader's frame."""
    rng = np.random.default_rng(seed)
    depth = _depths_in_document_order(n, rng)
    parent = np.full(n, -1, np.int64)
    rows = np.arange(n)
    for d in range(1, MAX_DEPTH + 1):
        here, above = rows[depth == d], rows[depth == d - 1]
        # In pre-order a task's parent is the closest earlier task one level up.
        parent[here] = above[np.searchsorted(above, here) - 1]
    raw = _ALPHABET[rng.integers(0, len(_ALPHABET), (n, 16))].view("S16").ravel()
    ids = pa.array(raw).cast(pa.large_string())
    parent_ids = ids.take(pa.array(np.where(parent >= 0, parent, 0), mask=parent < 0))
    return pd.DataFrame(
        {
            "id": pd.arrays.ArrowStringArray(ids),
            "parent_id": pd.arrays.ArrowStringArray(parent_ids),
            "text": pd.array([f"Task {i}" for i in range(n)], dtype=pd.StringDtype("pyarrow")),
            "completed": pd.array(rng.random(n) < 0.4, dtype="boolean"),
        }
    )


def naive_tree_columns(df: pd.DataFrame) -> pd.DataFrame:
    """The per-row recursive version: what the vectorised code replaces."""
    parent_of = {
        task: (None if pd.isna(parent) else parent)
        for task, parent in zip(df["id"], df["parent_id"], strict=True)
    }
    kids: dict[str, list[str]] = {}
    for task, parent in parent_of.items():
        if parent is not None:
            kids.setdefault(parent, []).append(task)
    done = dict(zip(df["id"], df["completed"].fillna(False), strict=True))

    def depth(task: str) -> int:
        parent = parent_of[task]
        return 0 if parent is None else depth(parent) + 1

    def path(task: str) -> str:
        parent = parent_of[task]
        return task if parent is None else f"{path(parent)}/{task}"

    def leaves(task: str) -> tuple[int, int]:
        below = kids.get(task, [])
        if not below:
            return 1, int(done[task])
        counts = [leaves(child) for child in below]
        return sum(c[0] for c in counts), sum(c[1] for c in counts)

    def row(r: pd.Series) -> pd.Series:
        total, finished = leaves(r["id"])
        return pd.Series(
            {
                "depth": depth(r["id"]),
                "path": path(r["id"]),
                "n_children": len(kids.get(r["id"], [])),
                "leaves_total": total,
                "leaves_done": finished,
            }
        )

    return df.join(df.apply(row, axis=1))


def _best_of(repeat: int, fn: Callable[[], Any]) -> tuple[float, float]:
    """Best wall-clock and best CPU seconds: on a shared machine the two differ."""
    wall, cpu = [], []
    for _ in range(max(repeat, 1)):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return min(wall), min(cpu)


def chain(n: int) -> pd.DataFrame:
    """One task under another, ``n`` deep: the worst shape for per-level work and paths."""
    ids = pa.array([f"t{i:07d}" for i in range(n)], pa.large_string())
    rows = np.arange(n)
    parents = ids.take(pa.array(rows - 1, mask=rows == 0))
    return pd.DataFrame(
        {
            "id": pd.arrays.ArrowStringArray(ids),
            "parent_id": pd.arrays.ArrowStringArray(parents),
            "completed": pd.array(rows % 2 == 0, dtype="boolean"),
        }
    )


def time_selections(df: pd.DataFrame, repeat: int) -> dict[str, float]:
    """Seconds for the first selection on a fresh frame, and the best repeat call of each.

    The task picked is the biggest one at depth 2, as an analyst might pick a section.
    """
    frame = df.copy()  # a new frame: nothing cached for it yet
    tree = add_tree_columns(df, path=False)
    section = tree[tree["depth"] == 2]
    task = section["id"].iloc[int(section["n_descendants"].to_numpy().argmax())]
    leaf = tree.loc[tree["depth"] == tree["depth"].max(), "id"].iloc[0]
    start = time.perf_counter()
    subtree(frame, task)
    first = time.perf_counter() - start
    out = {"selection_first_call": first}
    for name, fn, arg in (
        ("subtree", subtree, task),
        ("ancestors", ancestors, leaf),
        ("children", children, task),
    ):
        out[f"{name}_repeat"] = _best_of(max(repeat, 5), lambda f=fn, a=arg: f(frame, a))[0]
    return out


def run(n: int = 1_000_000, repeat: int = 3, baseline_n: int = 20_000) -> dict[str, Any]:
    """Time the vectorised code on ``n`` tasks and the baseline on ``min(n, baseline_n)``.

    Returns seconds (best of ``repeat``; wall clock, and CPU time of this process), seconds
    per task and the per-task speed-up. The first call in a process also pays for fresh
    memory pages; it is reported separately.
    """
    df = make_forest(n)
    first = _best_of(1, lambda: add_tree_columns(df))[0]
    with_path, with_path_cpu = _best_of(repeat, lambda: add_tree_columns(df))
    without_path, without_path_cpu = _best_of(repeat, lambda: add_tree_columns(df, path=False))
    small_n = min(n, baseline_n)
    small = df.iloc[:small_n]  # a prefix of a pre-order list is itself a forest
    baseline = _best_of(1, lambda: naive_tree_columns(small))[0]
    vectorised_small = _best_of(repeat, lambda: add_tree_columns(small))[0]
    depth = add_tree_columns(df, path=False)["depth"]
    selections = time_selections(df, repeat)
    deep = chain(n)
    deep_seconds = _best_of(1, lambda d=deep: add_tree_columns(d))[0]
    del deep
    return {
        **selections,
        "chain_seconds": deep_seconds,
        "n": n,
        "repeat": repeat,
        "max_depth": int(depth.max()) if n else 0,
        "mean_depth": float(depth.mean()) if n else 0.0,
        "seconds_first_call": first,
        "seconds_with_path": with_path,
        "seconds_without_path": without_path,
        "cpu_seconds_with_path": with_path_cpu,
        "cpu_seconds_without_path": without_path_cpu,
        "baseline_n": small_n,
        "baseline_seconds": baseline,
        "vectorised_seconds_at_baseline_n": vectorised_small,
        "baseline_per_task": baseline / max(small_n, 1),
        "vectorised_per_task": with_path / max(n, 1),
        "speedup_per_task": (baseline / max(small_n, 1)) / (with_path / max(n, 1)),
        "speedup_at_baseline_n": baseline / max(vectorised_small, 1e-9),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="tasks in the forest")
    parser.add_argument("--repeat", type=int, default=3, help="timings to take the best of")
    parser.add_argument(
        "--baseline-n", type=int, default=20_000, help="tasks for the slow per-row baseline"
    )
    args = parser.parse_args(argv)
    r = run(args.n, args.repeat, args.baseline_n)
    print(f"forest: {r['n']:,} tasks, max depth {r['max_depth']}, mean {r['mean_depth']:.2f}")
    print(f"{'what':<34}{'tasks':>11}{'seconds':>10}{'cpu s':>8}{'us/task':>9}")
    table = [
        ("add_tree_columns", r["n"], r["seconds_with_path"], r["cpu_seconds_with_path"]),
        (
            "add_tree_columns(path=False)",
            r["n"],
            r["seconds_without_path"],
            r["cpu_seconds_without_path"],
        ),
        ("add_tree_columns, first call", r["n"], r["seconds_first_call"], None),
        ("add_tree_columns", r["baseline_n"], r["vectorised_seconds_at_baseline_n"], None),
        ("per-row apply + recursion", r["baseline_n"], r["baseline_seconds"], None),
    ]
    for what, tasks, seconds, cpu in table:
        cpu_text = "" if cpu is None else f"{cpu:.3f}"
        per_task = 1e6 * seconds / max(tasks, 1)
        print(f"{what:<34}{tasks:>11,}{seconds:>10.3f}{cpu_text:>8}{per_task:>9.2f}")
    print(f"a single chain {r['n']:,} deep{'':<6}{r['n']:>11,}{r['chain_seconds']:>10.3f}")
    first = r["selection_first_call"]
    print(f"selections: first call {1e3 * first:.1f} ms (builds the tree), then per call:")
    for name in ("subtree", "ancestors", "children"):
        again = r[f"{name}_repeat"]
        print(f"  {name:<10}{1e3 * again:8.2f} ms   first/repeat {first / max(again, 1e-9):6.0f}x")
    if r["baseline_n"] < r["n"]:
        print(f"(baseline run on the first {r['baseline_n']:,} tasks only: it is too slow)")
    print(
        f"speed-up per task: {r['speedup_per_task']:.0f}x "
        f"({r['speedup_at_baseline_n']:.0f}x on the same {r['baseline_n']:,} tasks)"
    )


if __name__ == "__main__":
    main()
