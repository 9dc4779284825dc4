"""TaskadeClient: ``call()`` for one operation, ``paginate()`` for a whole listing.

The client speaks operations and returns plain dicts; it never builds a
DataFrame. It owns the retry loop (the decision lives in ``_http``), the
shared client-side rate limit, and the one pagination generator that walks
every list operation from the table in ``operations``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from . import paging
from ._http import (
    DEFAULT_MAX_BODY,
    Hooks,
    RateLimiter,
    RetryPolicy,
    Transport,
    check_base_url,
    is_loopback_url,
    proxies_for,
    retry_delay,
)
from .errors import ConfigurationError, TaskadeError
from .operations import Operation, operation
from .paging import Decode, Listing, ListingReport, Pager

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_RATE_LIMIT",
    "Environment",
    "Listing",
    "ListingReport",
    "Pager",
    "TaskadeClient",
    "check_client",
    "default_client",
    "derive_v1_url",
    "read_environment",
    "resolve_client",
    "session_client",
    "use_client",
]

log = logging.getLogger("taskade_frames.client")

DEFAULT_BASE_URL = "https://www.taskade.com/api/v2"
# Requests per second a client for a remote API keeps to unless told otherwise: the
# limit the whole-space benchmark assumes (Taskade publishes none).
DEFAULT_RATE_LIMIT = 20.0
TOKEN_ENV_VARS = ("TASKADE_API_TOKEN", "TASKADE_TOKEN")
URL_ENV_VAR = "TASKADE_API_URL"
V1_URL_ENV_VAR = "TASKADE_API_V1_URL"
CA_ENV_VARS = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")

_NO_TOKEN = (
    "No Taskade API token. Set TASKADE_API_TOKEN (create a personal token at "
    "https://www.taskade.com/settings/api), or build a client with TaskadeClient(token) and "
    "pass it as client=..., or make it the session's default with "
    "taskade_frames.use_client(TaskadeClient(token)). No token? From a shell, "
    "`taskade-frames demo` (or any command with --emulator) runs against the bundled "
    "emulator; in a notebook, `from taskade_frames.emulator import Emulator; "
    "emu = Emulator().start()`, then "
    "`taskade_frames.use_client(TaskadeClient(emu.token, base_url=emu.base_url))` "
    "(the emulator runs until emu.stop())."
)


@dataclass
class _Stats:
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    by_status: Counter = field(default_factory=Counter)


@dataclass(frozen=True, repr=False)
class Environment:
    """What the environment says about the connection: token, base URL, proxies, CA bundle.

    Read by :func:`read_environment`, the one function that looks at ``os.environ``.
    """

    token: str | None = None
    base_url: str | None = None
    proxies: dict[str, str] = field(default_factory=dict)
    ca_bundle: str | None = None
    v1_base_url: str | None = None

    def __repr__(self) -> str:
        token = "<hidden>" if self.token else None
        return f"Environment(token={token}, base_url={self.base_url!r})"


def read_environment() -> Environment:
    """The token, base URL, proxy settings and CA bundle from the environment.

    ``TASKADE_API_TOKEN`` (then ``TASKADE_TOKEN``), ``TASKADE_API_URL``,
    ``TASKADE_API_V1_URL``,
    ``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY``/``NO_PROXY`` and
    ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``/``SSL_CERT_FILE``. ``.netrc`` is
    deliberately not read: its Basic credentials would replace the bearer token.
    """
    env = os.environ
    token = next((env[n].strip() for n in TOKEN_ENV_VARS if env.get(n, "").strip()), None)
    ca_bundle = next((env[n] for n in CA_ENV_VARS if env.get(n)), None)
    return Environment(
        token=token,
        base_url=env.get(URL_ENV_VAR) or None,
        proxies=dict(urllib.request.getproxies_environment()),
        ca_bundle=ca_bundle,
        v1_base_url=env.get(V1_URL_ENV_VAR) or None,
    )


class TaskadeClient:
    """A client for the Taskade Action API v2.

    Args:
        token: API token; default ``TASKADE_API_TOKEN``, then ``TASKADE_TOKEN``.
        base_url: default ``TASKADE_API_URL``, then ``https://www.taskade.com/api/v2``.
        timeout: seconds for a whole request, body included (``promptAgent`` may take long).
        page_size: ``limit`` to ask for in paged listings (default: the largest
            the API documents; a server that caps pages silently still yields all).
        rate_limit: requests per second shared by all threads using this client, or
            None for no limit. The default, ``"auto"``, is ``DEFAULT_RATE_LIMIT``
            (20/s) for a remote API and no limit for a loopback address (the
            emulator has none unless it is given one). Taskade publishes no
            figure; 20/s is the limit the whole-space benchmark was run against,
            where it loads 200 projects in 1.01x the time the limit allows,
            with no 429 (``benchmarks/RESULTS.md``). A client at the server's
            own rate is as fast as one without a limit, and is never refused.
        retry: a ``RetryPolicy``.
        max_pages: pages one listing may take before it is called incomplete.
        max_body: largest answer accepted, in bytes once decoded.
        listing_deadline: seconds one whole listing may take (a project growing faster
            than it is read would never end); None for no limit.
        trust_env: read what is not given (token, base URL, proxies, CA bundle)
            from the environment; ``False`` reads nothing from it.
        transport: send requests through this object instead of HTTP (it needs
            ``post(operation, body) -> envelope``, ``close()``, ``base_url``, ``host``;
            with ``get(path, operation) -> envelope`` it also serves ``get_v1``).
        v1_base_url: where the v1 REST routes live (``get_v1``, task details);
            default ``TASKADE_API_V1_URL``, then the base URL with its ``/api/v2``
            ending replaced by ``/api/v1`` (same host, same token rules).
        read_ahead: in a large listing, send the next page's request as soon as
            a page arrives, and decode the page while the server works on the
            next (see ``Pager``). A guess that misses costs one request and
            turns it off for that listing; ``False`` never sends one ahead.

    Raises:
        ConfigurationError: no token, or a token or URL that cannot be used safely.
        ValueError, TypeError: a setting out of range or of the wrong type.

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
        rate_limit: float | Literal["auto"] | None = "auto",
        retry: RetryPolicy | None = None,
        max_pages: int = 100_000,
        max_body: int = DEFAULT_MAX_BODY,
        listing_deadline: float | None = 3600.0,
        allow_insecure_http: bool = False,
        trust_env: bool = True,
        transport: Any = None,
        v1_base_url: str | None = None,
        read_ahead: bool = True,
        _hooks: Hooks | None = None,
    ):
        _check_settings(
            timeout=timeout,
            page_size=page_size,
            max_pages=max_pages,
            max_body=max_body,
            retry=retry,
        )
        self._hooks = _hooks or Hooks()
        self.timeout = float(timeout)
        self.page_size = page_size
        self.retry = retry or RetryPolicy()
        self.max_pages = max_pages
        self.listing_deadline = listing_deadline
        self.read_ahead = bool(read_ahead)
        v1_transport = None
        if transport is None:
            transport, v1_transport = _http_transports(
                token, base_url, self.timeout, max_body, allow_insecure_http, trust_env, v1_base_url
            )
        elif callable(getattr(transport, "get", None)):
            v1_transport = transport
        self._transport = transport
        self._v1_transport = v1_transport
        self.base_url = transport.base_url
        self.v1_base_url: str | None = getattr(v1_transport, "base_url", None)
        if rate_limit == "auto":
            rate_limit = None if is_loopback_url(self.base_url) else DEFAULT_RATE_LIMIT
        self.limiter = (
            RateLimiter(rate_limit, sleep=self._hooks.sleep) if rate_limit is not None else None
        )
        self._limits: dict[str, int] = {}  # per-operation limit learned from a 400
        self._lock = threading.Lock()
        self._stats = _Stats()
        self._scope = threading.local()  # the cancel event of this thread's job, if any

    @classmethod
    def from_env(cls, **settings: Any) -> TaskadeClient:
        """A client configured from the environment (see :func:`read_environment`);
        ``settings`` are passed on and win over it.

        >>> client = TaskadeClient.from_env(timeout=30)  # doctest: +SKIP
        """
        settings["trust_env"] = True
        return cls(**settings)

    @property
    def listing_deadline(self) -> float | None:
        """Seconds a whole listing may take before it ends in PaginationError (None: no limit).

        A project that grows faster than it is read would otherwise never end.
        """
        return self._listing_deadline

    @listing_deadline.setter
    def listing_deadline(self, seconds: float | None) -> None:
        if seconds is not None:
            _number("listing_deadline", seconds, minimum=0.001, maximum=30 * 24 * 3600.0)
        self._listing_deadline = seconds

    # -- lifecycle ---------------------------------------------------------

    def __repr__(self) -> str:
        return f"TaskadeClient(base_url={self.base_url!r}, token=<hidden>)"

    def __enter__(self) -> TaskadeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._transport.close()
        if self._v1_transport is not None and self._v1_transport is not self._transport:
            self._v1_transport.close()

    @property
    def host(self) -> str:
        """The API host, for provenance (never the token, never credentials)."""
        return self._transport.host

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

        Raises a ``TaskadeError`` subclass for any failure, ``ok: false`` in a 200 included,
        and ``ValueError`` for an operation it cannot send as a JSON POST (uploads,
        downloads, GET and DELETE routes) rather than sending it wrong.

        >>> client.call("getProject", projectId="abc")["item"]["name"]  # doctest: +SKIP
        'Roadmap'
        """
        op = operation(operation_name)
        if op.unsendable:
            raise ValueError(
                f"call() cannot send {op.name}: it is {op.unsendable}, not a JSON POST; "
                "this client does not support it yet"
            )
        payload = self.send(op, body)
        payload.pop("ok", None)
        return payload

    def send(
        self, op: Operation, body: dict[str, Any], decode: Decode | None = None
    ) -> dict[str, Any]:
        """Send one operation with retries and the rate limit; return the whole envelope.

        The layer under ``call()`` and the pager: the envelope keeps ``ok``.
        ``decode`` is offered a 2xx body first (``decoding.PageDecoder``); when
        it returns None, the body is decoded and checked as always.
        """
        if decode:
            return self._retrying(
                op.name, op.write, lambda: self._transport.post(op.name, body, decode=decode)
            )
        return self._retrying(op.name, op.write, lambda: self._transport.post(op.name, body))

    def send_early(self, op: Operation, body: dict[str, Any]) -> EarlyCall | None:
        """Send ``op`` now and take its answer later: ``EarlyCall.result`` returns
        what ``send`` would have, the request already out counting as its first try.

        A pager reads ahead with it (``paging``). None when the transport cannot
        send early (a proxy, an injected transport), or this thread was cancelled.
        """
        post_early = getattr(self._transport, "post_early", None)
        stop: threading.Event | None = getattr(self._scope, "stop", None)
        if post_early is None or (stop is not None and stop.is_set()):
            return None
        if self.limiter is not None:
            self.limiter.acquire()
        sent = post_early(op.name, body)
        return None if sent is None else EarlyCall(self, op, body, sent)

    def _retrying(
        self,
        name: str,
        write: bool,
        once: Callable[[], dict[str, Any]],
        first: Callable[[], dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """``once()`` retried as ``retry_delay`` decides, under the rate limit and this
        thread's cancel scope: the one loop under ``send`` and ``get_v1``. ``first``
        stands for the first try when a request was already sent (``send_early``)."""
        attempt = 0
        stop: threading.Event | None = getattr(self._scope, "stop", None)
        while True:
            if first is None:  # else sent already, under the rate limit and the cancel scope
                if stop is not None and stop.is_set():
                    raise CancelledError(f"{name}: cancelled")
                if self.limiter is not None:
                    self.limiter.acquire()
            try:
                payload = once() if first is None else first()
            except TaskadeError as exc:
                first = None
                self._count(exc)
                attempt += 1
                delay = retry_delay(
                    exc,
                    write=write,
                    attempt=attempt,
                    policy=self.retry,
                    jitter=self._hooks.jitter,
                )
                if delay is None:
                    raise
                with self._lock:
                    self._stats.retries += 1
                log.info(
                    "%s failed (%s); retry %d in %.2fs", name, type(exc).__name__, attempt, delay
                )
                if stop is not None and self._hooks.sleep is time.sleep:
                    stop.wait(delay)  # an interrupt ends the wait at once
                else:
                    self._hooks.sleep(delay)
                continue
            self._count(None)
            return payload

    @contextmanager
    def cancel_scope(self, stop: threading.Event) -> Iterator[None]:
        """Calls made by this thread inside the block stop once ``stop`` is set.

        A retry wait ends at once and no further request is sent: the call
        raises ``concurrent.futures.CancelledError``. ``load_space`` runs each
        job in one, and sets ``stop`` on Ctrl-C.
        """
        before = getattr(self._scope, "stop", None)
        self._scope.stop = stop
        try:
            yield
        finally:
            self._scope.stop = before

    def current_stop(self) -> threading.Event | None:
        """The stop event of this thread's ``cancel_scope``, for work it hands to other threads."""
        return getattr(self._scope, "stop", None)

    def get_v1(self, path: str, operation: str) -> dict[str, Any]:
        """GET one v1 route (``path`` below the v1 base URL, segments already quoted).

        Same token, retries (a GET is a read), rate limit, stats and typed errors
        as ``send``; returns the whole envelope. ``operation`` names it in errors.

        >>> client.get_v1("/projects/P/tasks/T/note", "taskNoteGet")  # doctest: +SKIP
        {'ok': True, 'item': None}
        """
        transport = self._v1_transport
        if transport is None:
            raise ConfigurationError(
                f"cannot derive a v1 URL from {self.base_url!r} (it does not end in /api/v2); "
                f"pass v1_base_url=... or set {V1_URL_ENV_VAR}"
            )
        if not path.startswith("/"):
            raise ValueError("a v1 path starts with '/'")
        return self._retrying(operation, False, lambda: transport.get(path, operation))

    def _count(self, exc: TaskadeError | None) -> None:
        status = getattr(exc, "status", 200 if exc is None else "transport")
        with self._lock:
            self._stats.requests += 1
            self._stats.by_status[status] += 1
            if status == 429:
                self._stats.rate_limited += 1

    def _count_unread(self) -> None:
        """A request sent ahead and dropped unread: sent all the same."""
        with self._lock:
            self._stats.requests += 1
            self._stats.by_status["unread"] += 1

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
        return paging.paginate(
            self, operation(operation_name), body, decode=decode, read_ahead=self.read_ahead
        )

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


