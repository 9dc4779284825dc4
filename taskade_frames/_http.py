"""HTTP for the v2 API: one keep-alive session, the retry decision, body decoding.

This is the only module that imports ``requests``. It turns every outcome of
a POST into either the decoded JSON envelope or a typed ``TaskadeError``, and
decides, in one function, whether and how long to wait before trying again.
The token lives in the session's headers and nowhere else.
"""

from __future__ import annotations

import email.utils
import ipaddress
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timezone
from typing import Any
from urllib.parse import urlsplit

import requests
import requests.adapters

from .errors import (
    APIError,
    ConfigurationError,
    InvalidResponseError,
    RateLimitError,
    ReadTimeoutError,
    ServerError,
    TaskadeError,
    TransportError,
    error_for_status,
)

__all__ = ["RateLimiter", "RetryPolicy", "Transport", "parse_retry_after", "retry_delay"]

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
            when = when.replace(tzinfo=timezone.utc)
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
    if isinstance(error, InvalidResponseError) and (error.status >= 500 or error.status == 200):
        # A proxy's HTML 502 page or a body cut short: transient for a read.
        return backoff if attempt <= policy.max_retries else None
    # 400, 401, 402, 403, 404 and ok:false: repeating cannot help.
    return None


class RateLimiter:
    """A token bucket shared by every thread that uses one client.

    Fan-out over many projects would otherwise provoke a storm of 429s; with
    the bucket the client paces itself. ``rate`` is requests per second. The
    default burst is small, so a client set to the server's own limit never
    arrives faster than the server's bucket refills.
    """

    def __init__(self, rate: float, burst: int | None = None, *, clock=time.monotonic, sleep=None):
        if rate <= 0:
            raise ValueError("rate must be positive")
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


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_base_url(base_url: str, *, allow_insecure_http: bool = False) -> str:
    """Validate a base URL; refuse to send a token in clear text off this machine."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"base URL must be http(s)://host/...; got {base_url!r}"
        )
    if parts.scheme == "http" and not _is_loopback(parts.hostname) and not allow_insecure_http:
        raise ConfigurationError(
            f"refusing to send the API token over plain http to {parts.hostname!r}: use https, "
            "or a loopback address such as the local emulator"
        )
    return base_url.rstrip("/")


def _excerpt(content: bytes, secret: str, limit: int = 160) -> str:
    text = " ".join(content[: limit * 4].decode("utf-8", "replace").split())
    if secret:
        text = text.replace(secret, "***")
    return text[:limit] + ("..." if len(text) > limit else "")


class Transport:
    """Posts JSON to ``{base_url}/{operation}`` and returns the decoded envelope.

    One ``requests.Session`` (keep-alive, a pool big enough for fan-out
    threads). Redirects are not followed: following one could carry the
    token to another host.
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
    ):
        self.base_url = base_url
        self._token = token
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._session = requests.Session()
        # requests would read ~/.netrc and proxies from the environment per
        # request; the token already authenticates, and that lookup is slow.
        self._session.trust_env = False
        adapter = requests.adapters.HTTPAdapter(pool_connections=2, pool_maxsize=pool_size)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.headers.update(
            {
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "Accept": "application/json",
                "User-Agent": user_agent,
            }
        )

    def __repr__(self) -> str:
        return f"Transport(base_url={self.base_url!r})"

    def close(self) -> None:
        self._session.close()

    def post(self, operation: str, body: dict[str, Any], decode=None) -> dict:
        """One attempt: POST, then decode. Raises a typed error on any failure.

        ``decode`` may take a 2xx body first (typed page decoding); when it
        returns None the body is decoded and checked as usual.
        """
        url = f"{self.base_url}/{operation}"
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        started = time.perf_counter()
        try:
            resp = self._session.post(
                url,
                data=data,
                timeout=(self.connect_timeout, self.timeout),
                allow_redirects=False,
            )
            content = resp.content  # read the whole body here: a reset mid-body raises now
        except requests.exceptions.RequestException as exc:
            raise _transport_error(operation, exc, self._host(), self.timeout,
                                   self.connect_timeout) from _without_frames(exc)
        elapsed = time.perf_counter() - started
        log.debug("POST %s -> %s (%d bytes, %.3fs)", operation, resp.status_code, len(content),
                  elapsed)
        if decode is not None and 200 <= resp.status_code < 300:
            fast = decode(content)
            if fast is not None:
                return fast
        return self._decode(operation, resp.status_code, resp.headers, content)

    def _host(self) -> str:
        return urlsplit(self.base_url).netloc

    def _decode(self, operation: str, status: int, headers, content: bytes) -> dict:
        if 300 <= status < 400:
            where = urlsplit(headers.get("Location", "")).netloc or "elsewhere"
            raise InvalidResponseError(
                f"{operation}: HTTP {status} redirect to {where} not followed "
                "(the token is only sent to the configured host)",
                operation=operation,
                status=status,
            )
        try:
            payload = json.loads(content)
        except ValueError:
            excerpt = _excerpt(content, self._token)
            kind = headers.get("Content-Type", "no content type")
            raise InvalidResponseError(
                f"{operation}: HTTP {status} with a body that is not JSON ({kind}, "
                f"{len(content)} bytes): {excerpt!r}",
                operation=operation,
                status=status,
                excerpt=excerpt,
            ) from None
        if not isinstance(payload, dict) or "ok" not in payload:
            excerpt = _excerpt(content, self._token)
            raise InvalidResponseError(
                f"{operation}: HTTP {status} with JSON that is not a v2 envelope: {excerpt!r}",
                operation=operation,
                status=status,
                excerpt=excerpt,
            )
        if payload["ok"] is True and status < 300:
            return payload
        return self._raise_api_error(operation, status, headers, payload)

    def _redact(self, value: Any) -> str | None:
        """Text from the server, with the token masked: a server may echo our headers."""
        if value is None:
            return None
        text = str(value)
        return text.replace(self._token, "***") if self._token else text

    def _raise_api_error(self, operation: str, status: int, headers, payload: dict):
        code = self._redact(payload.get("code"))
        message = self._redact(payload.get("message") or payload.get("statusMessage")
                               or "no message") or ""
        effective = status if status >= 400 else _STATUS_BY_CODE.get(code or "", 0)
        kw: dict[str, Any] = dict(
            status=status,
            code=code,
            operation=operation,
            status_message=self._redact(payload.get("statusMessage")),
        )
        if effective == 0:
            # ok:false with a 2xx and a code we cannot place: an API error all the same.
            raise APIError(message, **kw)
        cls = error_for_status(effective)
        if cls is RateLimitError:
            raise RateLimitError(
                message, retry_after=parse_retry_after(headers.get("Retry-After")), **kw
            )
        raise cls(message, **kw)


