"""The IPython extension: ``%%taskade`` sends a cell to an agent, replies come back as Markdown.

``%load_ext taskade_frames`` registers one magic, usable two ways:

* ``%taskade --space SPACE_ID --agent AGENT_ID [--client NAME]`` (line) sets defaults
  for the session and prints them;
* ``%%taskade [--space ...] [--agent ...] [--client NAME] [--max-rows N] [--out NAME]
  [--dry-run]`` (cell) interpolates ``{name}`` / ``{name.attr}`` from the user namespace
  into the cell (a DataFrame or Series becomes a compact Markdown table), sends it with
  ``prompt_agent`` and returns the reply as Markdown (an ``AgentReply``). ``--out NAME``
  keeps a frame in the variable ``NAME``: one row per cell sent with that name, the
  newest last, failures included (the columns of ``taskade_frames.prompt_history()``,
  which holds every exchange of the session). ``{{name}}`` keeps the braces.

IPython is imported here; ``import taskade_frames`` never imports this module.

``--client NAME`` names a ``TaskadeClient`` in the namespace; without one the
session client (a widget's token field, ``use_client``) or the environment's token
is used. Failures raise ``UsageError`` with one plain line ("Out of credits: ..."),
which IPython shows without a traceback.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pandas as pd
from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import Markdown

from ._notebook import describe_error, resolve_client
from .client import TaskadeClient
from .errors import ConfigurationError
from .history import PromptReply, to_frame
from .loaders import prompt_agent

__all__ = [
    "AgentReply",
    "TaskadeMagics",
    "frame_to_markdown",
    "interpolate",
    "load_ipython_extension",
    "unload_ipython_extension",
]

DEFAULT_MAX_ROWS = 20
MAX_COLUMNS = 12
MAX_CELL_CHARS = 60

_NAME = r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*"
_FIELD = re.compile(r"\{\{(" + _NAME + r")\}\}|\{(" + _NAME + r")\}")


# -- DataFrame -> Markdown ---------------------------------------------------------------


def _cell(value: Any, width: int) -> str:
    if value is None or (not isinstance(value, list | tuple | dict) and pd.isna(value)):
        return ""
    if isinstance(value, float):
        text = f"{value:.4g}"
    elif isinstance(value, pd.Timestamp):
        text = value.isoformat(timespec="seconds")
    else:
        text = str(value)
    text = " ".join(text.split())
    if len(text) > width:
        text = text[: width - 1].rstrip() + "…"
    return text.replace("\\", "\\\\").replace("|", "\\|")


def frame_to_markdown(
    data: Any,
    max_rows: int = DEFAULT_MAX_ROWS,
    *,
    max_columns: int = MAX_COLUMNS,
    max_cell_chars: int = MAX_CELL_CHARS,
) -> str:
    """A compact GitHub-style Markdown table of a DataFrame or Series.

    The first ``max_rows`` rows and ``max_columns`` columns are kept and a final
    line says what was left out; cells are one line, cut at ``max_cell_chars``;
    numbers are right-aligned; a non-default index becomes the first column.

    >>> import pandas as pd
    >>> print(frame_to_markdown(pd.DataFrame({"task": ["a|b", "c"], "done": [1, 0]})))
    | task | done |
    | --- | ---: |
    | a\\|b | 1 |
    | c | 0 |
    """
    if isinstance(data, pd.Series):
        data = data.to_frame(name=data.name if data.name is not None else "value")
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"expected a DataFrame or Series, got {type(data).__name__}")
    if max_rows < 1:
        raise ValueError("max_rows must be at least 1")
    df = data
    if not isinstance(df.index, pd.RangeIndex) or df.index.name is not None:
        df = df.reset_index()
    n_rows, n_cols = df.shape
    shown = df.iloc[:max_rows, :max_columns]
    names = [str(c) for c in shown.columns]
    numeric = [
        pd.api.types.is_numeric_dtype(shown[c]) and not pd.api.types.is_bool_dtype(shown[c])
        for c in shown.columns
    ]
    lines = [
        "| " + " | ".join(_cell(n, max_cell_chars) for n in names) + " |",
        "| " + " | ".join("---:" if num else "---" for num in numeric) + " |",
    ]
    for row in shown.itertuples(index=False, name=None):
        lines.append("| " + " | ".join(_cell(v, max_cell_chars) for v in row) + " |")
    notes = []
    if n_rows == 0:
        notes.append("no rows")
    elif n_rows > max_rows:
        notes.append(f"first {max_rows} of {n_rows} rows")
    if n_cols > max_columns:
        notes.append(f"first {max_columns} of {n_cols} columns")
    if notes:
        lines.append("")
        lines.append(f"_({'; '.join(notes)})_")
    return "\n".join(lines)


# -- {name} interpolation ----------------------------------------------------------------


def _lookup(dotted: str, namespace: Mapping[str, Any]) -> Any:
    head, *attrs = dotted.split(".")
    value = namespace[head]
    for attr in attrs:
        value = getattr(value, attr)
    return value


def _render(value: Any, max_rows: int) -> str:
    if isinstance(value, pd.DataFrame | pd.Series):
        return "\n\n" + frame_to_markdown(value, max_rows) + "\n\n"
    return str(value)


def interpolate(text: str, namespace: Mapping[str, Any], max_rows: int = DEFAULT_MAX_ROWS) -> str:
    """Replace ``{name}`` and ``{name.attr}`` in ``text`` with values from ``namespace``.

    DataFrames and Series become Markdown tables (see :func:`frame_to_markdown`),
    anything else ``str(value)``. ``{{name}}`` is left as ``{name}``. Braces around
    anything that is not a dotted name (JSON, code) are left alone.

    Raises:
        KeyError: a name that is not defined (the message lists them all).

    >>> interpolate("Hi {who}, keep {{this}}; {'json': 1}", {"who": "Ada"})
    "Hi Ada, keep {this}; {'json': 1}"
    """
    missing: list[str] = []

    def replace(match: re.Match[str]) -> str:
        escaped, dotted = match.group(1), match.group(2)
        if escaped is not None:
            return "{" + escaped + "}"
        try:
            return _render(_lookup(dotted, namespace), max_rows)
        except (KeyError, AttributeError):
            missing.append(dotted)
            return match.group(0)

    # A table brings its own blank lines; do not stack them on the cell's.
    out = re.sub(r"\n{3,}", "\n\n", _FIELD.sub(replace, text))
    if missing:
        raise KeyError(
            f"not defined: {', '.join(dict.fromkeys(missing))} (write {{{{name}}}} to send "
            "the braces literally)"
        )
    return out.strip()


# -- the magic ---------------------------------------------------------------------------


class AgentReply(Markdown):
    """An agent's reply: Markdown in a notebook, plain text in a terminal.

    ``text`` is the reply; ``prompt``, ``space_id``, ``agent_id``, ``time`` and
    ``latency_s`` say what was sent where and how long it took; ``result`` is the
    :class:`~taskade_frames.history.PromptReply` that ``prompt_agent`` returned.
    """

    def __init__(self, result: PromptReply):
        super().__init__(result.text)
        self.result = result
        self.prompt = result.prompt
        self.space_id = result.space_id
        self.agent_id = result.agent_id
        self.time = result.time
        self.latency_s = result.latency_s

    @property
    def text(self) -> str:
        return str(self.data)

    def __repr__(self) -> str:
        return self.text


@magics_class
class TaskadeMagics(Magics):
    """``%taskade`` (set the session's defaults) and ``%%taskade`` (send the cell)."""

    def __init__(self, shell: Any = None):
        super().__init__(shell)
        self.space_id: str | None = None
        self.agent_id: str | None = None
        self.client_name: str | None = None
        self.max_rows = DEFAULT_MAX_ROWS

    @line_cell_magic
    @magic_arguments()
    @argument("--space", "-s", help="space id (the agent's space)")
    @argument("--agent", "-a", help="agent id")
    @argument("--client", "-c", help="name of a TaskadeClient in the user namespace")
    @argument("--max-rows", type=int, help=f"DataFrame rows to send (default {DEFAULT_MAX_ROWS})")
    @argument("--out", "-o", help="append the exchange to a history frame in this variable")
    @argument(
        "--dry-run",
        action="store_true",
        help="return the prompt that would be sent, without sending it",
    )
    def taskade(self, line: str, cell: str | None = None) -> Any:
        """Send the cell to a Taskade agent; as a line magic, set the defaults.

        ``{name}`` in the cell is replaced by the variable's value; a DataFrame is
        sent as a Markdown table of its first rows.
        """
        args = parse_argstring(self.taskade, line)
        if cell is None:
            return self._configure(args)
        space_id = args.space or self.space_id
        agent_id = args.agent or self.agent_id
        max_rows = args.max_rows or self.max_rows
        try:
            prompt = interpolate(cell, self._user_ns, max_rows)
        except KeyError as exc:
            raise UsageError(exc.args[0]) from None
        if not prompt:
            raise UsageError("the cell is empty: write the prompt below %%taskade")
        if args.dry_run:
            return Markdown(prompt)
        if not space_id or not agent_id:
            raise UsageError(
                "no agent chosen: pass --space SPACE_ID --agent AGENT_ID, or set defaults "
                "with `%taskade --space SPACE_ID --agent AGENT_ID`"
            )
        client = self._client(args.client or self.client_name)
        try:
            result = prompt_agent(space_id, agent_id, prompt, client, on_error="return")
        except ValueError as exc:
            raise UsageError(describe_error(exc)) from None
        if args.out:
            self._keep(args.out, result)
        if not result.ok:
            raise UsageError(result.error)
        return AgentReply(result)

    def _keep(self, name: str, result: PromptReply) -> None:
        """Append the exchange to the history frame in ``name`` (a new one if it holds none)."""
        kept = self._user_ns.get(name)
        row = to_frame([result])
        if isinstance(kept, pd.DataFrame) and list(kept.columns) == list(row.columns):
            row = pd.concat([kept, row], ignore_index=True)
        self._user_ns[name] = row

    @property
    def _user_ns(self) -> dict[str, Any]:
        if self.shell is None:
            raise UsageError("the taskade magic needs an IPython shell")
        return self.shell.user_ns

    def _configure(self, args: Any) -> None:
        if args.client is not None:
            self._client(args.client)  # fail now, not at the first send
            self.client_name = args.client
        self.space_id = args.space or self.space_id
        self.agent_id = args.agent or self.agent_id
        self.max_rows = args.max_rows or self.max_rows
        client = self.client_name or "from the session or environment"
        print(
            f"%%taskade sends to agent {self.agent_id or '(none)'} in space "
            f"{self.space_id or '(none)'}; client: {client}; "
            f"DataFrames up to {self.max_rows} rows."
        )

    def _client(self, name: str | None) -> TaskadeClient:
        if name is not None:
            value = self._user_ns.get(name)
            if value is None:
                raise UsageError(f"--client {name}: no such variable")
            if not isinstance(value, TaskadeClient):
                raise UsageError(f"--client {name}: a {type(value).__name__}, not a TaskadeClient")
            return value
        try:
            return resolve_client(None)
        except ConfigurationError as exc:
            # The client's own message already says how to get a token or use the emulator.
            raise UsageError(
                f"{describe_error(exc)} Or pass --client NAME, a TaskadeClient in the namespace."
            ) from None


def load_ipython_extension(ipython: Any) -> None:
    """Register ``%taskade`` / ``%%taskade`` (called by ``%load_ext taskade_frames``)."""
    ipython.register_magics(TaskadeMagics)


def unload_ipython_extension(ipython: Any) -> None:
    """Remove the magic again (``%unload_ext taskade_frames``)."""
    magics = ipython.magics_manager.magics
    for kind in ("line", "cell"):
        magics[kind].pop("taskade", None)
