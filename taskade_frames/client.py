"""TaskadeClient: ``call()`` for one operation, ``paginate()`` for a whole listing.

The client speaks operations and returns plain dicts; it never builds a
DataFrame. It owns the retry loop (the decision lives in ``_http``), the
shared client-side rate limit, and the one pagination generator that walks
every list operation from the table in ``operations``.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from ._http import RateLimiter, RetryPolicy, Transport, check_base_url, retry_delay
from .errors import (
    BadRequestError,
    ConfigurationError,
    InvalidResponseError,
    NotFoundError,
    PaginationError,
    TaskadeError,
    register_secret,
)
from .operations import Operation, operation

__all__ = [
    "DEFAULT_BASE_URL",
    "Listing",
    "ListingReport",
    "Pager",
    "TaskadeClient",
]

log = logging.getLogger("taskade_frames.client")

DEFAULT_BASE_URL = "https://www.taskade.com/api/v2"
TOKEN_ENV_VARS = ("TASKADE_API_TOKEN", "TASKADE_TOKEN")
URL_ENV_VAR = "TASKADE_API_URL"

_NO_TOKEN = (
    "No Taskade API token. Set TASKADE_API_TOKEN (create a personal token at "
    "https://www.taskade.com/settings/api) or pass token=... . To try everything without "
    "one, run `taskade-frames demo`, or start the bundled emulator in Python: "
    "`with taskade_frames.emulator.Emulator() as emu: "
    "TaskadeClient(emu.token, base_url=emu.base_url)`."
)

# Cursor fallbacks: if the item we page after was deleted between two pages,
# the server answers 404; paging after an earlier item of the same page is
# safe (de-duplication drops the overlap). Bounded so a vanished project ends.
_MAX_CURSOR_FALLBACKS = 5


@dataclass
class ListingReport:
    """How a full listing went: proof that nothing was silently dropped."""

    operation: str
    params: dict[str, Any]
    pages: int = 0
    rows: int = 0
    duplicates_dropped: int = 0
    null_items: int = 0
    page_size: int | None = None
    limit_fallback: bool = False
    cursor_fallbacks: int = 0
    replaced_surrogates: int = 0
    stop_reason: str = "not finished"
    complete: bool = False
    started_at: str = ""
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Listing:
    """Every item of a listing, with its report."""

    items: list[dict[str, Any]]
    report: ListingReport


@dataclass
class _Stats:
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    by_status: Counter = field(default_factory=Counter)


class TaskadeClient:
    """A client for the Taskade Action API v2.

    Args:
        token: API token; default ``TASKADE_API_TOKEN``, then ``TASKADE_TOKEN``.
        base_url: default ``TASKADE_API_URL``, then ``https://www.taskade.com/api/v2``.
        timeout: seconds to wait for an answer (``promptAgent`` may take long).
        page_size: ``limit`` to ask for in paged listings (default: the largest
            the API documents; a server that caps pages silently still yields all).
        rate_limit: requests per second shared by all threads using this client.
        retry: a ``RetryPolicy``; ``sleep``/``jitter`` are injectable for tests.

    Raises:
        ConfigurationError: no token, or a token that would cross the network in clear.

    >>> from taskade_frames.emulator import Emulator
    >>> with Emulator() as emu, TaskadeClient(emu.token, base_url=emu.base_url) as c:
    ...     spaces = c.call("listSpaces")["items"]
    """

    def __init__(
        self,
        token: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float = 60.0,
        page_size: int | None = None,
        rate_limit: float | None = None,
        retry: RetryPolicy | None = None,
        max_pages: int = 100_000,
        allow_insecure_http: bool = False,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ):
        token = token if token is not None else _env_token()
        if not token:
            raise ConfigurationError(_NO_TOKEN)
        if any(c.isspace() for c in token):
            raise ConfigurationError("the API token contains whitespace; check how it was set")
        base_url = base_url or os.environ.get(URL_ENV_VAR) or DEFAULT_BASE_URL
        self.base_url = check_base_url(base_url, allow_insecure_http=allow_insecure_http)
        if page_size is not None and page_size < 1:
            raise ValueError("page_size must be a positive integer")
        self.timeout = timeout
        self.page_size = page_size
        self.retry = retry or RetryPolicy()
        self.max_pages = max_pages
        self.limiter = RateLimiter(rate_limit, sleep=sleep) if rate_limit else None
        self._sleep = sleep
        self._jitter = jitter
        register_secret(token)
        self._transport = Transport(self.base_url, token, timeout=timeout)
        self._limits: dict[str, int] = {}  # per-operation limit learned from a 400
        self._lock = threading.Lock()
        self._stats = _Stats()

    # -- lifecycle ---------------------------------------------------------

    def __repr__(self) -> str:
        return f"TaskadeClient(base_url={self.base_url!r}, token=<hidden>)"

    def __enter__(self) -> TaskadeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._transport.close()

    @property
    def host(self) -> str:
        """The API host, for provenance (never the token)."""
        from urllib.parse import urlsplit

        return urlsplit(self.base_url).netloc

    @property
    def stats(self) -> dict[str, Any]:
        """Requests made, retries, 429s seen, answers by status: for progress and benchmarks."""
        with self._lock:
            s = self._stats
            return {
                "requests": s.requests,
                "retries": s.retries,
                "rate_limited": s.rate_limited,
                "by_status": dict(s.by_status),
            }

    # -- one operation -----------------------------------------------------

    def call(self, operation_name: str, /, **body: Any) -> dict[str, Any]:
        """POST one operation and return its payload (the envelope without ``ok``).

        Raises a ``TaskadeError`` subclass for any failure, ``ok: false`` in a 200 included.

        >>> client.call("getProject", projectId="abc")["item"]["name"]  # doctest: +SKIP
        'Roadmap'
        """
        op = operation(operation_name)
        payload = self.send(op, body)
        payload.pop("ok", None)
        return payload

    def send(self, op: Operation, body: dict[str, Any]) -> dict[str, Any]:
        """Send one operation with retries and the rate limit; return the whole envelope.

        The layer under ``call()`` and the pager: the envelope keeps ``ok``.
        """
        attempt = 0
        while True:
            if self.limiter is not None:
                self.limiter.acquire()
            try:
                payload = self._transport.post(op.name, body)
            except TaskadeError as exc:
                self._count(exc)
                attempt += 1
                delay = retry_delay(
                    exc, write=op.write, attempt=attempt, policy=self.retry, jitter=self._jitter
                )
                if delay is None:
                    raise
                with self._lock:
                    self._stats.retries += 1
                log.info("%s failed (%s); retry %d in %.2fs", op.name, type(exc).__name__,
                         attempt, delay)
                self._sleep(delay)
                continue
            self._count(None)
            return payload

    def _count(self, exc: TaskadeError | None) -> None:
        status = getattr(exc, "status", 200 if exc is None else "transport")
        with self._lock:
            self._stats.requests += 1
            self._stats.by_status[status] += 1
            if status == 429:
                self._stats.rate_limited += 1

    # -- listings ----------------------------------------------------------

    def paginate(self, operation_name: str, /, **body: Any) -> Pager:
        """Walk every page of a list operation; iterate the result for items.

        The returned ``Pager`` fills ``.report`` as it goes. Pages shorter than
        the ``limit`` asked for never end a listing; only an empty page does.

        >>> pager = client.paginate("listTasks", projectId="abc")  # doctest: +SKIP
        >>> tasks = list(pager); pager.report.stop_reason  # doctest: +SKIP
        'empty page'
        """
        op = operation(operation_name)
        if op.paging == "none":
            raise ValueError(f"{op.name} is not a list operation")
        if "before" in body:
            raise ValueError("paginate() walks forward with `after`; use call() for `before`")
        return Pager(self, op, body)

    def fetch_all(self, operation_name: str, /, **body: Any) -> Listing:
        """Every item of a list operation, and the report that proves it complete."""
        pager = self.paginate(operation_name, **body)
        items = list(pager)
        return Listing(items, pager.report)

    def page_limit(self, op: Operation) -> int:
        """The ``limit`` to ask for: learned fallback, else page_size, else the op's maximum."""
        learned = self._limits.get(op.name)
        if learned is not None:
            return learned
        return self.page_size or op.max_limit or op.spec_limit or 100

    def learn_limit(self, op: Operation, limit: int) -> None:
        """Remember a smaller ``limit`` for an operation after the server refused a larger one."""
        with self._lock:
            self._limits[op.name] = limit