_default: dict[tuple[Any, ...], TaskadeClient] = {}


class EarlyCall:
    """A request ``TaskadeClient.send_early`` sent; ``result`` once, or ``discard``."""

    def __init__(self, client: TaskadeClient, op: Operation, body: dict[str, Any], sent: Any):
        self._client, self._op, self._body = client, op, body
        self._sent: Any = sent

    def __repr__(self) -> str:
        return f"EarlyCall({self._op.name!r})"

    def result(self, decode: Decode | None = None) -> dict[str, Any]:
        """The envelope, exactly as ``send(op, body, decode)`` returns it, with its retries."""
        client, op, body, sent = self._client, self._op, self._body, self._sent
        if sent is None:
            raise RuntimeError("this early call was discarded")
        transport = client._transport
        return client._retrying(
            op.name,
            op.write,
            lambda: transport.post(op.name, body, decode=decode),
            first=lambda: sent.finish(decode),
        )

    def discard(self) -> None:
        """The answer is not wanted: close its connection unread (counted as ``unread``)."""
        if self._sent is not None:
            self._sent.discard()
            self._sent = None
            self._client._count_unread()


_default_lock = threading.Lock()
_session: list[TaskadeClient] = []  # the client use_client() set, if any (at most one)


def use_client(client: TaskadeClient | None) -> TaskadeClient | None:
    """Make ``client`` the session's default: every loader, widget, ``%%taskade`` and
    export given no client uses it from now on. ``None`` forgets it.

    A token typed into a widget's password field sets it too, so code run after
    that works without a client argument. Returns ``client``.

    Raises:
        TypeError: ``client`` is not a TaskadeClient (a token string, an Emulator...).

    >>> use_client(TaskadeClient(emu.token, base_url=emu.base_url))  # doctest: +SKIP
    >>> taskade_frames.load_spaces()  # doctest: +SKIP
    """
    if client is not None:
        check_client(client, "use_client")
    with _default_lock:
        _session[:] = [] if client is None else [client]
    return client


