"""Notebook widgets: a space/folder/project picker and an agent prompt box (ipywidgets).

Both widgets call the loaders, never the HTTP layer, and show every failure (no
token, 403, 402, 429, 5xx) as one readable line inside the widget instead of a
traceback. With no client given and no token in the environment, they ask for a
token in a password field; it is kept in memory only (see ``_notebook.use_client``).

    >>> picker = ProjectPicker(client)  # doctest: +SKIP
    >>> picker  # choose a space, then a project  # doctest: +SKIP
    >>> picker.value.project_id  # doctest: +SKIP
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import ipywidgets as widgets
import pandas as pd
import traitlets
from IPython.display import Markdown

from . import history, loaders
from ._notebook import EMULATOR_HINT, describe_error, resolve_client, use_client
from .client import TaskadeClient
from .errors import ConfigurationError, TaskadeError
from .history import PromptReply
from .ids import parse_link

__all__ = [
    "AgentPrompt",
    "ProjectChoice",
    "ProjectPicker",
    "TokenPrompt",
    "parse_project_ref",
    "use_client",
]

#: The folder option that stands for "every project of the space" (see ProjectPicker).
ALL_FOLDERS = "(all folders)"
#: The folder option for the space's home folder (projects in no folder; its id is the space's).
HOME_FOLDER = "(home folder)"
_ALL = "\x00all-folders"

_ERROR_STYLE = "color:#b3261e"
_BUSY_STYLE = "color:#6b6b6b"
_WIDE = widgets.Layout(width="min(100%, 36em)")


def _line(text: str, style: str = "") -> str:
    escaped = html.escape(text)
    return f'<span style="{style}">{escaped}</span>' if style else f"<span>{escaped}</span>"


def _options(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """``(label, id)`` options from a frame with ``id`` and ``name`` (no name: the id)."""
    out = []
    for ident, name in zip(frame["id"].tolist(), frame["name"].tolist(), strict=True):
        label = ident if name is None or name is pd.NA or not str(name).strip() else str(name)
        out.append((label, ident))
    return out


def parse_project_ref(text: str) -> str | None:
    """The project id in a pasted Taskade link or a bare id; ``None`` if there is none.

    The parser is ``taskade_frames.ids.parse_link``, shared with every loader
    and CLI option; a link to anything but a project gives ``None``.

    >>> parse_project_ref("https://www.taskade.com/d/Abc123XyZ?view=list")
    'Abc123XyZ'
    >>> parse_project_ref("  Abc123XyZ ")
    'Abc123XyZ'
    >>> parse_project_ref("https://www.taskade.com/settings") is None
    True
    """
    found = parse_link(text)
    if found is None or found[0] not in (None, "project"):
        return None
    return found[1]


class TokenPrompt(widgets.VBox):
    """A password field asking for a Taskade API token, with a hint about the emulator.

    The token is read once when *Connect* is pressed (or Enter), the field is
    cleared at once, and the token lives on only inside the client it builds, in
    memory: it is never echoed, never put into an output or the notebook's widget
    state. The client becomes the session client, so other widgets reuse it.

    Args:
        on_client: called with the new ``TaskadeClient``.
        base_url: default ``TASKADE_API_URL``, then Taskade.
    """

    def __init__(
        self,
        on_client: Callable[[TaskadeClient], None] | None = None,
        *,
        base_url: str | None = None,
        **kwargs: Any,
    ):
        self._on_client = on_client
        self._base_url = base_url
        self.client: TaskadeClient | None = None
        self.token = widgets.Password(
            description="API token",
            placeholder="paste a Taskade personal token",
            continuous_update=False,  # one message on Enter or blur, not one per keystroke
            layout=_WIDE,
        )
        self.connect_button = widgets.Button(description="Connect", button_style="primary")
        self.message = widgets.HTML(
            _line(
                "No Taskade API token in the environment (TASKADE_API_TOKEN). Paste one: "
                "it stays in memory only and is never saved in the notebook."
            )
        )
        self.hint = widgets.HTML(_line(EMULATOR_HINT, _BUSY_STYLE))
        self.connect_button.on_click(lambda _b: self.connect())
        self.token.observe(self._on_token, names="value")
        super().__init__(
            [self.message, widgets.HBox([self.token, self.connect_button]), self.hint], **kwargs
        )

    def _on_token(self, change: dict[str, Any]) -> None:
        if change["new"]:
            self.connect()

    def connect(self) -> TaskadeClient | None:
        """Build and check a client from the field's token; ``None`` (and a message) if unusable.

        The check is one ``listSpaces`` call, so a mistyped token is caught here,
        next to the field, rather than later in the widget.
        """
        token = self.token.value.strip()
        self.token.value = ""  # the field never holds the token longer than this call
        if not token:
            if self.client is None:
                self.message.value = _line("Paste a token first.", _ERROR_STYLE)
            return self.client
        try:
            client = TaskadeClient(token, base_url=self._base_url)
        except (ConfigurationError, ValueError, TypeError) as exc:  # never echoes the token
            self.message.value = _line(describe_error(exc), _ERROR_STYLE)
            return None
        try:
            client.call("listSpaces")
        except TaskadeError as exc:
            client.close()
            self.message.value = _line(describe_error(exc), _ERROR_STYLE)
            return None
        self.client = client
        use_client(client)
        self.message.value = _line("Connected. The token is kept in memory only.")
        if self._on_client is not None:
            self._on_client(client)
        return client


class _ClientWidget(widgets.VBox):
    """A VBox that finds its client, or shows a TokenPrompt until it has one."""

    _muted = 0

    def _mute(self) -> _Mute:
        """While active, the widget ignores its own dropdown events (options being rebuilt)."""
        return _Mute(self)

    def _setup_client(self, client: TaskadeClient | None) -> None:
        self.token_prompt: TokenPrompt | None = None
        try:
            self.client: TaskadeClient | None = resolve_client(client)
        except ConfigurationError:
            self.client = None
            self.token_prompt = TokenPrompt(self._connected)

    def _connected(self, client: TaskadeClient) -> None:
        self.client = client
        if self.token_prompt is not None:
            self.token_prompt.layout.display = "none"
        self._set_enabled(True)
        self._start()

    def _set_enabled(self, enabled: bool) -> None:
        raise NotImplementedError

    def _start(self) -> None:
        raise NotImplementedError

    def _require_client(self) -> TaskadeClient:
        if self.client is None:
            raise ConfigurationError("no API token yet: paste one in the field above")
        return self.client


class _Mute:
    def __init__(self, owner: _ClientWidget):
        self.owner = owner

    def __enter__(self) -> None:
        self.owner._muted += 1

    def __exit__(self, *exc: object) -> None:
        self.owner._muted -= 1


# -- picker ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ProjectChoice:
    """What a :class:`ProjectPicker` has chosen. ``folder_id`` is ``None`` for all folders."""

    space_id: str | None
    folder_id: str | None
    project_id: str | None
    project_name: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return asdict(self)


class ProjectPicker(_ClientWidget):
    """Space → folder → project dropdowns that load lazily, plus a box for a pasted link.

    Choosing a space loads its folders and projects; choosing a project loads its
    tasks and shows "42 tasks · 17 done (40%)". ``value`` is a :class:`ProjectChoice`
    (a traitlet: ``picker.observe(fn, names="value")``, or ``picker.on_change(fn)``).

    Folders: the project list holds every project of the space under "(all
    folders)"; choosing a folder (or the space's home folder) lists only the
    projects found in it (the ``folder_id`` column of ``load_projects``).

    Args:
        client: default: the session client, else one from the environment, else a
            token field appears.
        space_id: a space to select at start (default: the first one).
        project_id: a project to select at start (as if its id were pasted).
        stats: load the chosen project's tasks to show counts (and cache them for
            :meth:`tasks`).

    >>> picker = ProjectPicker(client)  # doctest: +SKIP
    >>> picker.space.value = "SPACE_ID"; picker.project.value = "PROJECT_ID"  # doctest: +SKIP
    >>> picker.value.project_id, picker.status.value  # doctest: +SKIP
    ('PROJECT_ID', '<span>42 tasks · 17 done (40%)</span>')
    """

    value = traitlets.Instance(ProjectChoice, allow_none=True, default_value=None)

    def __init__(
        self,
        client: TaskadeClient | None = None,
        *,
        space_id: str | None = None,
        project_id: str | None = None,
        stats: bool = True,
        **kwargs: Any,
    ):
        self.space = widgets.Dropdown(description="Space", options=[], value=None, layout=_WIDE)
        self.folder = widgets.Dropdown(description="Folder", options=[], value=None, layout=_WIDE)
        self.project = widgets.Dropdown(description="Project", options=[], value=None, layout=_WIDE)
        self.link = widgets.Text(
            description="Paste link",
            placeholder="https://www.taskade.com/d/… or an id, then Enter",
            continuous_update=False,
            layout=_WIDE,
        )
        self.status = widgets.HTML(_line(""))
        self.note = widgets.HTML("")
        self._stats = stats
        self._folders: dict[str, list[tuple[str, str]]] = {}
        self._projects: dict[str, pd.DataFrame] = {}
        self._tasks: dict[str, pd.DataFrame] = {}
        self._initial = (space_id, project_id)
        self._setup_client(client)
        children: list[widgets.Widget] = [
            self.space,
            self.folder,
            self.project,
            self.link,
            self.status,
            self.note,
        ]
        if self.token_prompt is not None:
            children.insert(0, self.token_prompt)
        super().__init__(children, **kwargs)
        self.space.observe(self._on_space, names="value")
        self.folder.observe(self._on_folder, names="value")
        self.project.observe(self._on_project, names="value")
        self.link.observe(self._on_link, names="value")
        if self.client is None:
            self._set_enabled(False)
            self._say("Waiting for an API token.")
        else:
            self._start()

    # -- public --------------------------------------------------------------------

    def on_change(self, callback: Callable[[ProjectChoice | None], None]) -> None:
        """Call ``callback(choice)`` whenever ``value`` changes."""
        self.observe(lambda change: callback(change["new"]), names="value")

    def tasks(self) -> pd.DataFrame:
        """The chosen project's tasks (``load_tasks``), cached from when it was chosen.

        Raises:
            ValueError: no project is chosen.
        """
        choice = self.value
        if choice is None or choice.project_id is None:
            raise ValueError("no project chosen yet")
        pid = choice.project_id
        if pid not in self._tasks:
            self._tasks[pid] = loaders.load_tasks(pid, self._require_client())
        return self._tasks[pid]

    def refresh(self) -> None:
        """Forget what was loaded and reload the spaces, keeping the choice where possible."""
        keep = self.value
        self._folders.clear()
        self._projects.clear()
        self._tasks.clear()
        self._initial = (keep.space_id if keep else None, keep.project_id if keep else None)
        self._start()

    def select(self, ref: str) -> ProjectChoice | None:
        """Select a project from a pasted link or id, as typing it into the box does."""
        pid = parse_project_ref(ref)
        if pid is None:
            self._error(f"Not a Taskade project link or id: {ref.strip()[:80]!r}")
            return None
        return self._select_project(pid)

    def select_first(self) -> ProjectChoice | None:
        """Select the first project listed (what clicking the first entry does).

        For notebooks run top to bottom, where nobody clicks. Returns the choice,
        or ``None`` (and a status line) when the list is empty.

        >>> picker.select_first().project_id  # doctest: +SKIP
        """
        options = self.project.options
        if not options:
            self._error("No project to select here.")
            return None
        first = options[0][1]
        if self.project.value == first:
            self._show_stats(first)  # no change event will come; refresh the status line
        else:
            self.project.value = first
        return self.value

    # -- steps ---------------------------------------------------------------------

    def _start(self) -> None:
        space_id, project_id = self._initial
        self._initial = (None, None)
        spaces = self._guard(
            "Loading spaces…", lambda: _options(loaders.load_spaces(self._require_client()))
        )
        if spaces is None:
            return
        with self._mute():
            self.space.options = spaces
            self.space.value = None
        if not spaces:
            self._say("This token sees no spaces.")
            return
        ids = [ident for _, ident in spaces]
        self._say("")
        self.space.value = space_id if space_id in ids else ids[0]
        if project_id:
            self._select_project(project_id)

    def _on_space(self, change: dict[str, Any]) -> None:
        if self._muted:
            return
        self._show_space(change["new"])

    def _show_space(self, space_id: str | None) -> None:
        with self._mute():
            self.folder.options = []
            self.folder.value = None
            self.project.options = []
            self.project.value = None
        self.note.value = ""
        if space_id is None:
            self._set_value(None, None, None)
            return
        client = self._require_client()
        if space_id not in self._folders:
            folders = self._guard(
                "Loading folders…", lambda: _options(loaders.load_folders(space_id, client))
            )
            if folders is None:
                self._set_value(space_id, None, None)
                return
            self._folders[space_id] = folders
        if space_id not in self._projects:
            frame = self._guard(
                "Loading projects…", lambda: loaders.load_projects(space_id, client)
            )
            if frame is None:
                self._set_value(space_id, None, None)
                return
            self._projects[space_id] = frame
        projects = _options(self._projects[space_id])
        with self._mute():
            self.folder.options = [
                (ALL_FOLDERS, _ALL),
                (HOME_FOLDER, space_id),
                *self._folders[space_id],
            ]
            self.folder.value = _ALL
            self.project.options = projects
            self.project.value = None
        n = len(projects)
        self._say(
            f"{n} project{'s' if n != 1 else ''} in this space. Choose one."
            if n
            else "This space has no projects."
        )
        self._set_value(space_id, None, None)

    def _on_folder(self, change: dict[str, Any]) -> None:
        if self._muted:
            return
        folder = change["new"]
        frame = self._projects.get(self.space.value)
        if frame is not None:
            if folder not in (None, _ALL):
                frame = frame[frame["folder_id"] == folder]
            options = _options(frame)
            keep = self.project.value if any(i == self.project.value for _, i in options) else None
            with self._mute():
                self.project.options = options
                self.project.value = keep
            n = len(options)
            self._say(
                f"{n} project{'s' if n != 1 else ''} here." if n else "No project in this folder."
            )
        current = self.value
        pid = self.project.value
        self._set_value(
            self.space.value, pid, current.project_name if current and pid is not None else None
        )

    def _on_project(self, change: dict[str, Any]) -> None:
        if self._muted:
            return
        pid = change["new"]
        name = self.project.label if pid is not None else None
        self._set_value(self.space.value, pid, name)
        if pid is not None:
            self._show_stats(pid)
        else:
            self._say("")

    def _on_link(self, change: dict[str, Any]) -> None:
        if change["new"].strip():
            self.select(change["new"])

    def _select_project(self, pid: str) -> ProjectChoice | None:
        client = self._require_client()
        item = self._guard(
            "Looking up the project…", lambda: client.call("getProject", projectId=pid)["item"]
        )
        if item is None:
            return None
        space_id = self._find_space(pid)
        if space_id is None:
            # A project shared with this token but in none of its spaces: keep the
            # dropdowns empty rather than show a space the project is not in.
            with self._mute():
                self.space.value = None
                self.folder.options = []
                self.folder.value = None
                self.project.options = [(item.get("name") or pid, pid)]
                self.project.value = pid
            self._set_value(None, pid, item.get("name"))
            self._show_stats(pid)
            return self.value
        if self.space.value != space_id:
            self.space.value = space_id
        if not any(ident == pid for _, ident in self.project.options):
            self.folder.value = _ALL  # a folder filter hides it: show every folder again
        if self.project.value == pid:
            self._show_stats(pid)  # no change event will come; refresh the status line
        else:
            self.project.value = pid
        return self.value

    def _find_space(self, pid: str) -> str | None:
        """The space listing ``pid``: the selected space first, then the others."""
        ids = [ident for _, ident in self.space.options]
        if self.space.value in ids:
            ids.remove(self.space.value)
            ids.insert(0, self.space.value)
        client = self._require_client()
        for space_id in ids:
            if space_id not in self._projects:
                try:
                    self._projects[space_id] = loaders.load_projects(space_id, client)
                except TaskadeError:
                    continue  # a space we cannot list cannot be the one
            if (self._projects[space_id]["id"] == pid).any():
                return space_id
        return None

    def _show_stats(self, pid: str) -> None:
        if not self._stats:
            self._say("")
            return
        client = self._require_client()
        if pid not in self._tasks:
            tasks = self._guard("Loading tasks…", lambda: loaders.load_tasks(pid, client))
            if tasks is None:
                return
            self._tasks[pid] = tasks
        tasks = self._tasks[pid]
        if self.project.value != pid:
            return  # the user moved on while the tasks loaded
        n = len(tasks)
        done = int(tasks["completed"].fillna(False).sum())
        share = f" ({done / n:.0%})" if n else ""
        self._say(f"{n} task{'s' if n != 1 else ''} · {done} done{share}")

    # -- plumbing ------------------------------------------------------------------

    def _set_value(self, space_id: str | None, pid: str | None, name: str | None) -> None:
        folder = self.folder.value
        self.value = ProjectChoice(
            space_id=space_id,
            folder_id=None if folder in (None, _ALL) else folder,
            project_id=pid,
            project_name=name,
        )

    def _set_enabled(self, enabled: bool) -> None:
        for w in (self.space, self.folder, self.project, self.link):
            w.disabled = not enabled

    def _guard(self, busy: str, fn: Callable[[], Any]) -> Any:
        """Run one load with a busy line; on failure show the message and return None."""
        self._say(busy, _BUSY_STYLE)
        try:
            return fn()
        except (TaskadeError, ValueError, KeyError, TypeError) as exc:
            self._error(describe_error(exc))
            return None

    def _say(self, text: str, style: str = "") -> None:
        self.status.value = _line(text, style)

    def _error(self, text: str) -> None:
        self._say(text, _ERROR_STYLE)


# -- agent prompt ------------------------------------------------------------------------


class AgentPrompt(_ClientWidget):
    """Space and agent dropdowns, a prompt box and a Send button; replies as Markdown.

    Send runs ``prompt_agent`` in a background thread (one at a time per widget), so
    the notebook's other widgets stay responsive: meanwhile the button is disabled
    and the status line says "Sending…". Each exchange, failed or not, is added to
    :meth:`history_frame` and to the session's ``taskade_frames.prompt_history()``.
    A failure (402, 429, 5xx...) is shown as one line such as "Out of credits: …".
    The prompt box is never cleared, after a failure or a success, so nothing typed
    is lost and a prompt can be tweaked and sent again.

    Args:
        client: as for :class:`ProjectPicker`.
        space_id, agent_id: what to select at start (default: the first ones).
        background: send in a thread (default); ``False`` sends in the caller's
            thread, and :meth:`send` returns the reply itself.
        show_history: start with the exchanges already sent this session (by any
            widget, ``%%taskade`` or ``prompt_agent``) shown above the new ones.

    Each exchange is a :class:`~taskade_frames.history.PromptReply` (the reply text,
    with ``time``, ``latency_s``, ``error``...). Tests and scripts wait for a send
    with :meth:`wait`:

    >>> box = AgentPrompt(client)  # doctest: +SKIP
    >>> box.prompt.value = "What is overdue?"; box.send_button.click()  # doctest: +SKIP
    >>> print(box.wait())  # doctest: +SKIP
    """

    def __init__(
        self,
        client: TaskadeClient | None = None,
        *,
        space_id: str | None = None,
        agent_id: str | None = None,
        background: bool = True,
        show_history: bool = False,
        **kwargs: Any,
    ):
        self.space = widgets.Dropdown(description="Space", options=[], value=None, layout=_WIDE)
        self.agent = widgets.Dropdown(description="Agent", options=[], value=None, layout=_WIDE)
        self.prompt = widgets.Textarea(
            description="Prompt",
            placeholder="Ask the agent… (Markdown is fine)",
            rows=4,
            layout=_WIDE,
        )
        self.send_button = widgets.Button(
            description="Send", button_style="primary", tooltip="Send the prompt to the agent"
        )
        self.status = widgets.HTML(_line(""))
        self.reply = widgets.Output()
        self.background = background
        self.last_future: Future[PromptReply] | None = None
        self._records: list[PromptReply] = []
        self._lock = threading.Lock()
        self._busy = False
        self._pool: ThreadPoolExecutor | None = None
        self._initial = (space_id, agent_id)
        self._want_agent: str | None = None
        self._setup_client(client)
        children: list[widgets.Widget] = [
            self.space,
            self.agent,
            self.prompt,
            self.send_button,
            self.status,
            self.reply,
        ]
        if self.token_prompt is not None:
            children.insert(0, self.token_prompt)
        super().__init__(children, **kwargs)
        self.space.observe(self._on_space, names="value")
        self.send_button.on_click(lambda _b: self.send())
        if show_history:
            self._records = history.session_replies()
            for earlier in self._records:
                if earlier.ok:
                    self.reply.append_display_data(Markdown(_exchange_markdown(earlier)))
        if self.client is None:
            self._set_enabled(False)
            self._say("Waiting for an API token.")
        else:
            self._start()

    # -- public --------------------------------------------------------------------

    def send(self, prompt: str | None = None) -> Future[PromptReply] | PromptReply | None:
        """Send ``prompt`` (default: the prompt box) to the selected agent.

        Returns the reply (``background=False``) or its future (in the background),
        a failed reply when the call failed, or ``None`` when nothing was sent (busy,
        or no agent or prompt; the status says why).
        """
        text = self.prompt.value if prompt is None else prompt
        space_id, agent_id = self.space.value, self.agent.value
        with self._lock:
            if self._busy:
                return None
            problem = None
            if self.client is None:
                problem = "Paste an API token first."
            elif space_id is None or agent_id is None:
                problem = "Choose a space and an agent first."
            elif not text.strip():
                problem = "Type a prompt first."
            if problem:
                self._say(problem, _ERROR_STYLE)
                return None
            self._busy = True
        request = {
            "space_id": space_id,
            "space": self.space.label,
            "agent_id": agent_id,
            "agent": self.agent.label,
            "prompt": text,
        }
        self.send_button.disabled = True
        self._say(f"Sending… ({request['agent']} is thinking)", _BUSY_STYLE)
        if self.background:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix="taskade-agent-prompt"
                )
            future = self._pool.submit(self._exchange, request)
            self.last_future = future
            return future
        done: Future[PromptReply] = Future()
        done.set_result(self._exchange(request))
        self.last_future = done
        return done.result()

    def wait(self, timeout: float | None = 60.0) -> PromptReply | None:
        """Block until the last send has finished; return its reply (or ``None``).

        Raises:
            TimeoutError: it did not finish within ``timeout`` seconds.
        """
        future = self.last_future
        if future is None:
            return None
        return future.result(timeout=timeout)

    @property
    def busy(self) -> bool:
        """True while a prompt is in flight."""
        return self._busy

    @property
    def history(self) -> pd.DataFrame:
        """Every exchange so far (see :meth:`history_frame`)."""
        return self.history_frame()

    def history_frame(self) -> pd.DataFrame:
        """One row per exchange shown here: time (UTC), space, agent, prompt, reply,
        latency_s, error (the columns of ``taskade_frames.prompt_history()``)."""
        with self._lock:
            rows = list(self._records)
        return history.to_frame(rows)

    @property
    def last_reply(self) -> PromptReply | None:
        """The last successful reply."""
        with self._lock:
            for record in reversed(self._records):
                if record.ok:
                    return record
        return None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None
        super().close()

    # -- steps ---------------------------------------------------------------------

    def _start(self) -> None:
        space_id, agent_id = self._initial
        self._initial = (None, None)
        spaces = self._guard(lambda: _options(loaders.load_spaces(self._require_client())))
        if spaces is None:
            return
        with self._mute():
            self.space.options = spaces
            self.space.value = None
        ids = [ident for _, ident in spaces]
        if not ids:
            self._say("This token sees no spaces.")
            return
        self._want_agent = agent_id
        self.space.value = space_id if space_id in ids else ids[0]

    def _on_space(self, change: dict[str, Any]) -> None:
        if self._muted:
            return
        space_id = change["new"]
        self.agent.options = []
        self.agent.value = None
        if space_id is None:
            return
        self._say("Loading agents…", _BUSY_STYLE)
        agents = self._guard(
            lambda: _options(loaders.load_agents(space_id, self._require_client()))
        )
        if agents is None:
            return
        self.agent.options = agents
        ids = [ident for _, ident in agents]
        want, self._want_agent = self._want_agent, None
        self.agent.value = want if want in ids else (ids[0] if ids else None)
        self._say("" if ids else "This space has no agents.")

    def _exchange(self, request: dict[str, Any]) -> PromptReply:
        """One prompt, start to end; runs in the worker thread and never raises."""
        try:
            record = loaders.prompt_agent(
                request["space_id"],
                request["agent_id"],
                request["prompt"],
                self._require_client(),
                space_name=request["space"],
                agent_name=request["agent"],
                on_error="return",
            )
        except Exception as exc:  # an argument refused before sending: shown, never lost
            record = PromptReply(
                "",
                prompt=request["prompt"],
                space_id=request["space_id"],
                agent_id=request["agent_id"],
                space=request["space"],
                agent=request["agent"],
                error=describe_error(exc),
            )
        with self._lock:
            self._records.append(record)
        try:
            if record.ok:
                self.reply.append_display_data(Markdown(_exchange_markdown(record)))
                self._say(f"Reply from {request['agent']} in {record.latency_s:.2f} s.")
            else:
                self._say(record.error or "", _ERROR_STYLE)
        finally:
            self.send_button.disabled = False
            with self._lock:
                self._busy = False
        return record

    # -- plumbing ------------------------------------------------------------------

    def _set_enabled(self, enabled: bool) -> None:
        for w in (self.space, self.agent, self.prompt, self.send_button):
            w.disabled = not enabled

    def _guard(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except (TaskadeError, ValueError) as exc:
            self._say(describe_error(exc), _ERROR_STYLE)
            return None

    def _say(self, text: str, style: str = "") -> None:
        self.status.value = _line(text, style)


def _exchange_markdown(record: PromptReply) -> str:
    """The prompt as a quote, then who answered and how fast, then the reply itself."""
    quoted = "\n".join(
        f"> {line}" if line.strip() else ">" for line in record.prompt.strip().splitlines()
    )
    who = record.agent or record.agent_id
    return f"{quoted}\n\n**{who}** · {record.latency_s:.2f} s\n\n{record.text}\n\n---"
