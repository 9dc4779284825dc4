"""HTTP for the v2 API: one keep-alive session, the retry decision, body decoding.

This is the only module that imports ``requests``. It turns every outcome of
a request into either the decoded JSON envelope or a typed ``TaskadeError``
(the class comes from the HTTP status, whatever the body looks like), and
decides, in one function, whether and how long to wait before trying again.
Each request has one deadline for the whole exchange and a cap on the decoded
body. The token lives in the session's headers and nowhere else.
"""

from __future__ import annotations

import contextlib
import email.utils
import heapq
import http.client
import ipaddress
import itertools
import json
import logging
import random
import re
import socket
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any
from urllib.parse import urlsplit

import requests
import requests.adapters
import urllib3
import urllib3.connection
import urllib3.connectionpool
import urllib3.exceptions

from .errors import (
    APIError,
    ConfigurationError,
    InvalidResponseError,
    RateLimitError,
    ReadTimeoutError,
    ResponseTooLargeError,
    ServerError,
    TaskadeError,
    TransportError,
    error_for_status,
    redact,
    register_secret,
)

__all__ = [
    "DEFAULT_MAX_BODY",
    "Hooks",
    "RateLimiter",
    "RetryPolicy",
    "Transport",
    "check_base_url",
    "check_token",
    "is_loopback_url",
    "parse_retry_after",
    "proxies_for",
    "retry_delay",
]

log = logging.getLogger("taskade_frames.http")