def session_client() -> TaskadeClient | None:
    """The client set by :func:`use_client` (or a widget's token field), if any."""
    with _default_lock:
        return _session[0] if _session else None


def default_client() -> TaskadeClient:
    """The client used when none is given: the session's (:func:`use_client`), else
    one built by :meth:`TaskadeClient.from_env`, once per distinct setting (a
    changed token or URL gets a fresh client).

    Raises:
        ConfigurationError: no session client and no token in the environment; the
            message says how to get one, or how to use the emulator instead.
    """
    found = session_client()
    if found is not None:
        return found
    env = read_environment()
    key = (env.token, env.base_url, tuple(sorted(env.proxies.items())), env.ca_bundle)
    with _default_lock:
        client = _default.get(key)
        if client is None:
            client = _default[key] = TaskadeClient.from_env()
        return client


def resolve_client(client: Any = None, where: str = "client") -> TaskadeClient:
    """``client`` checked to be a TaskadeClient, or :func:`default_client` for ``None``.

    Every function that takes a client goes through here, so a mistake such as a
    token string in its place is named at once instead of failing deep inside.
    """
    if client is None:
        return default_client()
    return check_client(client, where)


def check_client(value: Any, where: str = "client") -> TaskadeClient:
    """``value`` if it is a TaskadeClient, else a TypeError saying what was passed and what
    to pass instead (a string is never quoted: it may be the token).

    >>> check_client("a-token-string")
    Traceback (most recent call last):
    ...
    TypeError: client: expected a TaskadeClient, got str: pass the token with TaskadeClient(token)
    """
    if isinstance(value, TaskadeClient):
        return value
    kind = type(value).__name__
    hint = ""
    if isinstance(value, str | bytes):
        hint = ": pass the token with TaskadeClient(token)"
    elif hasattr(value, "token") and hasattr(value, "base_url"):
        hint = ": connect to an emulator with TaskadeClient(emu.token, base_url=emu.base_url)"
    elif isinstance(value, os.PathLike):
        hint = ": is an output folder in the client's place? Check the argument order"
    raise TypeError(f"{where}: expected a TaskadeClient, got {kind}{hint}")


