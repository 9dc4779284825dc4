"""Misbehaviour on demand: one-shot and persistent faults, and the rate limiter.

Transport faults (``status``, ``html``, ``ok_false``, ``truncated``,
``reset``, ``delay``) change what goes over the wire; page faults
(``repeat_page``, ``duplicate``, ``null_items``, ``extra_fields``,
``nested_ids``, ``pretty``) change the items of a list response or how it is
written; workspace faults (``move``, ``grow``) change the
workspace just before a list request is answered, as another user would
between two pages. ``status``, ``html`` and ``ok_false`` answer
*instead of* the operation (a write does not happen); ``truncated`` and
``reset`` answer *after* it (a write did happen, the reply was lost), which
is what makes retrying writes dangerous. ``delay`` waits, then runs the
operation and answers late (a client that gave up may find its write done),
unless the emulator was reset meanwhile: then the request is refused with a
503, so that it cannot act in the next test.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

TRANSPORT_KINDS = frozenset({"status", "html", "ok_false", "truncated", "reset", "delay"})
PAGE_KINDS = frozenset(
    {"repeat_page", "duplicate", "null_items", "extra_fields", "nested_ids", "pretty"}
)
# Page faults that reshape the items themselves, so they apply to unpaged listings too.
RESHAPING_KINDS = frozenset({"null_items", "extra_fields", "nested_ids", "pretty"})
WORKSPACE_KINDS = frozenset({"move", "grow"})
KINDS = TRANSPORT_KINDS | PAGE_KINDS | WORKSPACE_KINDS


@dataclass
class Fault:
    """One queued fault: applies to the next ``count`` matching requests."""

    kind: str
    count: int = 1
    operation: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def matches(self, operation: str) -> bool:
        return self.operation is None or self.operation == operation


class Faults:
    """The fault queue of one emulator (thread-safe).

    >>> faults = Faults()
    >>> faults.push("status", status=503, retry_after="1")
    >>> faults.push("truncated", operation="listTasks")
    >>> faults.always("extra_fields", operation="listProjects")
    >>> faults.push("move", operation="listTasks", skip=1, task_id="t9", parent_id="t0")
    >>> faults.push("grow", count=1000, operation="listTasks", n=20)
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[Fault] = []
        self._always: list[tuple[str, str | None]] = []

    def push(self, kind: str, count: int = 1, operation: str | None = None, **params: Any) -> None:
        """Queue ``kind`` for the next ``count`` requests of ``operation`` (``None``: any).

        Page kinds wait for a list request that passed validation; transport
        kinds take the next request whatever it is. Workspace kinds also wait
        for a valid list request, after letting ``skip`` of them pass: ``move``
        gives ``task_id`` (with its subtree) the parent ``parent_id`` (``None``:
        a root); ``grow`` adds ``n`` tasks (``listTasks``) or members
        (``listProjectMembers``) at the end of the listed project. Either may
        be held to the requests for one ``project``.

        Raises:
            ValueError: unknown kind or a count below 1.
        """
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {sorted(KINDS)}")
        if count < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            self._queue.append(Fault(kind, count, operation, params))

    def always(self, kind: str, operation: str | None = None) -> None:
        """Apply a page fault to every list response of ``operation`` (``None``: all)."""
        if kind not in PAGE_KINDS:
            raise ValueError(f"only page faults can be persistent: {sorted(PAGE_KINDS)}")
        with self._lock:
            self._always.append((kind, operation))

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
            self._always.clear()

    def pending(self) -> list[Fault]:
        """A snapshot of the queue (for assertions and debugging)."""
        with self._lock:
            return [Fault(f.kind, f.count, f.operation, dict(f.params)) for f in self._queue]

    def __len__(self) -> int:
        with self._lock:
            return len(self._queue)

    def take_transport(self, operation: str) -> Fault | None:
        """Consume one use of the first queued transport fault matching ``operation``."""
        return self._take(lambda f: f.kind in TRANSPORT_KINDS and f.matches(operation))

    def take_workspace(self, operation: str, project_id: Any = None) -> list[Fault]:
        """Consume the workspace faults due before answering one list request.

        A fault given ``project`` waits for (and skips) requests listing that
        project only, so that no other request can take its turn.
        """
        due: list[Fault] = []
        with self._lock:
            for fault in list(self._queue):
                if fault.kind not in WORKSPACE_KINDS or not fault.matches(operation):
                    continue
                if fault.params.get("project", project_id) != project_id:
                    continue
                if fault.params.get("skip", 0) > 0:
                    fault.params["skip"] -= 1
                    continue
                due.append(Fault(fault.kind, 1, fault.operation, dict(fault.params)))
                fault.count -= 1
                if fault.count == 0:
                    self._queue.remove(fault)
        return due

    def take_page(self, operation: str, paged: bool) -> set[str]:
        """Consume the page faults for one list response; returns their kinds.

        ``repeat_page`` and ``duplicate`` only make sense where there are pages.
        """

        def usable(f: Fault) -> bool:
            return (
                f.kind in PAGE_KINDS
                and f.matches(operation)
                and (paged or f.kind in RESHAPING_KINDS)
            )

        kinds: set[str] = set()
        while (fault := self._take(lambda f: usable(f) and f.kind not in kinds)) is not None:
            kinds.add(fault.kind)
        with self._lock:
            for kind, op in self._always:
                if (op is None or op == operation) and (paged or kind in RESHAPING_KINDS):
                    kinds.add(kind)
        return kinds

    def _take(self, predicate: Callable[[Fault], bool]) -> Fault | None:
        with self._lock:
            for i, fault in enumerate(self._queue):
                if predicate(fault):
                    fault.count -= 1
                    if fault.count == 0:
                        del self._queue[i]
                    return fault
        return None


class TokenBucket:
    """``n`` requests per ``per`` seconds, with bursts up to ``n``."""

    def __init__(self, n: int, per: float, clock: Callable[[], float] = time.monotonic) -> None:
        if n < 1 or per <= 0:
            raise ValueError("rate limit needs n >= 1 and per > 0")
        self.n, self.per = n, per
        self._rate = n / per
        self._clock = clock
        self._tokens = float(n)
        self._stamp = clock()
        self._lock = threading.Lock()

    def acquire(self) -> int | None:
        """Take a token; ``None`` if allowed, else the whole seconds to wait (>= 1)."""
        with self._lock:
            now = self._clock()
            self._tokens = min(float(self.n), self._tokens + (now - self._stamp) * self._rate)
            self._stamp = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return None
            return max(1, math.ceil((1.0 - self._tokens) / self._rate))
