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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import paging
from ._http import RateLimiter, RetryPolicy, Transport, check_base_url, retry_delay
from .errors import ConfigurationError, TaskadeError, register_secret
from .operations import Operation, operation
from .paging import Decode, Listing, ListingReport, Pager

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

    # Seconds a whole listing may take before it ends in PaginationError: a
    # project that grows faster than it is read would otherwise never end.
    listing_deadline: float | None = 3600.0

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

    def send(self, op: Operation, body: dict[str, Any], decode: Decode | None = None
             ) -> dict[str, Any]:
        """Send one operation with retries and the rate limit; return the whole envelope.

        The layer under ``call()`` and the pager: the envelope keeps ``ok``.
        ``decode`` is offered a 2xx body first (``decoding.PageDecoder``); when
        it returns None, the body is decoded and checked as always.
        """
        attempt = 0
        while True:
            if self.limiter is not None:
                self.limiter.acquire()
            try:
                payload = (self._transport.post(op.name, body, decode=decode) if decode
                           else self._transport.post(op.name, body))
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

    def paginate(
        self, operation_name: str, /, *, decode: Decode | None = None, **body: Any
    ) -> Pager:
        """Walk every page of a list operation; iterate the result for items.

        The returned ``Pager`` fills ``.report`` as it goes. Pages shorter than
        the ``limit`` asked for never end a listing; only an empty page does.

        >>> pager = client.paginate("listTasks", projectId="abc")  # doctest: +SKIP
        >>> tasks = list(pager); pager.report.stop_reason  # doctest: +SKIP
        'empty page'

        ``decode`` (a ``decoding.PageDecoder``) turns clean pages straight into
        columns; the pager then yields ``TypedPage`` objects for them.
        """
        return paging.paginate(self, operation(operation_name), body, decode=decode)

    def fetch_all(self, operation_name: str, /, **body: Any) -> Listing:
        """Every item of a list operation, and the report that proves it complete.

        A listing that moved under its cursor while it was read is read again
        (at most ``paging.MAX_RELISTS`` times); see ``paging.Pager``.
        """
        return paging.fetch_all(self, operation(operation_name), body)

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
