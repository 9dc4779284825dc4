"""The linters, the formatter and the type checker, run as tests.

They are configured in ``pyproject.toml``; running them here means the
README's one test command (and so CI) fails when any of them fails, instead
of relying on someone remembering to run them.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TREES = ["taskade_frames", "tests", "benchmarks"]

pytestmark = pytest.mark.checks


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


def _require(module: str) -> None:
    if (
        shutil.which(module) is None
        and subprocess.run(
            [sys.executable, "-c", f"import {module}"], capture_output=True
        ).returncode
    ):
        pytest.fail(f"{module} is not installed: install the test extra, pip install -e '.[test]'")


def test_ruff_finds_nothing():
    _require("ruff")
    done = _run("ruff", "check", *TREES)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_code_is_formatted():
    _require("ruff")
    done = _run("ruff", "format", "--check", *TREES)
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_finds_nothing_in_the_package():
    _require("mypy")
    done = _run("mypy")
    assert done.returncode == 0, done.stdout + done.stderr