# Codes the API puts in an ``ok: false`` envelope, for the rare ``ok: false``
# that arrives with HTTP 200: the class should still say what went wrong.
_STATUS_BY_CODE = {
    "bad_request": 400,
    "invalid_request": 400,
    "validation_error": 400,
    "unauthorized": 401,
    "unauthenticated": 401,
    "payment_required": 402,
    "out_of_credits": 402,
    "insufficient_credits": 402,
    "forbidden": 403,
    "not_found": 404,
    "rate_limited": 429,
    "too_many_requests": 429,
}


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP-date.

    ``0`` is valid and means "now"; dates in the past also give 0. Garbage gives None.

    >>> parse_retry_after("3")
    3.0
    >>> parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", now=10.0)
    0.0
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        current = time.time() if now is None else now
        return max(0.0, when.timestamp() - current)
    if seconds != seconds or seconds < 0:  # NaN or negative: not a wait we can honour
        return None
    return seconds


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. The defaults follow the v2 reference's error table.

    ``max_retries`` bounds 5xx and transport retries (the reference: "up to 3");
    ``max_rate_limit_retries`` bounds 429s; a ``Retry-After`` longer than
    ``max_retry_after`` seconds is raised at once instead of slept through.
    """

    max_retries: int = 3
    max_rate_limit_retries: int = 8
    max_retry_after: float = 60.0
    backoff: float = 0.5
    max_backoff: float = 8.0

    def __post_init__(self) -> None:
        for name in ("max_retries", "max_rate_limit_retries"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"RetryPolicy.{name} must be a whole number >= 0, not {value!r}")
        for name in ("max_retry_after", "backoff", "max_backoff"):
            value = getattr(self, name)
            if (
                not isinstance(value, int | float)
                or isinstance(value, bool)
                or not 0 <= value < float("inf")
            ):
                raise ValueError(f"RetryPolicy.{name} must be a finite number >= 0, not {value!r}")


def retry_delay(
    error: TaskadeError,
    *,
    write: bool,
    attempt: int,
    policy: RetryPolicy,
    jitter: Callable[[], float] = random.random,
) -> float | None:
    """Seconds to wait before trying again, or None to raise ``error`` now.

    ``attempt`` counts the tries already made (1 after the first failure).
    """
    backoff = min(policy.max_backoff, policy.backoff * 2 ** (attempt - 1))
    # Equal jitter: never less than half the backoff, so a burst of clients
    # spreads out without any of them hammering straight away.
    backoff *= 0.5 + jitter() / 2

    if isinstance(error, RateLimitError):
        # 429 means the request was refused, not processed: safe to repeat even
        # for writes. The server's wait wins over ours; an absurd one is raised.
        if attempt > policy.max_rate_limit_retries:
            return None
        if error.retry_after is None:
            return backoff
        return error.retry_after if error.retry_after <= policy.max_retry_after else None

    if isinstance(error, TransportError) and not error.sent:
        # Refused before anything left this machine: nothing can have happened.
        return backoff if attempt <= policy.max_retries else None

    if write:
        # Past this point the server may have acted (a 5xx after promptAgent
        # can still have spent credits), so a write is never repeated.
        return None

    if isinstance(error, TransportError | ServerError):
        return backoff if attempt <= policy.max_retries else None
    if isinstance(error, ResponseTooLargeError):
        return None  # the same answer would come again, just as large
    if isinstance(error, InvalidResponseError) and 200 <= error.status < 300:
        # A body cut short or garbled on the way: transient for a read.
        return backoff if attempt <= policy.max_retries else None
    # 400, 401, 402, 403, 404 and ok:false: repeating cannot help.
    return None


MIN_RATE = 1 / 60
MAX_RATE = 100_000.0


class RateLimiter:
    """A token bucket shared by every thread that uses one client.

    Fan-out over many projects would otherwise provoke a storm of 429s; with
    the bucket the client paces itself. ``rate`` is requests per second. The
    default burst is small, so a client set to the server's own limit never
    arrives faster than the server's bucket refills.
    """

    def __init__(self, rate: float, burst: int | None = None, *, clock=time.monotonic, sleep=None):
        if not isinstance(rate, int | float) or isinstance(rate, bool):
            raise TypeError(f"rate_limit must be a number of requests per second, not {rate!r}")
        if not MIN_RATE <= rate <= MAX_RATE:
            raise ValueError(
                f"rate_limit must be between {MIN_RATE:g} (one request a minute) and "
                f"{MAX_RATE:g} requests per second, not {rate!r}"
            )
        self.rate = float(rate)
        self.burst = float(burst if burst is not None else max(1, int(rate) // 10))
        self._tokens = self.burst
        self._clock = clock
        self._sleep = sleep or time.sleep
        self._last = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, sleeping until one is free; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= 1.0
            wait = 0.0 if self._tokens >= 0 else -self._tokens / self.rate
        if wait:
            self._sleep(wait)
        return wait

    def __repr__(self) -> str:
        return f"RateLimiter(rate={self.rate:g}/s, burst={self.burst:g})"


@dataclass(frozen=True)
class Hooks:
    """Where the client sleeps and draws jitter: tests pass recorders, nobody else does."""

    sleep: Callable[[float], None] = time.sleep
    jitter: Callable[[], float] = random.random


# -- the base URL and the token ------------------------------------------------------------

# What an authority may look like: a DNS name or IPv4 address, or a bracketed
# IPv6 literal, and an optional port. Anything else (userinfo, backslashes,
# percent signs, spaces) is read differently by different URL parsers, and the
# plain-http check must judge the host the HTTP layer will really connect to.
_AUTHORITY = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?"
)


def is_loopback_url(url: str) -> bool:
    """True when ``url`` names this machine (the emulator), by name or address.

    >>> is_loopback_url("http://127.0.0.1:8765/api/v2"), is_loopback_url("https://taskade.com")
    (True, False)
    """
    return _is_loopback(urlsplit(url).hostname or "")


def _is_loopback(host: str) -> bool:
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_base_url(base_url: str, *, allow_insecure_http: bool = False) -> str:
    """Validate a base URL; refuse to send a token in clear text off this machine.

    Credentials and ambiguous authorities are refused without quoting the URL,
    since it may hold a password.

    >>> check_base_url("http://127.0.0.1:8765/api/v2/")
    'http://127.0.0.1:8765/api/v2'
    """
    if not isinstance(base_url, str):
        raise TypeError(f"base_url must be a string, not {type(base_url).__name__}")
    if not base_url.isascii() or not base_url.isprintable() or any(c in base_url for c in " \\\t"):
        raise ConfigurationError(
            "the base URL holds spaces, backslashes or characters that are not printable "
            "ASCII; write it as https://host/api/v2 (not shown, it may hold a secret)"
        )
    scheme, sep, rest = base_url.partition("://")
    authority = rest.split("/", 1)[0]
    if "@" in authority:
        raise ConfigurationError(
            "the base URL holds credentials (user:password@); they are not used, the API "
            "token authenticates. Remove them (the URL is not shown, it holds a secret)"
        )
    if (
        scheme.lower() not in ("http", "https")
        or not sep
        or not _AUTHORITY.fullmatch(authority)
        or "?" in base_url
        or "#" in base_url
    ):
        raise ConfigurationError(
            "the base URL must look like https://host[:port]/path, with no credentials, "
            f"query or fragment; got scheme {scheme[:10]!r} and host {authority[:60]!r}"
        )
    try:
        parts = urlsplit(base_url)
        host, port = parts.hostname or "", parts.port
    except ValueError:
        raise ConfigurationError(
            f"the base URL has a bad host or port: {authority[:60]!r}"
        ) from None
    if port == 0:
        raise ConfigurationError(f"the base URL has port 0: {authority!r}")
    if scheme.lower() == "http" and not _is_loopback(host) and not allow_insecure_http:
        raise ConfigurationError(
            f"refusing to send the API token over plain http to {host!r}: use https, "
            "or a loopback address such as the local emulator"
        )
    return base_url.rstrip("/")


def check_token(token: str) -> str:
    """Refuse a token HTTP cannot carry: invisible or non-ASCII characters, spaces.

    A token pasted with a zero-width space would otherwise fail on every call
    with an encoding error that holds the whole token. The error never quotes it.
    """
    if not isinstance(token, str):
        raise TypeError(f"the API token must be a string, not {type(token).__name__}")
    if "://" in token or token.lower().startswith(("http:", "https:", "www.")):
        # TaskadeClient(emu.base_url) reads the URL as the token and would send it as one.
        raise ConfigurationError(
            "the API token looks like a URL (not shown): the first argument of "
            "TaskadeClient is the token; pass the address as base_url=..., e.g. "
            "TaskadeClient(emu.token, base_url=emu.base_url)"
        )
    if not all(33 <= ord(c) <= 126 for c in token):
        raise ConfigurationError(
            "the API token contains spaces, invisible or non-ASCII characters (a zero-width "
            "space or a byte-order mark pasted with it?); check how it was set (not shown)"
        )
    return token


def proxies_for(url: str, environment: Mapping[str, str]) -> dict[str, str]:
    """The proxy for ``url`` from proxy settings read from the environment.

    ``environment`` maps a scheme (``http``, ``https``, ``all``) to a proxy URL and
    ``no`` to a NO_PROXY list (host suffixes, ``host:port``, CIDR ranges, ``*``).

    >>> proxies_for("https://api.example.com/v2", {"https": "http://proxy:3128"})
    {'https': 'http://proxy:3128'}
    >>> proxies_for("https://api.example.com/v2", {"https": "http://p:1", "no": ".example.com"})
    {}
    """
    parts = urlsplit(url)
    proxy = environment.get(parts.scheme) or environment.get("all")
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    if not proxy or _bypasses_proxy(parts.hostname or "", port, environment.get("no", "")):
        return {}
    return {parts.scheme: proxy}


def _bypasses_proxy(host: str, port: int | None, no_proxy: str) -> bool:
    host = host.lower().rstrip(".")
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        if not entry:
            continue
        if entry == "*":
            return True
        if "/" in entry:
            try:
                if ipaddress.ip_address(host) in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                pass
            continue
        name, _, entry_port = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
        if entry_port and str(port) != entry_port:
            continue
        name = name.lstrip(".").rstrip(".")
        if host == name or host.endswith("." + name):
            return True
    return False


# -- a deadline for the whole request ----------------------------------------------------


class _Deadline:
    """The whole-request deadline: when it passes, the connection's socket is shut.

    A socket timeout only bounds each read, so a server that drips a byte
    every half second, or a chunked body that never ends, would never time out.
    """

    def __init__(self, seconds: float):
        self.at = time.monotonic() + seconds
        self.expired = False
        self._connection: Any = None
        self._finished = False
        self._lock = threading.Lock()

    def attach(self, connection: Any) -> None:
        with self._lock:
            self._connection = connection
        _WATCHDOG.watch(self)

    def fire(self) -> None:
        with self._lock:
            if self._finished:
                return
            self.expired = True
            sock = getattr(self._connection, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def finish(self) -> None:
        with self._lock:
            self._finished = True
            self._connection = None


class _Watchdog:
    """One daemon thread that fires deadlines, in order (not a timer thread per request)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, _Deadline]] = []
        self._cond = threading.Condition()
        self._count = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, deadline: _Deadline) -> None:
        with self._cond:
            heapq.heappush(self._heap, (deadline.at, next(self._count), deadline))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="taskade-deadlines", daemon=True
                )
                self._thread.start()
            elif self._heap[0][2] is not deadline:
                # It sleeps until an earlier deadline: waking it for every request
                # costs a thread switch each (measured: about a third of a small
                # request's client CPU on a busy machine).
                return
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    wait = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(wait)
                _, _, deadline = heapq.heappop(self._heap)
            deadline.fire()


