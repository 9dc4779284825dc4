"""Decode listing pages into task columns, each way we could: the measurement behind msgspec.

Pages of 1,000 tasks exactly as the emulator serves them (``\\uXXXX`` escapes,
``parentId`` only on children) are turned into the four Arrow columns
``load_tasks`` needs (id, text, parent id, completed), by:

* ``json.loads`` then a list per column, then ``pa.array`` (the plain path);
* ``orjson.loads`` then the same;
* ``msgspec`` typed decoding (``taskade_frames.decoding.PageDecoder``, the typed path);
* ``pyarrow.json``, which reads newline-delimited JSON only: a page is one line.

Decoding alone (``json.loads`` and ``orjson.loads`` without columns) is shown
too: it is what the benchmark floor pays per page.

    python benchmarks/bench_decode.py [--tasks 100000] [--repeat 5]

``run(tasks, repeat)`` returns the numbers as a dict for a harness.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import time
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from taskade_frames.decoding import PageDecoder
from taskade_frames.emulator import synthetic_workspace

PAGE = 1000
FIELDS = {
    "id": ("id", "string"),
    "text": ("text", "string"),
    "parent_id": ("parentId", "string"),
    "completed": ("completed", "bool"),
}
_TYPES = {"string": pa.large_string(), "bool": pa.bool_()}


def make_pages(tasks: int, seed: int = 6) -> list[bytes]:
    """The emulator's own page bodies for one project of ``tasks`` tasks."""
    ws = synthetic_workspace(seed, projects=1, tasks_per_project=tasks, max_depth=6)
    table = next(iter(ws.projects.values())).tasks
    return [
        b'{"ok":true,"items":' + table.encode(start, start + PAGE).encode() + b"}"
        for start in range(0, tasks, PAGE)
    ]


def _columns_from_dicts(items: list[dict[str, Any]]) -> list[pa.Array]:
    return [
        pa.array([it.get(api) for it in items], type=_TYPES[kind]) for api, kind in FIELDS.values()
    ]


def _ways() -> dict[str, Callable[[bytes], Any]]:
    ways: dict[str, Callable[[bytes], Any]] = {
        "json.loads (decoding only)": json.loads,
        "json.loads + columns (plain path)": lambda p: _columns_from_dicts(json.loads(p)["items"]),
    }
    if importlib.util.find_spec("orjson"):
        import orjson

        ways["orjson.loads (decoding only)"] = orjson.loads
        ways["orjson.loads + columns"] = lambda p: _columns_from_dicts(orjson.loads(p)["items"])
    decoder = PageDecoder(FIELDS)
    ways["msgspec typed decoding + columns (typed path)"] = decoder

    import pyarrow.json as pj

    item = pa.struct([(api, _TYPES[kind]) for api, kind in FIELDS.values()])
    parse = pj.ParseOptions(
        explicit_schema=pa.schema([("ok", pa.bool_()), ("items", pa.list_(item))]),
        unexpected_field_behavior="ignore",
    )

    def arrow_json(page: bytes) -> Any:
        read = pj.ReadOptions(use_threads=False, block_size=len(page) + 1)
        table = pj.read_json(io.BytesIO(page), read_options=read, parse_options=parse)
        return table.column("items").combine_chunks().values.flatten()

    ways["pyarrow.json, the page as one NDJSON line"] = arrow_json
    return ways


def run(tasks: int = 100_000, repeat: int = 5) -> dict[str, Any]:
    pages = make_pages(tasks)
    results = {}
    for name, fn in _ways().items():
        best = float("inf")
        for _ in range(repeat):
            # CPU time of the process: on a shared machine, waiting for a core is no cost.
            start = time.process_time()
            for page in pages:
                fn(page)
            best = min(best, time.process_time() - start)
        results[name] = best
    return {"tasks": tasks, "pages": len(pages), "repeat": repeat, "seconds": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    out = run(args.tasks, args.repeat)
    for name, seconds in out["seconds"].items():
        print(f"{name:50s} {1e6 * seconds / out['tasks']:6.3f} us/task")


if __name__ == "__main__":
    main()
