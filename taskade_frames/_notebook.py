"""What the widgets and the magic share: readable error messages, and the session's client.

A token typed into a widget's password field becomes the *session client*
(``taskade_frames.use_client``, kept in memory only), so every loader, widget and
``%%taskade`` used afterwards finds it without asking again. The session client
lives in :mod:`taskade_frames.client`; it is re-exported here for the widgets.
Nothing here imports ipywidgets, IPython or matplotlib.
"""

from __future__ import annotations

from .client import resolve_client, session_client, use_client
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
    "`from taskade_frames.emulator import Emulator; emu = Emulator().start()`, then "
    "`taskade_frames.use_client(TaskadeClient(emu.token, base_url=emu.base_url))` "
    "(it runs until `emu.stop()`)."
)


# class -> (label, advice). The first matching class wins, so subclasses come first.
_EXPLAIN: tuple[tuple[type[BaseException], str, str], ...] = (
    (ConfigurationError, "Not configured", ""),
    (OutOfCreditsError, "Out of credits", "Add AI credits to the workspace, then send again."),
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
        advice = (
            f"Try again in {exc.retry_after:g} s."
            if exc.retry_after
            else "Wait a little, then try again."
        )
    return f"{text} {advice}".strip()
