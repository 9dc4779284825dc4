"""The benchmark harness runs end to end at a tiny size and reports every row.

No timing is asserted: this only proves that ``python benchmarks/run.py``
still works (emulator process, every contender process, the report), so the
numbers in ``benchmarks/RESULTS.md`` can always be reproduced.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

RUN = Path(__file__).resolve().parents[1] / "benchmarks" / "run.py"
LABELS = (
    "floor: requests + json.loads, page 100",
    "floor: requests + json.loads, page 1000",
    "taskade_frames.load_tasks (all tree columns)",
    "naive pandas: DataFrame(list of dicts) + recursion",
    "dlt rest_api source -> DataFrame",
)


def _row(report: str, label: str) -> list[str]:
    lines = [ln for ln in report.splitlines() if f"| {label} " in ln]
    assert len(lines) == 1, f"no single row for {label!r} in:\n{report}"
    return [cell.strip() for cell in lines[0].strip("|").split("|")]


@pytest.mark.slow
def test_the_harness_runs_at_a_tiny_size_and_reports_every_row(tmp_path):
    out = tmp_path / "RESULTS.md"
    proc = subprocess.run(
        [
            sys.executable,
            str(RUN),
            "--sizes",
            "2000",
            "--repeat",
            "1",
            "--tree-n",
            "2000",
            "--export-n",
            "2000",
            "--fanout-projects",
            "3",
            "--fanout-latency",
            "0.001",
            "--space-projects",
            "3",
            "--space-latency",
            "0.001",
            "--space-rate",
            "500",
            "--space-runs",
            "default@500,2@none",
            "--decode-tasks",
            "2000",
            "--export-repeat",
            "2",
            "--warm-memory",
            "16",  # the path runs; a full run warms 2 GB
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = out.read_text(encoding="utf-8")
    assert report in proc.stdout  # printed and written alike

    for label in LABELS:
        row = _row(report, f"2,000 | {label}")
        if label.startswith("dlt") and importlib.util.find_spec("dlt") is None:
            assert "not installed" in row[2]
        else:
            assert float(row[2]) > 0, row  # seconds
            assert int(row[3].replace(",", "")) > 0, row  # rows/s
    floors = [_row(report, f"2,000 | {label}")[4] for label in LABELS[:2]]
    assert "1.00" in floors  # ratios are to the faster floor

    for section in (
        "## Decoding pages alone",
        "## Tree columns alone",
        "## Whole-space fan-out",
        "## A whole space at the API's own limit",
        "## Parquet export",
        "## Targets",
    ):
        assert section in report
    assert _row(report, "add_tree_columns (all columns)")[1] == "2,000"
    assert float(_row(report, "msgspec typed decoding + columns (typed path)")[1]) > 0
    fan = report.split("## Whole-space fan-out")[1].split("##")[0]
    assert [ln.split("|")[1].strip() for ln in fan.splitlines() if ln.startswith("| ")][2:] == [
        "1",
        "8",
    ]
    space = report.split("## A whole space at the API's own limit")[1].split("## Parquet")[0]
    assert "| listTasks " in space  # requests by operation
    assert "x bound" in space
    export = _row(report, "export_space, fetch excluded")
    assert "-" in export[2]  # the spread, min-max
    assert "peak memory at 2,000" in report and "frame" in report
    assert "cores" in report and "GB memory" in report
    touch = next(ln for ln in report.splitlines() if ln.startswith("- Fresh memory:"))
    assert "ms per MB" in touch, touch  # measured, not "not measured"
    assert str(tmp_path) not in report  # no path of this machine in the report