def _refused_before_sending(exc: BaseException) -> bool:
    """True when a ConnectionError happened while connecting, before any byte was sent."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        name = type(cur).__name__
        if name in ("NewConnectionError", "ConnectTimeoutError", "NameResolutionError"):
            return True
        if isinstance(cur, ConnectionRefusedError):
            return True
        nxt = getattr(cur, "reason", None)
        if not isinstance(nxt, BaseException):
            nxt = cur.__cause__ or cur.__context__
            if nxt is None and cur.args and isinstance(cur.args[0], BaseException):
                nxt = cur.args[0]
        cur = nxt
    return False


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


def _transport_error(
    operation: str, exc: BaseException, host: str, timeout: float, connect_timeout: float
) -> TransportError:
    """The typed error for a failure below HTTP; ``sent`` says if the server may have acted."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return TransportError(
            f"{operation}: could not connect to {host} within {connect_timeout:g}s",
            operation=operation, sent=False)
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return ReadTimeoutError(f"{operation}: no answer from {host} within {timeout:g}s",
                                operation=operation, sent=True)
    if isinstance(exc, requests.exceptions.ConnectionError):
        sent = not _refused_before_sending(exc)
        what = "connection reset or closed" if sent else "connection refused"
        return TransportError(f"{operation}: {what} by {host} ({type(exc).__name__})",
                              operation=operation, sent=sent)
    return TransportError(f"{operation}: request failed ({type(exc).__name__})",
                          operation=operation)
