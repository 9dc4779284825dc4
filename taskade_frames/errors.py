"""The exception tree of taskade_frames, and the map from HTTP status to class.

Every failure a user can meet is a ``TaskadeError``; nothing from ``requests``
or ``json`` leaks out. Messages never contain the API token.

    TaskadeError
    ├── ConfigurationError          no token, bad base URL, token over plain http
    ├── TransportError              refused, reset, timed out (raised from the cause)
    │   └── ReadTimeoutError        the request went out, the answer did not come
    ├── InvalidResponseError        a 2xx that is not the API's JSON (truncated, garbled)
    │   └── ResponseTooLargeError   a body larger than ``max_body`` once decoded
    ├── PaginationError             a server that repeats itself, a listing that never ends
    │   └── ListingChangedError     the listing moved under the cursor while it was read
    └── APIError                    the API said ``ok: false``; carries status/code/operation
        ├── BadRequestError         400
        ├── AuthenticationError     401
        ├── OutOfCreditsError       402
        ├── PermissionDeniedError   403
        ├── NotFoundError           404
        ├── RateLimitError          429 (``retry_after`` in seconds, when known)
        └── ServerError             5xx (and any other unexpected status)

The class of an error status comes from the status alone: a gateway's HTML 429,
a plain-text 401 or a framework's JSON 400 are typed like the API's own.
"""

from __future__ import annotations

import threading

__all__ = [
    "APIError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "InvalidResponseError",
    "ListingChangedError",
    "NotFoundError",
    "OutOfCreditsError",
    "PaginationError",
    "PermissionDeniedError",
    "RateLimitError",
    "ReadTimeoutError",
    "ResponseTooLargeError",
    "ServerError",
    "TaskadeError",
    "TransportError",
    "error_for_status",
    "redact",
    "register_secret",
    "registered_secrets",
]

# Every token a client in this process holds. Text from a server may echo our
# headers, so every message is masked against all of them before it is cut,
# stored or shown.
_SECRETS: dict[str, tuple[str, ...]] = {}  # secret -> its aligned 5-character chunks
_SECRETS_LOCK = threading.Lock()
_MASK = "<redacted>"
# A piece of a token longer than this is masked too: a cut or a wrapped line
# must not leave most of a token readable.
_FRAGMENT = 9
_CHUNK = 5  # every fragment of _FRAGMENT characters holds one whole aligned chunk


def register_secret(secret: str) -> None:
    """Remember a secret so that ``redact`` masks it (and long pieces of it) everywhere."""
    if secret:
        chunks = tuple(secret[i : i + _CHUNK] for i in range(0, len(secret) - _CHUNK + 1, _CHUNK))
        with _SECRETS_LOCK:
            _SECRETS[secret] = chunks


def registered_secrets() -> tuple[str, ...]:
    """Every secret registered so far (for checks that scan output for leaks)."""
    with _SECRETS_LOCK:
        return tuple(_SECRETS)


def redact(text: object) -> str:
    """``text`` as a string with every registered secret, and any piece of one
    longer than 8 characters, masked.

    >>> register_secret("tok_0123456789abcdef")
    >>> redact("Bearer tok_0123456789abcdef")
    'Bearer <redacted>'
    >>> redact("cut at 640 bytes: tok_0123456789")
    'cut at 640 bytes: <redacted>'
    """
    out = text if isinstance(text, str) else str(text)
    with _SECRETS_LOCK:
        secrets = sorted(_SECRETS.items(), key=lambda kv: len(kv[0]), reverse=True)
    for secret, chunks in secrets:
        if secret in out:
            out = out.replace(secret, _MASK)
        if len(secret) >= _FRAGMENT and any(c in out for c in chunks):
            out = _mask_fragments(out, secret, chunks)
    return out


