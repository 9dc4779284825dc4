"""Rules of the codebase that a reviewer would otherwise have to remember.

* No module imports another module's ``_private`` names: what two modules
  share is public in the lower one.
* No function in the package is longer than 60 lines of code, except the data
  builders of the emulator's sample workspace: a long function is a design
  asking to be named.
* ``import taskade_frames`` stays light: no matplotlib, ipywidgets or IPython.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "taskade_frames"
SOURCES = sorted(PACKAGE.rglob("*.py"))
MAX_LINES = 60
# Data builders: long on purpose, each line one sample record.
LONG_ALLOWED = {"emulator/_sample_workspace.py"}


def _rel(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _private_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(_tree(path)):
        if (isinstance(node, ast.ImportFrom) and node.module is not None) or (
            isinstance(node, ast.ImportFrom) and node.level
        ):
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.append(f"from {'.' * node.level}{node.module or ''} import {alias.name}")
        if (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and isinstance(node.value, ast.Name)
            and node.value.id in _module_aliases(path)
        ):
            found.append(f"{node.value.id}.{node.attr}")
    return found


def _module_aliases(path: Path) -> set[str]:
    """Names bound to sibling package modules by ``from . import x`` in this file."""
    names = set()
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.ImportFrom) and node.level and not node.module:
            names.update(a.asname or a.name for a in node.names)
    return names


@pytest.mark.parametrize("path", SOURCES, ids=_rel)
def test_no_module_reaches_into_another_modules_private_names(path):
    # A package's own private submodules (emulator/_server.py importing
    # emulator/_model.py) are one unit: importing a *module* named _x is fine,
    # importing a _name out of another module is not.
    offenders = [imp for imp in _private_imports(path) if not _is_private_module_import(path, imp)]
    assert not offenders, f"{_rel(path)} imports private names: {offenders}"


def _is_private_module_import(path: Path, imp: str) -> bool:
    if not imp.startswith("from "):
        return False
    module, name = imp[5:].split(" import ")
    base = path.parent
    for _ in range(max(module.count(".") - (1 if module.startswith(".") else 0), 0)):
        base = base.parent
    tail = module.lstrip(".").replace(".", "/")
    target = base / tail if tail else base
    return (target / f"{name}.py").is_file() or (target / name).is_dir()


def _long_functions(path: Path) -> list[str]:
    long = []
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(getattr(body[0], "value", None), ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                body = body[1:]  # the docstring is documentation, not code
            if not body:
                continue
            first = body[0].lineno
            last = max(getattr(n, "end_lineno", first) or first for n in body)
            if last - first + 1 > MAX_LINES:
                long.append(f"{node.name} ({last - first + 1} lines, line {node.lineno})")
    return long


@pytest.mark.parametrize("path", [p for p in SOURCES if _rel(p) not in LONG_ALLOWED], ids=_rel)
def test_no_function_is_longer_than_60_lines(path):
    assert not _long_functions(path), f"{_rel(path)}: {_long_functions(path)}"


def test_the_rules_see_what_they_claim_to_see(tmp_path):
    """The checkers themselves: a planted offender is found, so these tests can fail."""
    bad = tmp_path / "bad.py"
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES + 1))
    bad.write_text(f"from .loaders import _require\n\ndef f():\n{body}\n", encoding="utf-8")
    assert _private_imports(bad) == ["from .loaders import _require"]
    assert _long_functions(bad) == [f"f ({MAX_LINES + 1} lines, line 3)"]


def test_importing_the_package_stays_light():
    code = (
        "import sys, taskade_frames\n"
        "heavy = [m for m in ('matplotlib', 'ipywidgets', 'IPython') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""