_WATCHDOG = _Watchdog()
_CURRENT = threading.local()  # the deadline of the request this thread is sending


class _FinalResponse(http.client.HTTPResponse):
    """Skips informational answers (``103 Early Hints``) to reach the real one.

    http.client only skips ``100 Continue``; any other 1xx would be taken for
    the answer, and the real one left on the connection.
    """

    def _read_status(self) -> tuple[str, int, str]:
        while True:
            # A private method of http.client (stable since Python 3.0): the one
            # place that reads a status line, so the one place to skip 1xx.
            version, status, reason = super()._read_status()  # type: ignore[misc]
            if not 100 <= status < 200 or status == 101:
                return version, status, reason
            http.client.parse_headers(self.fp)


class _Connection(urllib3.connection.HTTPConnection):
    response_class = _FinalResponse

    def request(self, *args: Any, **kwargs: Any) -> None:
        deadline = getattr(_CURRENT, "deadline", None)
        if deadline is not None:
            deadline.attach(self)
        super().request(*args, **kwargs)


class _TLSConnection(urllib3.connection.HTTPSConnection):
    response_class = _FinalResponse
    request = _Connection.request


class _Pool(urllib3.connectionpool.HTTPConnectionPool):
    ConnectionCls = _Connection


class _TLSPool(urllib3.connectionpool.HTTPSConnectionPool):
    ConnectionCls = _TLSConnection