def _mask_fragments(text: str, secret: str, chunks: tuple[str, ...]) -> str:
    """Mask every run of ``text`` that is a piece of ``secret`` of _FRAGMENT+ characters.

    Each such piece contains a whole aligned chunk, so growing every chunk hit
    to the left and right while it still matches ``secret`` finds them all.
    """
    spans: list[tuple[int, int]] = []
    for k, chunk in enumerate(chunks):
        offset = k * _CHUNK
        at = text.find(chunk)
        while at != -1:
            left = 0
            while left < offset and left < at and text[at - left - 1] == secret[offset - left - 1]:
                left += 1
            right = _CHUNK
            while (
                offset + right < len(secret)
                and at + right < len(text)
                and text[at + right] == secret[offset + right]
            ):
                right += 1
            if left + right >= _FRAGMENT:
                spans.append((at - left, at + right))
            at = text.find(chunk, at + 1)
    if not spans:
        return text
    spans.sort()
    merged = [list(spans[0])]
    for start, end in spans[1:]:
        if start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    parts, last = [], 0
    for start, end in merged:
        parts += [text[last:start], _MASK]
        last = end
    parts.append(text[last:])
    return "".join(parts)


class TaskadeError(Exception):
    """Base of every error raised by taskade_frames; its text never holds a registered secret."""

    def __init__(self, *args: object):
        super().__init__(*(redact(a) if isinstance(a, str) else a for a in args))


class ConfigurationError(TaskadeError):
    """The client cannot be set up as asked (missing token, unsafe URL...)."""


class TransportError(TaskadeError):
    """The request did not get an HTTP answer: refused, reset or timed out.

    ``sent`` tells whether the request may have reached the server; a write
    operation is only retried when it certainly did not.
    """

    def __init__(self, message: str, *, operation: str | None = None, sent: bool = True):
        super().__init__(message)
        self.operation = operation
        self.sent = sent


class ReadTimeoutError(TransportError):
    """The request was sent but the answer did not arrive in time."""


class InvalidResponseError(TaskadeError):
    """The server answered with something that is not the API's JSON envelope."""

    def __init__(self, message: str, *, operation: str, status: int, excerpt: str = ""):
        super().__init__(message)
        self.operation = operation
        self.status = status
        self.excerpt = excerpt


class ResponseTooLargeError(InvalidResponseError):
    """The answer grew past the client's ``max_body`` once decoded (a gzip bomb?)."""


class PaginationError(TaskadeError):
    """A listing could not be completed safely (the server repeated itself)."""

    def __init__(self, message: str, *, operation: str, pages: int):
        super().__init__(message)
        self.operation = operation
        self.pages = pages


class ListingChangedError(PaginationError):
    """Items moved under the cursor while a listing was read: some may have been skipped.

    Reading the listing again gives a complete one; ``fetch_all`` does so itself.
    """


class APIError(TaskadeError):
    """The API answered ``{"ok": false, ...}`` or an error status."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None = None,
        operation: str | None = None,
        status_message: str | None = None,
    ):
        self.message = redact(message)
        self.status = status
        self.code = None if code is None else redact(code)
        self.operation = operation
        self.status_message = None if status_message is None else redact(status_message)
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.operation}: " if self.operation else ""
        code = f" [{self.code}]" if self.code else ""
        return f"{where}HTTP {self.status}{code}: {self.message}"


class BadRequestError(APIError):
    """400: the request body was refused; fix it rather than retry."""


class AuthenticationError(APIError):
    """401: the token is missing, wrong or expired."""


class OutOfCreditsError(APIError):
    """402: the workspace has no AI credits left for this call."""


class PermissionDeniedError(APIError):
    """403: the token has no access to this resource."""


class NotFoundError(APIError):
    """404: no such resource, or not visible with this token."""


class RateLimitError(APIError):
    """429: too many requests; ``retry_after`` is the server's wait, if it gave one."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object):
        self.retry_after = retry_after
        super().__init__(message, **kw)  # type: ignore[arg-type]


class ServerError(APIError):
    """5xx, or a status the API does not document."""


_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: OutOfCreditsError,
    403: PermissionDeniedError,
    404: NotFoundError,
    429: RateLimitError,
}


def error_for_status(status: int) -> type[APIError]:
    """Return the error class for an HTTP status (5xx and unknowns: ServerError).

    >>> error_for_status(404).__name__
    'NotFoundError'
    """
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if 400 <= status < 500:
        return BadRequestError
    return ServerError
