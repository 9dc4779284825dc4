"""Every row of tests/RELIABILITY.md points at tests that exist.

A row whose test was renamed or removed claims a guarantee nothing checks any
more. References are read as the table writes them: `file.py::test`,
`file.py::Class::test`, `::test` for another test of the file named just before
in the same cell, `[id]` for parameters, and `[id]` alone ("same test, `[id]`")
for another case of the test the row above names. A row may say "(none: why)"
instead, for a limit no test can observe.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
TABLE = TESTS / "RELIABILITY.md"
_CELL = re.compile(r"(?<!\\)\|")
_REF = re.compile(
    r"^(?:(?P<file>[\w/]+\.py))?(?P<names>(?:::(?:\w+|\*))*)(?:\[(?P<params>[^\]]*)\])?$"
)


def table_rows(text: str) -> list[tuple[int, str]]:
    """(line number, the Test cell) of every data row of every table."""
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        cells = [c.strip() for c in _CELL.split(line.strip())[1:-1]]
        if len(cells) < 2 or set(cells[-1]) <= set("-: ") or cells[-1] in ("Test", "Tests"):
            continue
        rows.append((number, cells[-1]))
    return rows


def references(rows: list[tuple[int, str]]) -> list[tuple[int, str, str, str]]:
    """(line, file, dotted test name, parameter id or "") for each reference in the rows."""
    out: list[tuple[int, str, str, str]] = []
    last_file, last_names = "", ""
    for number, cell in rows:
        spans = re.findall(r"`([^`]+)`", cell)
        if not spans and cell.startswith("(none"):
            continue  # a limit the row explains, that no test can observe
        assert spans, f"RELIABILITY.md line {number} names no test: {cell!r}"
        for span in spans:
            match = _REF.match(span)
            assert match, f"RELIABILITY.md line {number}: cannot read the reference `{span}`"
            if match["file"]:
                last_file = match["file"]
            if match["names"] and not match["file"] and last_names.count("::") > 1:
                # `::test` after `file::Class::other`: another test of the same class
                last_names = last_names.rsplit("::", 1)[0] + match["names"]
            elif match["names"]:
                last_names = match["names"]
            elif match["file"]:
                raise AssertionError(f"RELIABILITY.md line {number}: `{span}` names no test")
            assert last_file and last_names, f"line {number}: `{span}` follows no test"
            out.append(
                (number, last_file, last_names.strip(":").replace("::", "."), match["params"] or "")
            )
    return out


@cache
def defined_tests(file: str) -> tuple[frozenset[str], str]:
    """The dotted names a test file defines (functions, classes' methods), and its source."""
    source = (TESTS / file).read_text(encoding="utf-8")
    source = re.sub(r"(?<=\d)_(?=\d)", "", source)  # 40_000 is the parameter id 40000
    names: set[str] = set()
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names |= {
                f"{node.name}.{item.name}"
                for item in node.body
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
            }
        elif isinstance(node, ast.Assign):  # a test made by a factory: test_x = make(...)
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return frozenset(names), source


def missing(refs: list[tuple[int, str, str, str]]) -> list[str]:
    """A line per reference that does not point at an existing test (or parameter)."""
    problems = []
    for number, file, name, params in refs:
        where = f"RELIABILITY.md line {number}: {file}::{name.replace('.', '::')}"
        if not (TESTS / file).is_file():
            problems.append(f"{where}: no such file")
            continue
        names, source = defined_tests(file)
        if not _defines(names, name):
            problems.append(f"{where}: no such test")
        elif (
            params
            and params != "*"
            and not all(part in source for part in re.split(r"[-,]", params) if part)
        ):
            problems.append(f"{where}[{params}]: no such parameter in the file")
    return problems


def _defines(names: frozenset[str], name: str) -> bool:
    """``*`` is any test of the file, ``Class.*`` any of the class. ``Class.test`` may
    also be a module test: ``::test`` after ``Class::other`` could mean either."""
    if name == "*":
        return any(n.split(".")[-1].startswith("test") for n in names)
    if name.endswith(".*"):
        return any(n.startswith(name[:-1]) for n in names)
    return name in names or name.rsplit(".", 1)[-1] in names


def test_every_row_of_the_reliability_table_names_tests_that_exist():
    refs = references(table_rows(TABLE.read_text(encoding="utf-8")))

    assert len(refs) > 100
    assert missing(refs) == []


# A parameter id no test has; built, so that this file's own text never holds it.
CASE = "q" + "zx"


def test_a_renamed_test_or_a_row_without_one_is_caught():
    text = "\n".join(
        [
            "| What | Outcome | Test |",
            "| --- | --- | --- |",
            "| a | b | `test_reliability_table.py::test_a_row_that_names_no_test_is_caught`,"
            " `::test_gone` |",
            "| c \\| d | e | same test, `[renamed-case]` |",
            "| f | g | `no_such_file.py::test_x` |",
            "| h | i | `test_reliability_table.py::"
            f"test_a_row_that_names_no_test_is_caught[{CASE}]` |",
        ]
    )
    refs = references(table_rows(text))

    assert [(n, f, t, p) for n, f, t, p in refs][1:] == [
        (3, "test_reliability_table.py", "test_gone", ""),
        (4, "test_reliability_table.py", "test_gone", "renamed-case"),
        (5, "no_such_file.py", "test_x", ""),
        (6, "test_reliability_table.py", "test_a_row_that_names_no_test_is_caught", CASE),
    ]
    assert [p.split(": ", 1)[1] for p in missing(refs)] == [
        "test_reliability_table.py::test_gone: no such test",
        "test_reliability_table.py::test_gone: no such test",
        "no_such_file.py::test_x: no such file",
        f"test_reliability_table.py::test_a_row_that_names_no_test_is_caught[{CASE}]: "
        "no such parameter in the file",
    ]


def test_a_row_that_names_no_test_is_caught():
    rows = table_rows("| What | Outcome | Test |\n| --- | --- | --- |\n| a | b | by hand |")
    with pytest.raises(AssertionError, match="line 3 names no test"):
        references(rows)