_POOLS = {"http": _Pool, "https": _TLSPool}


class _Adapter(requests.adapters.HTTPAdapter):
    """requests' adapter with our connections, direct or through a proxy."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **kwargs)
        manager.pool_classes_by_scheme = _POOLS
        return manager


# -- reading a body, bounded ------------------------------------------------------------


class _Inflater:
    """Decodes ``Content-Encoding`` as the body arrives, never past ``cap`` bytes.

    zlib's ``max_length`` bounds each step, so a gzip bomb costs at most
    ``cap`` bytes of memory before it is refused.
    """

    def __init__(self, encoding: str, cap: int, operation: str, status: int):
        self.cap, self.operation, self.status = cap, operation, status
        self.size = 0
        enc = encoding.strip().lower()
        self._wbits: int | None
        if enc in ("", "identity"):
            self._wbits = None
        elif enc in ("gzip", "x-gzip"):
            self._wbits = 31
        elif enc == "deflate":
            self._wbits = 15  # zlib-wrapped; raw deflate is detected on the first bytes
        else:
            raise InvalidResponseError(
                f"{operation}: HTTP {status} body in an encoding this client did not ask for "
                f"({redact(enc)[:40]!r})",
                operation=operation,
                status=status,
            )
        self._z: Any = None

    def feed(self, data: bytes) -> bytes:
        if self._wbits is None:
            return self._count(data)
        out = b""
        while data:
            if self._z is None:
                wbits = self._wbits
                if wbits == 15 and (
                    len(data) < 2 or (data[0] & 0x0F) != 8 or int.from_bytes(data[:2], "big") % 31
                ):
                    wbits = -15
                self._z = zlib.decompressobj(wbits)
            try:
                out += self._count(self._z.decompress(data, self.cap - self.size + 1))
            except zlib.error:
                raise InvalidResponseError(
                    f"{self.operation}: HTTP {self.status} body could not be decompressed",
                    operation=self.operation,
                    status=self.status,
                ) from None
            # A second gzip member follows the first: decode it too.
            data = self._z.unused_data if self._z.eof else b""
            if self._z.eof:
                self._z = None
        return out

    def _count(self, data: bytes) -> bytes:
        self.size += len(data)
        if self.size > self.cap:
            raise ResponseTooLargeError(
                f"{self.operation}: the answer is larger than max_body ({self.cap:,} bytes "
                "decoded); refused rather than held in memory",
                operation=self.operation,
                status=self.status,
            )
        return data


def _clip(text: str, limit: int) -> str:
    """Redact, then cut: a cut first could leave most of a token readable."""
    text = " ".join(redact(text).split())
    return text[:limit] + ("..." if len(text) > limit else "")


def _excerpt(content: bytes, limit: int = 160) -> str:
    return _clip(content[: limit * 8].decode("utf-8", "replace"), limit)


# -- the transport -----------------------------------------------------------------------

DEFAULT_MAX_BODY = 256 * 1024 * 1024


class Transport:
    """Sends one request to ``{base_url}/{operation}`` and returns the decoded envelope.

    One ``requests.Session`` (keep-alive, a pool big enough for fan-out
    threads). Redirects are not followed: following one could carry the
    token to another host. The environment is never read here: proxies and
    the CA bundle are passed in, and ``.netrc`` is never consulted (it would
    replace the bearer token with Basic credentials).
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float,
        connect_timeout: float = 10.0,
        pool_size: int = 16,
        user_agent: str = "taskade-frames",
        proxies: Mapping[str, str] | None = None,
        verify: bool | str = True,
        max_body: int = DEFAULT_MAX_BODY,
        allow_insecure_http: bool = False,
    ):
        self.base_url = check_base_url(base_url, allow_insecure_http=allow_insecure_http)
        check_token(token)
        register_secret(token)
        self.timeout = timeout
        self.connect_timeout = min(connect_timeout, timeout)
        self.max_body = max_body
        self._session = requests.Session()
        self._session.trust_env = False
        self._session.proxies = dict(proxies or {})
        self._session.verify = verify
        adapter = self._adapter = _Adapter(pool_connections=2, pool_maxsize=pool_size)
        # One prepared request per (method, URL), copied for each call: see _send.
        self._prepared: dict[tuple[str, str], requests.PreparedRequest] = {}
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.headers.update(
            {
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "Accept": "application/json",
                "Accept-Encoding": "gzip, deflate",
                "User-Agent": user_agent,
            }
        )

    def __repr__(self) -> str:
        return f"Transport(base_url={self.base_url!r})"

    @property
    def host(self) -> str:
        """``host[:port]`` of the base URL (it never holds credentials: they are refused)."""
        return urlsplit(self.base_url).netloc

    def close(self) -> None:
        self._session.close()

    def post(self, operation: str, body: dict[str, Any], decode=None) -> dict:
        """One attempt: POST JSON, then decode. Raises a typed error on any failure.

        ``decode`` may take a 2xx body first (typed page decoding); when it
        returns None the body is decoded and checked as usual.
        """
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        status, headers, content = self._exchange(
            "POST", f"{self.base_url}/{operation}", operation, data
        )
        return self._answer(operation, status, headers, content, decode)

    def post_early(self, operation: str, body: dict[str, Any]) -> Early | None:
        """Send a POST now, and read its answer later with ``Early.finish``.

        A listing decodes one page while the server builds the next (see
        ``_ahead``). None through a proxy, where this transport does not split
        the two.
        """
        if self._session.proxies:
            return None
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        request = self._request("POST", f"{self.base_url}/{operation}", data)
        deadline = _Deadline(self.timeout)
        pool = conn = None
        _CURRENT.deadline = deadline
        try:
            pool = self._pool_for(request)
            # urllib3's own steps for one request (HTTPConnectionPool._make_request),
            # stopped before reading the answer; _get_conn drops a connection the
            # server closed while it was idle.
            conn = pool._get_conn()
            conn.timeout = self.connect_timeout
            pool._validate_conn(conn)
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                # The server may close after answering early: the answer is still read.
                conn.request(
                    "POST",
                    request.path_url,
                    body=data,
                    headers=request.headers,
                    preload_content=False,
                    decode_content=False,
                )
            conn.timeout = self.timeout
        except _FAILURES as exc:
            failure = self._failure(operation, exc, deadline)
            _release(pool, conn, reuse=False)
            deadline.finish()
            return Early(self, operation, None, None, deadline, failure)
        finally:
            _CURRENT.deadline = None
        return Early(self, operation, pool, conn, deadline)

    def _pool_for(self, request: requests.PreparedRequest) -> Any:
        """urllib3's pool for a direct request, with the TLS settings ``send`` would use."""
        adapter, verify = self._adapter, self._session.verify
        connect = getattr(adapter, "get_connection_with_tls_context", None)
        if connect is not None:  # requests 2.32.2 and later
            return connect(request, verify)
        url = str(request.url)
        pool = adapter.get_connection(url)  # older: what their send() does
        adapter.cert_verify(pool, url, verify, None)
        return pool

    def get(self, path: str, operation: str) -> dict:
        """One attempt: GET ``{base_url}{path}`` (the v1 reads), decoded like ``post``."""
        status, headers, content = self._exchange("GET", f"{self.base_url}{path}", operation)
        return self._decode(operation, status, headers, content)

    def _exchange(
        self, method: str, url: str, operation: str, data: bytes | None = None
    ) -> tuple[int, Any, bytes]:
        """One request under one deadline: (status, headers, decoded body)."""
        deadline = _Deadline(self.timeout)
        _CURRENT.deadline = deadline
        started = time.perf_counter()
        try:
            resp = self._send(method, url, data)
            try:
                content = self._read(operation, resp)
            finally:
                resp.close()
        except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._failure(operation, exc, deadline) from _without_frames(exc)
        finally:
            _CURRENT.deadline = None
            deadline.finish()
        log.debug(
            "%s %s -> %s (%d bytes, %.3fs)",
            method,
            operation,
            resp.status_code,
            len(content),
            time.perf_counter() - started,
        )
        return resp.status_code, resp.headers, content

    def _request(self, method: str, url: str, data: bytes | None) -> requests.PreparedRequest:
        """The session's settings prepared once per URL, copied with this body.

        ``Session.request`` merges settings, cookies and hooks again on every
        call: a third of a small request's client CPU, measured, and what bounds
        a fan-out on the GIL. Nothing it merges changes between our requests
        (no environment, no cookies kept, no redirects followed), so the
        prepared request is copied and only the body changes.
        """
        template = self._prepared.get((method, url))
        if template is None:
            template = self._session.prepare_request(requests.Request(method, url))
            self._prepared[(method, url)] = template
        request = template.copy()
        if data is not None:
            request.body = data
            request.headers["Content-Length"] = str(len(data))
        return request

    def _send(self, method: str, url: str, data: bytes | None) -> requests.Response:
        """Send through the adapter (``_request`` says why not through the session)."""
        request = self._request(method, url, data)
        return self._adapter.send(
            request,
            stream=True,
            timeout=(self.connect_timeout, self.timeout),
            verify=self._session.verify,
            proxies=self._session.proxies,
        )

    def _read(self, operation: str, resp: requests.Response) -> bytes:
        return self._read_raw(operation, resp.status_code, resp.headers, resp.raw)

    def _read_raw(self, operation: str, status: int, headers: Any, raw: Any) -> bytes:
        """The whole body of urllib3's response ``raw``, inflated, never past ``max_body``."""
        inflater = _Inflater(headers.get("Content-Encoding", ""), self.max_body, operation, status)
        parts = [inflater.feed(chunk) for chunk in raw.stream(64 * 1024, decode_content=False)]
        return b"".join(parts)

    def _answer(
        self, operation: str, status: int, headers: Any, content: bytes, decode: Any
    ) -> dict:
        """The envelope of an answer: ``decode``'s if it takes a 2xx body, else checked JSON."""
        if decode is not None and 200 <= status < 300:
            fast = decode(content)
            if fast is not None:
                return fast
        return self._decode(operation, status, headers, content)

    def _failure(self, operation: str, exc: BaseException, deadline: _Deadline) -> TransportError:
        if deadline.expired:
            return ReadTimeoutError(
                f"{operation}: no complete answer from {self.host} within {self.timeout:g}s",
                operation=operation,
                sent=True,
            )
        return _transport_error(operation, exc, self.host, self.timeout, self.connect_timeout)

    def _decode(self, operation: str, status: int, headers: Any, content: bytes) -> dict:
        if 300 <= status < 400:
            raise InvalidResponseError(
                f"{operation}: HTTP {status} redirect to {_where(headers.get('Location'))} not "
                "followed (the token is only sent to the configured host)",
                operation=operation,
                status=status,
            )
        if status >= 400:
            raise _status_error(operation, status, headers, content)
        if not 200 <= status < 300:
            raise InvalidResponseError(
                f"{operation}: unexpected HTTP {status}", operation=operation, status=status
            )
        try:
            payload = json.loads(content)
        except ValueError:
            excerpt = _excerpt(content)
            kind = _clip(headers.get("Content-Type", "no content type"), 60)
            raise InvalidResponseError(
                f"{operation}: HTTP {status} with a body that is not JSON ({kind}, "
                f"{len(content)} bytes): {excerpt!r}",
                operation=operation,
                status=status,
                excerpt=excerpt,
            ) from None
        except RecursionError:
            raise InvalidResponseError(
                f"{operation}: HTTP {status} with JSON nested too deeply to read",
                operation=operation,
                status=status,
            ) from None
        if not isinstance(payload, dict) or "ok" not in payload:
            excerpt = _excerpt(content)
            raise InvalidResponseError(
                f"{operation}: HTTP {status} with JSON that is not a v2 envelope: {excerpt!r}",
                operation=operation,
                status=status,
                excerpt=excerpt,
            )
        if payload["ok"] is True:
            return payload
        raise _envelope_error(operation, status, headers, payload)


