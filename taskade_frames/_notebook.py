"""What the widgets and the magic share: the session's client and readable error messages.

A token typed into a widget's password field becomes the *session client*, kept in
memory only, so every widget and ``%%taskade`` created afterwards uses it without asking
again. Nothing here imports ipywidgets, IPython or matplotlib.
"""

from __future__ import annotations

import threading

from .client import TaskadeClient
from .errors import (
    APIError,
    AuthenticationError,
    ConfigurationError,
    InvalidResponseError,
    NotFoundError,
    OutOfCreditsError,
    PaginationError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    TaskadeError,
    TransportError,
)

__all__ = ["EMULATOR_HINT", "describe_error", "resolve_client", "session_client", "use_client"]

EMULATOR_HINT = (
    "No token? Try everything against the bundled emulator: "
    "`from taskade_frames.emulator import Emulator; emu = Emulator().start()`, then pass "
    "`client=TaskadeClient(emu.token, base_url=emu.base_url)`."
)

_session: TaskadeClient | None = None
_session_lock = threading.Lock()


def use_client(client: TaskadeClient | None) -> None:
    """Make ``client`` the one widgets and the magic use when given none (``None`` forgets it).

    >>> use_client(TaskadeClient(emu.token, base_url=emu.base_url))  # doctest: +SKIP
    """
    global _session
    with _session_lock:
        _session = client


def session_client() -> TaskadeClient | None:
    """The client set by :func:`use_client` or a widget's token field, if any."""
    with _session_lock:
        return _session


def resolve_client(client: TaskadeClient | None = None) -> TaskadeClient:
    """``client``, else the session client, else one built from the environment.

    Raises:
        ConfigurationError: no client given or set, and no token in the environment.
    """
    if client is not None:
        return client
    found = session_client()
    if found is not None:
        return found
    from .loaders import default_client

    return default_client()


# class -> (label, advice). The first matching class wins, so subclasses come first.
_EXPLAIN: tuple[tuple[type[BaseException], str, str], ...] = (
    (ConfigurationError, "Not configured", ""),
    (OutOfCreditsError, "Out of credits",
     "Add AI credits to the workspace, then send again."),
    (RateLimitError, "Rate limited", ""),
    (AuthenticationError, "Token refused", "Check TASKADE_API_TOKEN."),
    (PermissionDeniedError, "No access", "This token cannot see it."),
    (NotFoundError, "Not found", "Check the id or link."),
    (ServerError, "Taskade server error", "Try again later."),
    (APIError, "Request refused", ""),
    (TransportError, "Could not reach the API", ""),
    (InvalidResponseError, "Unexpected answer from the API", ""),
    (PaginationError, "Unexpected answer from the API", ""),
    (TaskadeError, "Error", ""),
    (ValueError, "Invalid input", ""),
)


def describe_error(exc: BaseException) -> str:
    """One plain line for a failure, fit to show inside a widget or a magic's output.

    Never contains the token: the errors of this package never carry it.

    >>> from taskade_frames.errors import OutOfCreditsError
    >>> describe_error(OutOfCreditsError("No credits left", status=402, operation="promptAgent"))
    'Out of credits: No credits left (promptAgent, HTTP 402). Add AI credits to the workspace, \
then send again.'
    """
    label, advice = f"Unexpected error ({type(exc).__name__})", ""
    for cls, name, hint in _EXPLAIN:
        if isinstance(exc, cls):
            label, advice = name, hint
            break
    detail = (exc.message if isinstance(exc, APIError) else str(exc)).strip().rstrip(".")
    if detail.casefold() == label.casefold() or not detail:
        # The server said no more than the label ("Out of credits"): use the class's
        # own explanation, e.g. "402: the workspace has no AI credits left for this call".
        doc = (type(exc).__doc__ or "").strip().splitlines()
        detail = doc[0].split(":")[-1].strip().rstrip(".") if doc else ""
        detail = detail or label
    where = []
    operation = getattr(exc, "operation", None)
    if operation:
        where.append(operation)
    if isinstance(exc, APIError):
        where.append(f"HTTP {exc.status}")
    text = f"{label}: {detail}" + (f" ({', '.join(where)})" if where else "") + "."
    if isinstance(exc, RateLimitError):
        advice = (f"Try again in {exc.retry_after:g} s." if exc.retry_after
                  else "Wait a little, then try again.")
    return f"{text} {advice}".strip()
