"""Agent conversations as data: every prompt sent this session, in one frame.

``prompt_agent``, the ``%%taskade`` cell magic and the ``AgentPrompt`` widget all
send through :func:`track`, which times the call and appends one row to the
session's history, failures included. :func:`prompt_history` returns that
history as a typed frame (time, space, agent, prompt, reply, latency, error);
:func:`persist_prompt_history` also appends every later exchange to a parquet
file, so a notebook's conversations outlive its kernel.

Each exchange comes back as a :class:`PromptReply`: the reply text itself (a
``str``), carrying when it was sent, to which space and agent, and how long it
took. The history holds what was typed and what came back, never the token
(error texts come from the package's errors, which redact it).
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from ._notebook import describe_error
from .schemas import dtypes

__all__ = [
    "HISTORY_COLUMNS",
    "PromptReply",
    "clear_prompt_history",
    "persist_prompt_history",
    "prompt_history",
    "session_replies",
    "to_frame",
    "track",
]

#: The columns of a prompt history frame, in order, with their dtypes (declared in the
#: entity table as ``prompt_history``).
HISTORY_COLUMNS: dict[str, Any] = dtypes("prompt_history")


class PromptReply(str):
    """An agent's reply: the text itself, plus when, where and how long.

    It is a ``str``, so it prints, compares and formats as the reply text. A
    failed exchange (only from ``prompt_agent(..., on_error="return")`` and the
    widget) is the empty string with ``error`` set.

    Attributes:
        time: when the prompt was sent (UTC).
        space_id, agent_id: where it went; ``space`` and ``agent`` their names when known.
        prompt: the text sent.
        latency_s: seconds from send to reply (or failure).
        error: ``None``, or one line saying why it failed.

    >>> r = PromptReply("Ship it.", prompt="Ship?", space_id="s1", agent_id="a1")
    >>> r.upper(), r.ok, r.agent_id
    ('SHIP IT.', True, 'a1')
    """

    time: datetime
    space_id: str
    space: str | None
    agent_id: str
    agent: str | None
    prompt: str
    latency_s: float
    error: str | None

    def __new__(
        cls,
        text: str,
        *,
        prompt: str,
        space_id: str,
        agent_id: str,
        space: str | None = None,
        agent: str | None = None,
        time: datetime | None = None,
        latency_s: float = 0.0,
        error: str | None = None,
    ) -> PromptReply:
        self = super().__new__(cls, text)
        self.time = time or datetime.now(UTC)
        self.space_id, self.space = space_id, space
        self.agent_id, self.agent = agent_id, agent
        self.prompt = prompt
        self.latency_s = latency_s
        self.error = error
        return self

    @property
    def ok(self) -> bool:
        """True when the agent replied."""
        return self.error is None

    @property
    def text(self) -> str:
        """The reply as a plain ``str`` (empty for a failed exchange)."""
        return str.__str__(self)

    @property
    def reply(self) -> str | None:
        """The reply text, or ``None`` for a failed exchange (as in the history frame)."""
        return self.text if self.ok else None

    def record(self) -> dict[str, Any]:
        """The exchange as one history row (``HISTORY_COLUMNS``)."""
        return {
            "time": self.time,
            "space": self.space,
            "space_id": self.space_id,
            "agent": self.agent,
            "agent_id": self.agent_id,
            "prompt": self.prompt,
            "reply": self.reply,
            "latency_s": round(self.latency_s, 3),
            "error": self.error,
        }

    def __reduce__(self) -> Any:
        # A str subclass with attributes would pickle (and copy) as its text only.
        return (_rebuild, (self.text, self.record()))


def _rebuild(text: str, record: dict[str, Any]) -> PromptReply:
    fields = {k: v for k, v in record.items() if k != "reply"}
    return PromptReply(text, **fields)


def to_frame(replies: list[PromptReply]) -> pd.DataFrame:
    """A history frame with one row per reply, typed by ``HISTORY_COLUMNS``."""
    rows = [r.record() for r in replies]
    data = {name: [row[name] for row in rows] for name in HISTORY_COLUMNS}
    return pd.DataFrame(data).astype(HISTORY_COLUMNS)


class _History:
    """The session's exchanges, in send order; safe to append from worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._replies: list[PromptReply] = []
        self._path: Path | None = None

    def add(self, reply: PromptReply) -> None:
        with self._lock:
            self._replies.append(reply)
            path = self._path
            if path is not None:
                try:
                    _append(path, [reply])
                except OSError as exc:
                    # The exchange already spent credits and is kept in memory: say so,
                    # do not turn a good reply into a failure.
                    warnings.warn(
                        f"prompt history not saved to {path}: {exc}", RuntimeWarning, stacklevel=4
                    )

    def replies(self) -> list[PromptReply]:
        with self._lock:
            return list(self._replies)

    def persist_to(self, path: Path | None) -> None:
        with self._lock:
            if path is not None:
                _append(path, self._replies)  # fail now, not at the next prompt
            self._path = path

    def clear(self) -> None:
        with self._lock:
            self._replies.clear()


