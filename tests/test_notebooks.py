"""The three notebooks run top to bottom with no token, each against an emulator it starts.

Each is executed with nbclient in a fresh ``python3`` kernel of this interpreter, in a
temporary working folder, with every Taskade variable removed from the environment. A
cell that raises fails the test and names the cell. The committed files must stay
stripped: no outputs, no execution counts.
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = ["01_task_completion.ipynb", "02_export_snapshots.ipynb", "03_prompt_agents.ipynb"]
CELL_TIMEOUT = 120
TASKADE_VARS = ("TASKADE_API_TOKEN", "TASKADE_TOKEN", "TASKADE_API_URL", "TASKADE_SPACE_ID")


def test_the_three_notebooks_are_there():
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebooks_are_stripped(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "a notebook without code"
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert "widgets" not in nb.metadata  # no saved widget state (it could hold typed values)


@pytest.fixture
def kernel_env(monkeypatch, tmp_path):
    """No token, no API URL: the notebooks must fall back to their own emulator."""
    for name in TASKADE_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    # Kernel-side warnings go to the notebook's stderr, not into this test's filters.
    monkeypatch.delenv("PYTHONWARNINGS", raising=False)
    return tmp_path


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_without_a_token(name, kernel_env):
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(kernel_env)}},
    )
    started = time.perf_counter()
    try:
        client.execute(env=dict(os.environ))  # the kernel gets the cleaned environment
    except CellExecutionError as exc:
        pytest.fail(f"{name}: a cell failed:\n{exc}")
    seconds = time.perf_counter() - started
    print(f"{name}: {seconds:.1f} s")

    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    errors = [o for o in outputs if o.output_type == "error"]
    assert not errors, errors
    text = nbformat.writes(nb)
    assert "emulator-token" not in text  # the emulator's token is never shown
    assert "Traceback" not in text
    if name == "01_task_completion.ipynb":
        assert " tasks · " in text  # the picker's status line
        assert text.count("image/png") >= 3
    if name == "02_export_snapshots.ipynb":
        assert "completed" in text and text.count("image/png") >= 1
        # A history worth plotting: four snapshots, and the share completed rises.
        trend = re.search(r"share completed: ([\d.]+)% -> ([\d.]+)% over (\d+) snapshots", text)
        assert trend, "notebook 02 prints no completion trend"
        assert float(trend[2]) > float(trend[1]) and int(trend[3]) == 4, trend[0]
    if name == "03_prompt_agents.ipynb":
        assert "[Emulator canned reply]" in text
        assert "Out of credits:" in text


def test_the_kernel_is_this_interpreter():
    """nbclient's ``python3`` kernel must be this venv's Python, or the package is missing."""
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec("python3")
    argv0 = spec.argv[0]
    assert (
        argv0 in ("python", "python3", "{python}")
        or Path(argv0).resolve() == Path(sys.executable).resolve()
    ), spec.argv