# What a request can fail with below HTTP: each becomes a TransportError (_failure).
_FAILURES = (
    requests.exceptions.RequestException,
    urllib3.exceptions.HTTPError,
    OSError,
    http.client.HTTPException,
)


class Early:
    """A request already sent (``Transport.post_early``), its answer not read yet.

    ``finish`` reads and decodes it, as ``Transport.post`` would have, or
    raises the typed error a failed send left; ``discard`` closes the
    connection unread. Either, once.
    """

    def __init__(
        self,
        transport: Transport,
        operation: str,
        pool: Any,
        conn: Any,
        deadline: _Deadline,
        failure: TransportError | None = None,
    ):
        self._transport, self._operation = transport, operation
        self._pool, self._conn = pool, conn
        self._deadline, self._failure = deadline, failure
        self._started = time.perf_counter()

    def __repr__(self) -> str:
        return f"Early({self._operation!r})"

    def finish(self, decode: Any = None) -> dict:
        """The envelope, like ``Transport.post(..., decode=decode)``; a typed error else."""
        if self._failure is not None:
            raise self._failure
        transport, operation, conn = self._transport, self._operation, self._conn
        if conn is None:
            raise RuntimeError("an early request is finished once")
        self._conn = None
        reuse = False
        try:
            resp = conn.getresponse()
            content = transport._read_raw(operation, resp.status, resp.headers, resp)
            reuse = True
        except _FAILURES as exc:
            failure = transport._failure(operation, exc, self._deadline)
            raise failure from _without_frames(exc)
        finally:
            self._deadline.finish()
            _release(self._pool, conn, reuse=reuse)
        log.debug(
            "POST %s -> %s (%d bytes, %.3fs, sent early)",
            operation,
            resp.status,
            len(content),
            time.perf_counter() - self._started,
        )
        return transport._answer(operation, resp.status, resp.headers, content, decode)

    def discard(self) -> None:
        """Close the connection without reading the answer (it is not wanted)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            self._deadline.finish()
            _release(self._pool, conn, reuse=False)


def _release(pool: Any, conn: Any, *, reuse: bool) -> None:
    """Give a connection back to its pool, closed unless its answer was read whole."""
    if conn is None:
        return
    if not reuse:
        conn.close()
    if pool is not None:
        pool._put_conn(conn)


def _where(location: str | None) -> str:
    """The host a redirect points at, masked and short (a server may echo our token there)."""
    try:
        # Mask first: parsing lower-cases the host, which would hide an echoed token.
        parts = urlsplit(redact(location or ""))
        host = parts.hostname and (
            f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname
        )
    except ValueError:
        host = None
    return _clip(host, 80) if host else "elsewhere"


def _text(value: Any, limit: int = 300) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):  # frameworks list validation messages
        value = "; ".join(str(v) for v in value)
    return _clip(str(value), limit)


def _envelope_error(operation: str, status: int, headers: Any, payload: dict) -> APIError:
    """``ok: false`` in a 2xx: the code says what went wrong, since the status cannot."""
    code = _text(payload.get("code"), 80)
    effective = _STATUS_BY_CODE.get(code or "", 0)
    return _api_error(
        operation,
        effective,
        headers,
        status=status,
        code=code,
        message=_text(payload.get("message") or payload.get("statusMessage")),
        status_message=_text(payload.get("statusMessage"), 80),
    )


def _status_error(operation: str, status: int, headers: Any, content: bytes) -> APIError:
    """An error status: its class comes from the status, whatever the body looks like.

    The body may be the v2 envelope, a gateway's HTML page, plain text or another
    framework's JSON; it only supplies the message (and the code, when there is one).
    """
    payload: Any = None
    if len(content) <= 1024 * 1024:
        with contextlib.suppress(ValueError, RecursionError):
            payload = json.loads(content)
    code = message = status_message = None
    if isinstance(payload, dict):
        raw_code = payload.get("code", payload.get("error"))
        code = _text(raw_code, 80) if isinstance(raw_code, str) else None
        message = _text(
            payload.get("message")
            or payload.get("detail")
            or payload.get("error")
            or payload.get("statusMessage")
        )
        status_message = _text(payload.get("statusMessage"), 80)
    if not message:
        kind = _clip(headers.get("Content-Type", "no content type"), 60)
        message = f"{_excerpt(content) or 'empty body'} ({kind})"
    return _api_error(
        operation,
        status,
        headers,
        status=status,
        code=code,
        message=message,
        status_message=status_message,
    )


def _api_error(operation: str, effective: int, headers: Any, **kw: Any) -> APIError:
    kw["message"] = kw.get("message") or "no message"
    if effective == 0:
        # ok:false with a 2xx and a code we cannot place: an API error all the same.
        return APIError(operation=operation, **kw)
    cls = error_for_status(effective)
    if cls is RateLimitError:
        return RateLimitError(
            retry_after=parse_retry_after(headers.get("Retry-After")), operation=operation, **kw
        )
    return cls(operation=operation, **kw)


def _refused_before_sending(exc: BaseException) -> bool:
    """True when a ConnectionError happened while connecting, before any byte was sent."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, _NOT_SENT):
            return True
        nxt = getattr(cur, "reason", None)
        if not isinstance(nxt, BaseException):
            nxt = cur.__cause__ or cur.__context__
            if nxt is None and cur.args and isinstance(cur.args[0], BaseException):
                nxt = cur.args[0]
        cur = nxt
    return False