_SESSION = _History()


def track(
    send: Callable[[], str],
    *,
    space_id: str,
    agent_id: str,
    prompt: str,
    space: str | None = None,
    agent: str | None = None,
    raise_errors: bool = True,
) -> PromptReply:
    """Run ``send`` (one prompt to an agent), time it, and add it to the session history.

    A failure is recorded too, then raised; with ``raise_errors=False`` it comes
    back as a failed :class:`PromptReply` (empty text, ``error`` set) instead, which
    is what a widget that must never raise wants.
    """
    when = datetime.now(UTC)
    started = time.perf_counter()
    text, error = "", None
    failure: Exception | None = None
    try:
        text = send()
    except Exception as exc:
        error, failure = describe_error(exc), exc
    reply = PromptReply(
        text,
        prompt=prompt,
        space_id=space_id,
        agent_id=agent_id,
        space=space,
        agent=agent,
        time=when,
        latency_s=time.perf_counter() - started,
        error=error,
    )
    _SESSION.add(reply)
    if failure is not None and raise_errors:
        raise failure
    return reply


def prompt_history(path: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """Every prompt sent this session, or the ones saved in a parquet file.

    One row per exchange, in send order, failures included: ``time`` (UTC),
    ``space`` / ``space_id``, ``agent`` / ``agent_id`` (names when the sender knew
    them), ``prompt``, ``reply`` (NA when it failed), ``latency_s`` and ``error``
    (one line, NA when it succeeded).

    Args:
        path: read this file (written by :func:`persist_prompt_history`, possibly by
            earlier sessions) instead of this session's memory.

    Raises:
        FileNotFoundError: ``path`` does not exist.

    >>> import taskade_frames as tf
    >>> tf.prompt_agent(space_id, agent_id, "What is overdue?", client)  # doctest: +SKIP
    >>> tf.prompt_history()[["agent_id", "prompt", "latency_s"]]  # doctest: +SKIP
    """
    if path is None:
        return to_frame(_SESSION.replies())
    return _read(Path(path))


def persist_prompt_history(path: str | os.PathLike[str] | None) -> None:
    """Also keep every exchange of this session in the parquet file ``path``.

    The exchanges so far are written at once, and each later one is appended as
    it happens (the file is rewritten atomically, so a crash never leaves it
    half-written). Rows already in the file, from earlier sessions, are kept.
    ``None`` stops writing. Read it back with ``prompt_history(path)``.

    Raises:
        OSError: the file cannot be written (raised now, not at the next prompt).
    """
    _SESSION.persist_to(None if path is None else Path(path))


def session_replies() -> list[PromptReply]:
    """This session's exchanges as replies, in send order (``prompt_history()`` as objects)."""
    return _SESSION.replies()


def clear_prompt_history() -> None:
    """Forget this session's exchanges (a persisted file is left as it is)."""
    _SESSION.clear()


def _read(path: Path) -> pd.DataFrame:
    frame = pd.read_parquet(path)
    missing = [c for c in HISTORY_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path} is not a prompt history: no column {', '.join(missing)}")
    return frame[list(HISTORY_COLUMNS)].astype(HISTORY_COLUMNS).reset_index(drop=True)


def _append(path: Path, replies: list[PromptReply]) -> None:
    frame = to_frame(replies)
    if path.exists():
        frame = pd.concat([_read(path), frame], ignore_index=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