def _http_transports(
    token: str | None,
    base_url: str | None,
    timeout: float,
    max_body: int,
    allow_insecure_http: bool,
    trust_env: bool,
    v1_base_url: str | None,
) -> tuple[Transport, Transport | None]:
    """The HTTP transports for v2 and for v1 (``None`` if no v1 URL can be derived), with
    what is not given taken from the environment if trusted."""
    env = read_environment() if trust_env else Environment()
    token = token if token is not None else env.token
    if not token:
        raise ConfigurationError(_NO_TOKEN)
    url = base_url or env.base_url or DEFAULT_BASE_URL
    v1_url = v1_base_url or env.v1_base_url or derive_v1_url(url)
    out: list[Transport | None] = []
    for where in (url, v1_url):
        if where is None:
            out.append(None)
            continue
        proxies = proxies_for(
            check_base_url(where, allow_insecure_http=allow_insecure_http), env.proxies
        )
        out.append(
            Transport(
                where,
                token,
                timeout=timeout,
                max_body=max_body,
                proxies=proxies,
                verify=env.ca_bundle or True,
                allow_insecure_http=allow_insecure_http,
            )
        )
    assert out[0] is not None
    return out[0], out[1]


def derive_v1_url(base_url: str) -> str | None:
    """The v1 base URL on the same host as a v2 one, or ``None`` if it has no ``/api/v2``.

    >>> derive_v1_url("https://www.taskade.com/api/v2")
    'https://www.taskade.com/api/v1'
    """
    head, sep, tail = base_url.rstrip("/").rpartition("/api/v2")
    if not sep or tail:
        return None
    return f"{head}/api/v1"


def _check_settings(
    *, timeout: Any, page_size: Any, max_pages: Any, max_body: Any, retry: Any
) -> None:
    """Refuse settings that would misbehave later (a zero timeout, a string, infinity)."""
    _number("timeout", timeout, minimum=0.001, maximum=24 * 3600.0)
    if page_size is not None:
        _number("page_size", page_size, minimum=1, maximum=1_000_000, whole=True)
    _number("max_pages", max_pages, minimum=1, maximum=10**9, whole=True)
    _number("max_body", max_body, minimum=1024, maximum=2**40, whole=True)
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise TypeError(f"retry must be a RetryPolicy, not {type(retry).__name__}")


def _number(name: str, value: Any, *, minimum: float, maximum: float, whole: bool = False):
    kinds = (int,) if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        kind = "a whole number" if whole else "a number"
        raise TypeError(f"{name} must be {kind}, not {type(value).__name__} {value!r}")
    if not minimum <= value <= maximum:
        raise ValueError(f"{name} must be between {minimum:g} and {maximum:g}, not {value!r}")