_NOT_SENT = (
    urllib3.exceptions.NewConnectionError,
    urllib3.exceptions.ConnectTimeoutError,
    urllib3.exceptions.NameResolutionError,
    ConnectionRefusedError,
)


def _without_frames(exc: BaseException) -> BaseException:
    """Drop the tracebacks of ``exc`` and its chain, keeping types and messages.

    urllib3's frames hold the request headers (the token) in local variables;
    debuggers and error trackers that print locals would show them.
    """
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        cur.__traceback__ = None
        for arg in cur.args:
            if isinstance(arg, BaseException) and id(arg) not in seen:
                _without_frames(arg)
        cur = cur.__cause__ or cur.__context__
    return exc


def _stopped_emulator_hint(host: str) -> str:
    """For a refused connection to this machine: most likely an emulator that has stopped."""
    try:
        name = urlsplit(f"//{host}").hostname or ""
    except ValueError:
        return ""
    if not _is_loopback(name):
        return ""
    return (
        ". Nothing is listening there: if it was the bundled emulator, it is not running "
        "(a `with Emulator() as emu:` block stops it when the block ends; in a notebook "
        "start it with `emu = Emulator().start()` and call `emu.stop()` when done)"
    )


def _transport_error(
    operation: str, exc: BaseException, host: str, timeout: float, connect_timeout: float
) -> TransportError:
    """The typed error for a failure below HTTP; ``sent`` says if the server may have acted."""
    # urllib3's NewConnectionError (refused, unreachable) is a ConnectTimeoutError by
    # inheritance only; requests tells them apart the same way.
    if isinstance(exc, requests.exceptions.ConnectTimeout) or (
        isinstance(exc, urllib3.exceptions.ConnectTimeoutError)
        and not isinstance(exc, urllib3.exceptions.NewConnectionError)
    ):
        return TransportError(
            f"{operation}: could not connect to {host} within {connect_timeout:g}s",
            operation=operation,
            sent=False,
        )
    if isinstance(
        exc, requests.exceptions.ReadTimeout | urllib3.exceptions.ReadTimeoutError | TimeoutError
    ):
        return ReadTimeoutError(
            f"{operation}: no answer from {host} within {timeout:g}s",
            operation=operation,
            sent=True,
        )
    if isinstance(exc, requests.exceptions.SSLError):
        return TransportError(
            f"{operation}: TLS with {host} failed (a proxy's certificate? set "
            "REQUESTS_CA_BUNDLE or SSL_CERT_FILE to its CA bundle)",
            operation=operation,
            sent=False,
        )
    if isinstance(exc, requests.exceptions.ProxyError):
        return TransportError(
            f"{operation}: the proxy for {host} failed",
            operation=operation,
            sent=not _refused_before_sending(exc),
        )
    if isinstance(
        exc, requests.exceptions.ConnectionError | urllib3.exceptions.HTTPError | OSError
    ):
        sent = not _refused_before_sending(exc)
        what = "connection reset or closed" if sent else "connection refused"
        hint = "" if sent else _stopped_emulator_hint(host)
        return TransportError(
            f"{operation}: {what} by {host} ({type(exc).__name__}){hint}",
            operation=operation,
            sent=sent,
        )
    return TransportError(
        f"{operation}: request failed ({type(exc).__name__})", operation=operation
    )
