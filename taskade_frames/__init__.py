"""taskade_frames: Taskade workspaces as pandas DataFrames.

The public surface lives here. The client and errors import at once; the
loaders, export and tree helpers (pandas, pyarrow) load on first use, and the
notebook layers (``taskade_frames.widgets``, ``taskade_frames.plots``) are
never imported by this package itself.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .client import Listing, ListingReport, TaskadeClient, default_client, use_client
from .errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    InvalidResponseError,
    ListingChangedError,
    NotFoundError,
    OutOfCreditsError,
    PaginationError,
    PermissionDeniedError,
    RateLimitError,
    ReadTimeoutError,
    ResponseTooLargeError,
    ServerError,
    TaskadeError,
    TransportError,
)

__version__ = "0.1.0"

# name -> module that defines it; imported on first attribute access.
_LAZY = {
    "load_spaces": "loaders",
    "load_folders": "loaders",
    "load_projects": "loaders",
    "load_my_projects": "loaders",
    "load_tasks": "loaders",
    "load_blocks": "loaders",
    "load_fields": "loaders",
    "load_members": "loaders",
    "load_agents": "loaders",
    "load_conversations": "loaders",
    "load_messages": "loaders",
    "load_media": "loaders",
    "load_templates": "loaders",
    "prompt_agent": "loaders",
    "PromptReply": "history",
    "prompt_history": "history",
    "persist_prompt_history": "history",
    "add_tree_columns": "trees",
    "subtree": "trees",
    "ancestors": "trees",
    "to_markdown_outline": "trees",
    "parse_markdown_outline": "trees",
    "children": "trees",
    "TaskNotFoundError": "trees",
    "load_space": "snapshots",
    "SpaceFrames": "space",
    "export_space": "export",
    "export_all": "export",
    "read_export": "snapshots",
    "diff_snapshots": "snapshots",
    "completion_history": "snapshots",
    "completion_summary": "completion",
    "list_snapshots": "snapshots",
    "prune_snapshots": "snapshots",
    "ExportError": "export",
    "ExportResult": "export",
    "load_task_details": "details",
    "TaskDetails": "details",
}

__all__ = [
    "APIError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "ExportError",
    "ExportResult",
    "InvalidResponseError",
    "Listing",
    "ListingChangedError",
    "ListingReport",
    "NotFoundError",
    "OutOfCreditsError",
    "PaginationError",
    "PermissionDeniedError",
    "PromptReply",
    "RateLimitError",
    "ReadTimeoutError",
    "ResponseTooLargeError",
    "ServerError",
    "SpaceFrames",
    "TaskDetails",
    "TaskNotFoundError",
    "TaskadeClient",
    "TaskadeError",
    "TransportError",
    "__version__",
    "add_tree_columns",
    "ancestors",
    "children",
    "completion_history",
    "completion_summary",
    "default_client",
    "diff_snapshots",
    "export_all",
    "export_space",
    "list_snapshots",
    "load_agents",
    "load_blocks",
    "load_conversations",
    "load_fields",
    "load_folders",
    "load_media",
    "load_members",
    "load_messages",
    "load_my_projects",
    "load_projects",
    "load_space",
    "load_spaces",
    "load_task_details",
    "load_tasks",
    "load_templates",
    "parse_markdown_outline",
    "persist_prompt_history",
    "prompt_agent",
    "prompt_history",
    "prune_snapshots",
    "read_export",
    "subtree",
    "to_markdown_outline",
    "use_client",
]

if TYPE_CHECKING:  # pragma: no cover
    from .completion import completion_summary
    from .details import TaskDetails, load_task_details
    from .export import ExportError, ExportResult, export_all, export_space
    from .history import PromptReply, persist_prompt_history, prompt_history
    from .loaders import (
        load_agents,
        load_blocks,
        load_conversations,
        load_fields,
        load_folders,
        load_media,
        load_members,
        load_messages,
        load_my_projects,
        load_projects,
        load_spaces,
        load_tasks,
        load_templates,
        prompt_agent,
    )
    from .snapshots import (
        completion_history,
        diff_snapshots,
        list_snapshots,
        load_space,
        prune_snapshots,
        read_export,
    )
    from .space import SpaceFrames
    from .trees import (
        TaskNotFoundError,
        add_tree_columns,
        ancestors,
        children,
        parse_markdown_outline,
        subtree,
        to_markdown_outline,
    )


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'taskade_frames' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext taskade_frames``: register the ``%%taskade`` agent magic."""
    from .magic import load_ipython_extension as _load

    _load(ipython)
