"""Markdown outlines as ``createProject`` accepts them, and the inverse.

The format is the one the client's renderer emits: a ``# Name`` heading, then
one list item per task, two spaces (or one tab) per level, ``- [ ]`` open and
``- [x]`` completed. Inside a task's text (and the name) a newline is written
``\\n``, a carriage return ``\\r`` and a backslash ``\\\\``, so every task stays
on one line; one raw ``\\r`` at the end of a line is a line ending. The parser
is lenient about what people type by hand (``*``/``+`` bullets, no checkbox,
skipped levels); other non-blank lines become root tasks so that no text is lost.
The exact rules are the golden cases in ``tests/golden/outlines.json``, which the
client's renderer and parser must meet too (this code shares nothing with them).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

_ITEM = re.compile(r"([ \t]*)[-*+](?: (.*))?$")
_CHECKBOX = re.compile(r"\[([ xX])\](?: |$)")
_HEADING = re.compile(r"#{1,6}(?:[ \t]+(.*))?")
_ESCAPE = re.compile(r"\\(.)")

UNTITLED = "Untitled"


class OutlineTask(NamedTuple):
    depth: int
    text: str
    completed: bool


def unescape(text: str) -> str:
    """Undo the renderer's escaping: ``\\n`` is a newline, ``\\r`` a carriage
    return, ``\\\\`` a backslash; any other backslash stays as it is."""
    if "\\" not in text:
        return text
    return _ESCAPE.sub(lambda m: _UNESCAPED.get(m.group(1), m.group(0)), text)


_UNESCAPED = {"n": "\n", "r": "\r", "\\": "\\"}


def escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")


def _level(indent: str) -> int:
    spaces = indent.count(" ")
    return indent.count("\t") + spaces // 2


def parse_outline(markdown: str) -> tuple[str, list[OutlineTask]]:
    """Split a Markdown outline into the project name and its tasks in document order.

    Depths never skip a level: an item indented deeper than its predecessor
    allows becomes that predecessor's child.

    >>> parse_outline("# Trip\\n- [ ] Pack\\n  - [x] Socks")
    ('Trip', [OutlineTask(depth=0, text='Pack', completed=False), \
OutlineTask(depth=1, text='Socks', completed=True)])
    """
    name: str | None = None
    tasks: list[OutlineTask] = []
    # Split on "\n" only: str.splitlines() would also break on U+2028 and
    # friends, which are legal inside a task's text. The renderer escapes a
    # "\r" in a text, so a raw one ending a line is a CRLF line ending, even in
    # a document whose line endings are mixed.
    for raw in markdown.split("\n"):
        line = raw.removesuffix("\r")
        if not line.strip():
            continue
        padded = line.strip(" \t")
        heading = _HEADING.fullmatch(padded) if padded.startswith("#") else None
        if name is None and heading is not None and not tasks:
            # Only spaces and tabs pad a heading; other whitespace is part of the name.
            name = unescape((heading.group(1) or "").strip(" \t")) or UNTITLED
            continue
        item = _ITEM.match(line)
        if item is None:
            text = (heading.group(1) or "").strip() if heading is not None else line.strip()
            tasks.append(OutlineTask(0, unescape(text), False))
            continue
        depth = min(_level(item.group(1)), tasks[-1].depth + 1 if tasks else 0)
        text = item.group(2) or ""
        completed = False
        box = _CHECKBOX.match(text)
        if box is not None:
            completed = box.group(1) != " "
            text = text[box.end() :]
        tasks.append(OutlineTask(depth, unescape(text), completed))
    return name or UNTITLED, tasks


def render_outline(name: str, tasks: Iterable[tuple[int, str, bool]]) -> str:
    """The outline text for ``(depth, text, completed)`` rows; inverse of the parser."""
    lines = [f"# {escape(name)}", ""]
    for depth, text, completed in tasks:
        lines.append(f"{'  ' * depth}- [{'x' if completed else ' '}] {escape(text)}")
    return "\n".join(lines) + "\n"
