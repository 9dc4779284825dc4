"""The details benchmark runs end to end at a tiny size (no timing is asserted)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_details.py"


@pytest.mark.slow
def test_the_details_benchmark_runs_and_reports_a_row():
    spec = importlib.util.spec_from_file_location("bench_details", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    result = bench.run(tasks=12, rate=500, parts=("assignees", "notes"), workers=2)
    assert result["errors"] == 0 and result["rate_limited"] == 0
    # The listing (a page and an empty page), 12 x 2 detail requests, maybe a re-listing.
    assert 26 <= result["requests"] <= 28
    assert bench.row(result).startswith("| 12 tasks x 2 parts | 500 | 2 |")