def _env_token() -> str | None:
    for name in TOKEN_ENV_VARS:
        value = os.environ.get(name)
        if value and value.strip():
            return value.strip()
    return None


class Pager:
    """One pass over a listing. Iterate for items, or ``pages()`` for lists of items.

    Cursor operations page with ``after`` = the last item's id; page operations
    count ``page`` from 1. Items are de-duplicated by key, ``null`` items are
    skipped and counted, and a server that repeats itself ends in
    ``PaginationError`` within a few requests.
    """

    def __init__(self, client: TaskadeClient, op: Operation, body: dict[str, Any]):
        self.client = client
        self.op = op
        self.body = {k: v for k, v in body.items() if k not in ("limit", "page", "after")}
        self._start_limit = body.get("limit")
        self._start_after = body.get("after")
        self._start_page = body.get("page", 1)
        self.report = ListingReport(operation=op.name, params=dict(self.body))
        self._used = False

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for page in self.pages():
            yield from page

    def pages(self) -> Iterator[list[dict[str, Any]]]:
        """Yield pages (lists of new items) until the listing is complete."""
        if self._used:
            raise RuntimeError("a Pager walks its listing once; call paginate() again")
        self._used = True
        rep = self.report
        rep.started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        started = time.perf_counter()
        try:
            if self.op.paging == "single":
                payload = self.client.send(self.op, self.body)
                rep.pages = 1
                page = self._accept(payload, set())
                rep.rows = len(page)
                rep.stop_reason = "single call"
                rep.complete = True
                yield page
            else:
                yield from self._walk()
        finally:
            rep.seconds = round(time.perf_counter() - started, 6)

    def _walk(self) -> Iterator[list[dict[str, Any]]]:
        op, rep, client = self.op, self.report, self.client
        cursor = op.paging == "cursor"
        limit = int(self._start_limit or client.page_limit(op))
        after: str | None = self._start_after
        page_no = int(self._start_page)
        seen: set[Any] = set()
        used_cursors: set[str] = set()
        fallbacks: list[str] = []
        empty_repeats = 0
        adapted = False
        while True:
            if rep.pages >= client.max_pages:
                raise PaginationError(
                    f"{op.name}: stopped after {rep.pages} pages (max_pages); the listing "
                    "is incomplete", operation=op.name, pages=rep.pages)
            request = dict(self.body, limit=limit)
            if cursor:
                if after is not None:
                    request["after"] = after
            else:
                request["page"] = page_no
            try:
                payload = client.send(op, request)
            except BadRequestError:
                # Some servers refuse a large limit. Fall back to the spec's
                # default once, and remember it for this operation.
                fallback = op.spec_limit
                if rep.pages == 0 and not rep.limit_fallback and fallback and limit > fallback:
                    log.info("%s refused limit=%d; falling back to %d", op.name, limit, fallback)
                    limit = fallback
                    rep.limit_fallback = True
                    client.learn_limit(op, fallback)
                    continue
                raise
            except NotFoundError:
                if cursor and fallbacks and rep.cursor_fallbacks < _MAX_CURSOR_FALLBACKS:
                    after = fallbacks.pop()
                    rep.cursor_fallbacks += 1
                    continue
                raise
            rep.pages += 1
            rep.page_size = limit
            raw = payload.get("items")
            if not isinstance(raw, list):
                raise InvalidResponseError(
                    f"{op.name}: page {rep.pages} has no `items` list",
                    operation=op.name, status=200)
            if not raw:
                rep.stop_reason = "empty page"
                rep.complete = True
                return
            page = self._accept(payload, seen)
            keys = [it[op.key] for it in raw if isinstance(it, dict)]
            if page:
                empty_repeats = 0
                rep.rows += len(page)
                yield page
            else:
                empty_repeats += 1
            if cursor:
                if not keys:
                    raise PaginationError(
                        f"{op.name}: page {rep.pages} holds no item to continue after",
                        operation=op.name, pages=rep.pages)
                nxt = str(keys[-1])
                if nxt in used_cursors or empty_repeats >= 2:
                    raise PaginationError(
                        f"{op.name}: the server repeated the cursor {nxt!r} after "
                        f"{rep.pages} pages; stopping rather than looping",
                        operation=op.name, pages=rep.pages)
                used_cursors.add(nxt)
                fallbacks = [str(k) for k in keys[-1 - _MAX_CURSOR_FALLBACKS:-1]]
                after = nxt
            else:
                if empty_repeats >= 2:
                    raise PaginationError(
                        f"{op.name}: pages {rep.pages - 1} and {rep.pages} only repeated "
                        "items already seen; stopping rather than looping",
                        operation=op.name, pages=rep.pages)
                if not page:
                    # Nothing new: the server answered an earlier page. Moving on
                    # would skip this page's items, so ask for the same page again.
                    continue
                if page_no == int(self._start_page) and len(raw) < limit and not adapted:
                    # A short first page is either the whole listing or a server
                    # cap. Asking the next page with limit = what came back is
                    # right either way: an empty page if that was all, else the
                    # next items, whether the server counts offsets in the limit
                    # asked for or in its own cap.
                    limit = len(raw)
                    adapted = True
                page_no += 1

    def _accept(self, payload: dict[str, Any], seen: set[Any]) -> list[dict[str, Any]]:
        op, rep = self.op, self.report
        raw = payload.get("items")
        if not isinstance(raw, list):
            raise InvalidResponseError(
                f"{op.name}: response has no `items` list", operation=op.name, status=200)
        # Fast path, the common case: every item a dict with a fresh key.
        try:
            keys = [item[op.key] for item in raw]
        except (TypeError, KeyError, IndexError):
            keys = None
        if keys is not None and None not in keys:
            try:
                fresh = seen.isdisjoint(keys) and len(set(keys)) == len(keys)
            except TypeError:  # an unhashable key: let the slow path judge it
                fresh = False
            if fresh and all(type(item) is dict for item in raw):
                seen.update(keys)
                return raw
        page = []
        for item in raw:
            if item is None:
                rep.null_items += 1
                continue
            if not isinstance(item, dict) or item.get(op.key) is None:
                raise InvalidResponseError(
                    f"{op.name}: an item without {op.key!r}: {str(item)[:80]!r}",
                    operation=op.name, status=200)
            key = item[op.key]
            if key in seen:
                rep.duplicates_dropped += 1
                continue
            seen.add(key)
            page.append(item)
        return page
