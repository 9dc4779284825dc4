"""Ids and the Taskade links that carry them: one parser for every id a user passes.

A user copies a link from the browser (``https://www.taskade.com/d/<id>`` for a
project, ``/spaces/<id>`` for a space, ``/a/<id>`` for an agent...) as often as
a bare id. Every function and CLI option that takes an id accepts both, through
:func:`parse_id`; the picker's link box uses it too.
"""

from __future__ import annotations

import re
from itertools import pairwise
from typing import Any, Literal
from urllib.parse import urlsplit

__all__ = ["Kind", "parse_id", "parse_link"]

Kind = Literal["project", "space", "agent", "folder", "conversation", "media"]

# Path segments that introduce an id, by what the id names. Taskade's web app
# uses /d/ (document) and /p/ for projects, /spaces/ and /s/ for spaces
# (workspaces), /a/ and /agents/ for agents, /folders/ and /f/ for folders.
_SEGMENTS: dict[str, Kind] = {
    "d": "project",
    "p": "project",
    "projects": "project",
    "spaces": "space",
    "s": "space",
    "workspaces": "space",
    "a": "agent",
    "agents": "agent",
    "folders": "folder",
    "f": "folder",
    "conversations": "conversation",
    "media": "media",
}
_ID = re.compile(r"[A-Za-z0-9_-]+")


def parse_link(text: str) -> tuple[Kind | None, str] | None:
    """``(kind, id)`` from a Taskade link or a bare id (kind ``None``); ``None`` if neither.

    The last recognised ``/<segment>/<id>`` of the path wins, so a link to a
    project inside a space (``/spaces/S/d/P``) names the project.

    >>> parse_link("https://www.taskade.com/d/Abc123XyZ?view=list")
    ('project', 'Abc123XyZ')
    >>> parse_link("www.taskade.com/spaces/S1/a/Ag7")
    ('agent', 'Ag7')
    >>> parse_link("  Abc123XyZ ")
    (None, 'Abc123XyZ')
    >>> parse_link("https://www.taskade.com/settings") is None
    True
    """
    text = (text or "").strip()
    if not text:
        return None
    if "/" not in text:
        return None if any(c.isspace() for c in text) else (None, text)
    parts = urlsplit(text if "://" in text else f"https://{text}")
    segments = [s for s in parts.path.split("/") if s]
    found: tuple[Kind | None, str] | None = None
    for head, value in pairwise(segments):
        kind = _SEGMENTS.get(head.lower())
        if kind is not None and _ID.fullmatch(value):
            found = (kind, value)
    return found


def parse_id(value: Any, kind: Kind, *, name: str | None = None) -> str:
    """The id of a ``kind`` in a bare id or a Taskade link; ``ValueError`` otherwise.

    A link to another kind of thing (a project link where a space is wanted)
    is refused, naming what was received.

    >>> parse_id("https://www.taskade.com/d/P1", "project")
    'P1'
    >>> parse_id("https://taskade.com/a/A1", "project")
    Traceback (most recent call last):
    ...
    ValueError: project_id: got a link to an agent ('https://taskade.com/a/A1'), not to a project
    """
    label = name or f"{kind}_id"
    if not isinstance(value, str):
        raise ValueError(
            f"{label} must be a string id or a Taskade link, got "
            f"{type(value).__name__} {_show(value)}"
        )
    parsed = parse_link(value)
    if parsed is None:
        what = "an empty string" if not value.strip() else _show(value)
        raise ValueError(f"{label} must be an id or a Taskade {kind} link, got {what}")
    found, ident = parsed
    if found is not None and found != kind:
        article = "an" if found[0] in "aeiou" else "a"
        raise ValueError(
            f"{label}: got a link to {article} {found} ({_show(value)}), not to a {kind}"
        )
    return ident


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 100 else text[:99] + "…"
