"""The emulator's in-memory workspace: spaces, folders, projects and their tasks.

Everything the server answers comes from a :class:`Workspace`. Tasks live in a
:class:`TaskTable` per project: parallel columns in document order (pre-order,
a parent before its children), so a million tasks stay compact and a page of
``listTasks`` is a slice. The JSON form (``to_json``/``from_json``) is the format
of ``data_samples/workspace.json``.
"""

from __future__ import annotations

import copy
import json
import random
import string
import threading
from array import array
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from json.encoder import encode_basestring_ascii
from pathlib import Path
from types import EllipsisType
from typing import Any

FORMAT = "taskade-frames-emulator-workspace"
FORMAT_VERSION = 1

_ALNUM = string.ascii_letters + string.digits

# The morning after the sample's last edit: a fixed start keeps every run (and every
# date derived from the clock) reproducible; ``Workspace.advance`` moves it on.
CLOCK_START = datetime(2025, 8, 8, 9, 0, tzinfo=UTC)


def alnum_id(rng: random.Random, length: int = 16) -> str:
    """A Taskade-style id: ``length`` random letters and digits."""
    return "".join(rng.choices(_ALNUM, k=length))


def uuid_like(rng: random.Random) -> str:
    """A version-4-shaped UUID string drawn from ``rng`` (so it is reproducible)."""
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:]}"


class TaskTable:
    """Nodes of one project in document order, held as parallel columns.

    A million tasks as a million dicts would cost gigabytes; as columns of
    shared strings they cost a fraction, and a page is a slice. Depths are kept
    so that a subtree is always the contiguous run ``[i, subtree_end(i))``,
    which makes moves and deletes slice operations too. Blocks reuse the class
    with roots only.
    """

    __slots__ = ("_completed", "_depths", "_ids", "_index", "_parents", "_prefix", "_texts")

    def __init__(self) -> None:
        self._ids: list[str] = []
        self._texts: list[str] = []
        self._parents: list[str | None] = []
        self._depths = array("H")
        self._completed = bytearray()
        self._index: dict[str, int] | None = {}
        # Set while ids are still ``prefix + 12 hex digits of the position``
        # (fresh synthetic tables): then a cursor needs no million-entry dict.
        self._prefix: str | None = None

    @classmethod
    def from_columns(
        cls,
        ids: list[str],
        texts: list[str],
        parents: list[str | None],
        depths: Iterable[int],
        completed: bytes | bytearray,
        *,
        sequential_prefix: str | None = None,
    ) -> TaskTable:
        """Adopt ready-made columns (the generator's fast path); they must be pre-order.

        ``sequential_prefix`` promises that the id at position ``i`` is
        ``f"{prefix}{i:012x}"``, so lookups can parse ids instead of indexing them.
        """
        table = cls()
        table._prefix = sequential_prefix
        table._ids, table._texts, table._parents = ids, texts, parents
        table._depths = array("H", depths)
        table._completed = bytearray(completed)
        table._index = None
        if not (
            len(ids) == len(texts) == len(parents) == len(table._depths) == len(table._completed)
        ):
            raise ValueError("task columns differ in length")
        return table

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]]) -> TaskTable:
        """Build from ``{id, text, parentId?, completed}`` dicts in document order.

        Raises:
            ValueError: on a duplicate id or a parent that does not precede its
                child on the current branch (not pre-order).
        """
        table = cls()
        path: list[str] = []  # the ancestors of the next node, root first
        for record in records:
            task_id = str(record["id"])
            parent = record.get("parentId")
            if parent is None:
                depth = 0
            else:
                try:
                    depth = len(path) - path[::-1].index(parent)
                except ValueError:
                    raise ValueError(
                        f"task {task_id!r}: parent {parent!r} is not an ancestor on the "
                        "current branch (tasks must be in document order)"
                    ) from None
            del path[depth:]
            path.append(task_id)
            if task_id in table._index:  # type: ignore[operator]
                raise ValueError(f"duplicate task id {task_id!r}")
            table._index[task_id] = len(table._ids)  # type: ignore[index]
            table._ids.append(task_id)
            table._texts.append(str(record.get("text", "")))
            table._parents.append(parent)
            table._depths.append(depth)
            table._completed.append(1 if record.get("completed") else 0)
        return table

    def copy(self) -> TaskTable:
        """An independent table sharing the (immutable) strings."""
        return TaskTable.from_columns(
            list(self._ids),
            list(self._texts),
            list(self._parents),
            self._depths,
            self._completed,
            sequential_prefix=self._prefix,
        )

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, task_id: object) -> bool:
        if not isinstance(task_id, str):
            return False
        try:
            self.position(task_id)
        except KeyError:
            return False
        return True

    def _lookup(self) -> dict[str, int]:
        if self._index is None:
            self._index = {task_id: i for i, task_id in enumerate(self._ids)}
        return self._index

    def position(self, task_id: str) -> int:
        """Index of ``task_id`` in document order; ``KeyError`` if unknown."""
        prefix = self._prefix
        if prefix is not None and self._index is None:
            if len(task_id) == len(prefix) + 12 and task_id.startswith(prefix):
                try:
                    i = int(task_id[len(prefix) :], 16)
                except ValueError:
                    raise KeyError(task_id) from None
                if i < len(self._ids) and self._ids[i] == task_id:
                    return i
            raise KeyError(task_id)
        return self._lookup()[task_id]

    def id_at(self, i: int) -> str:
        return self._ids[i]

    def depth_at(self, i: int) -> int:
        return self._depths[i]

    def text_at(self, i: int) -> str:
        return self._texts[i]

    def parent_at(self, i: int) -> str | None:
        return self._parents[i]

    def completed_flags(self) -> bytes:
        """One byte per node in document order: 1 completed, 0 open (a copy)."""
        return bytes(self._completed)

    def subtree_end(self, i: int) -> int:
        """One past the last descendant of the node at ``i``."""
        depths, depth, n = self._depths, self._depths[i], len(self._ids)
        j = i + 1
        while j < n and depths[j] > depth:
            j += 1
        return j

    def records(self, start: int = 0, stop: int | None = None) -> list[dict[str, Any]]:
        """API-shaped dicts for ``[start, stop)``; ``parentId`` only on non-roots."""
        ids, texts, parents, done = self._ids, self._texts, self._parents, self._completed
        stop = len(ids) if stop is None else min(stop, len(ids))
        out: list[dict[str, Any]] = []
        append = out.append
        for i in range(max(start, 0), stop):
            parent = parents[i]
            if parent is None:
                append({"id": ids[i], "text": texts[i], "completed": done[i] == 1})
            else:
                append(
                    {"id": ids[i], "text": texts[i], "parentId": parent, "completed": done[i] == 1}
                )
        return out

    def encode(self, start: int = 0, stop: int | None = None) -> str:
        """The JSON array of :meth:`records` for ``[start, stop)``, built directly.

        About twice as fast as ``json.dumps`` on the dicts, and a page of tasks
        is the emulator's hottest response.
        """
        ids, texts, parents, done = self._ids, self._texts, self._parents, self._completed
        stop = len(ids) if stop is None else min(stop, len(ids))
        quote = encode_basestring_ascii
        parts: list[str] = []
        append = parts.append
        for i in range(max(start, 0), stop):
            parent = parents[i]
            flag = "true" if done[i] else "false"
            if parent is None:
                append(f'{{"id":{quote(ids[i])},"text":{quote(texts[i])},"completed":{flag}}}')
            else:
                append(
                    f'{{"id":{quote(ids[i])},"text":{quote(texts[i])},'
                    f'"parentId":{quote(parent)},"completed":{flag}}}'
                )
        return "[" + ",".join(parts) + "]"

    def open_texts(self, limit: int) -> tuple[int, list[str]]:
        """Count of open nodes and the texts of the first ``limit`` of them."""
        texts: list[str] = []
        i = self._completed.find(0)
        while i != -1 and len(texts) < limit:
            texts.append(self._texts[i])
            i = self._completed.find(0, i + 1)
        return self._completed.count(0), texts

    def max_depth(self) -> int:
        return max(self._depths, default=-1)

    def completed_count(self) -> int:
        return self._completed.count(1)

    def add(self, task_id: str, text: str, parent_id: str | None, completed: bool) -> None:
        """Insert as the last child of ``parent_id`` (or the last root)."""
        index = self._lookup()
        if task_id in index:
            raise ValueError(f"duplicate task id {task_id!r}")
        if parent_id is None:
            at, depth = len(self._ids), 0
        else:
            p = index[parent_id]
            at, depth = self.subtree_end(p), self._depths[p] + 1
        self._insert(
            at,
            [task_id],
            [text],
            [parent_id],
            array("H", [depth]),
            bytearray([1 if completed else 0]),
        )

    def extend(self, rows: Iterable[tuple[str, int, str, bool]]) -> None:
        """Append whole new root trees given in document order as
        ``(id, depth, text, completed)``; the fast path for outlines.

        Raises:
            ValueError: a row deeper than one below its predecessor, or a duplicate id.
        """
        self._prefix = None
        index = self._lookup()
        path: list[str] = []
        for task_id, depth, text, completed in rows:
            if depth > len(path) or depth < 0:
                raise ValueError(f"task {task_id!r}: depth {depth} skips a level")
            if task_id in index:
                raise ValueError(f"duplicate task id {task_id!r}")
            del path[depth:]
            index[task_id] = len(self._ids)
            self._ids.append(task_id)
            self._texts.append(text)
            self._parents.append(path[-1] if path else None)
            self._depths.append(depth)
            self._completed.append(1 if completed else 0)
            path.append(task_id)

    def _insert(
        self,
        at: int,
        ids: list[str],
        texts: list[str],
        parents: list[str | None],
        depths: array[int],
        completed: bytearray,
    ) -> None:
        if self._prefix is not None:
            self._prefix = None
            self._index = None
        appending = at == len(self._ids)
        self._ids[at:at] = ids
        self._texts[at:at] = texts
        self._parents[at:at] = parents
        self._depths[at:at] = depths
        self._completed[at:at] = completed
        if appending and self._index is not None:
            for offset, task_id in enumerate(ids):
                self._index[task_id] = at + offset
        else:
            self._index = None

    def update(
        self,
        task_id: str,
        *,
        text: str | None = None,
        completed: bool | None = None,
        parent_id: str | EllipsisType | None = ...,
    ) -> None:
        """Change text/completion; a new ``parent_id`` moves the whole subtree."""
        i = self.position(task_id)
        if text is not None:
            self._texts[i] = text
        if completed is not None:
            self._completed[i] = 1 if completed else 0
        if parent_id is not ... and parent_id != self._parents[i]:
            self._move(i, parent_id)

    def _move(self, i: int, parent_id: str | None) -> None:
        end = self.subtree_end(i)
        if parent_id is not None:
            p = self.position(parent_id)
            if i <= p < end:
                raise ValueError("cannot move a task under itself or its descendant")
        ids, texts, parents = self._ids[i:end], self._texts[i:end], self._parents[i:end]
        depths, completed = self._depths[i:end], self._completed[i:end]
        self._delete_range(i, end)
        if parent_id is None:
            at, new_depth = len(self._ids), 0
        else:
            p = self.position(parent_id)
            at, new_depth = self.subtree_end(p), self._depths[p] + 1
        shift = new_depth - depths[0]
        parents[0] = parent_id
        self._insert(at, ids, texts, parents, array("H", (d + shift for d in depths)), completed)

    def delete(self, task_id: str) -> int:
        """Remove a node and its subtree; returns how many nodes went."""
        i = self.position(task_id)
        end = self.subtree_end(i)
        self._delete_range(i, end)
        return end - i

    def _delete_range(self, start: int, end: int) -> None:
        self._prefix = None
        for column in (self._ids, self._texts, self._parents, self._depths, self._completed):
            del column[start:end]
        self._index = None


@dataclass
class Space:
    id: str
    name: str


@dataclass
class Folder:
    id: str
    name: str
    space_id: str


@dataclass
class Project:
    """A project; ``viewed_at`` (epoch ms) orders ``listMyProjects``.

    ``details`` holds what only v1 shows, per task id: ``assignees`` (member
    handles), ``date`` (``{"start": Date, "end": Date | {"period": ...}}``),
    ``note`` (``{"type", "value"}``) and ``fields`` (``{field_id: value}``).
    """

    id: str
    name: str
    space_id: str
    folder_id: str | None = None
    tasks: TaskTable = field(default_factory=TaskTable)
    blocks: TaskTable = field(default_factory=TaskTable)
    fields: list[dict[str, Any]] = field(default_factory=list)
    members: list[dict[str, str]] = field(default_factory=list)
    viewed_at: int = 0
    completed: bool = False
    share: dict[str, str] | None = None
    details: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Agent:
    """An agent. ``data`` is the spec's ``SpaceAgent.data``; ``knowledge_project_ids``
    and ``public`` are emulator-side state the API only shows indirectly."""

    id: str
    name: str
    space_id: str
    folder_id: str | None = None
    description: str = ""
    tools: dict[str, str] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=lambda: {"commands": []})
    knowledge_project_ids: list[str] = field(default_factory=list)
    public: dict[str, Any] | None = None


@dataclass
class Conversation:
    id: str
    agent_id: str
    title: str
    status: str = "idle"
    data: dict[str, Any] = field(default_factory=dict)
    transcript: str = ""


@dataclass
class Media:
    id: str
    space_id: str
    kind: str
    folder_id: str | None = None
    name: str = ""


@dataclass
class Template:
    id: str
    name: str
    space_id: str
    folder_id: str | None = None


class Workspace:
    """Everything one token can see, in memory, with helpers to change it.

    Objects are kept in dicts keyed by id, in insertion order (the order the
    list operations return them). Mutations hold ``lock`` so a test may change
    the workspace while the server is answering.

    >>> ws = Workspace("demo")
    >>> space = ws.add_space("Acme")
    >>> project = ws.add_project(space, "Launch")
    >>> root = ws.add_task(project, "Ship it")
    >>> child = ws.add_task(project, "Write notes", parent_id=root, completed=True)
    >>> [t["text"] for t in ws.tasks(project)]
    ['Ship it', 'Write notes']
    """

    def __init__(
        self, name: str = "Workspace", *, seed: int | str = 0, clock: datetime = CLOCK_START
    ) -> None:
        self.name = name
        self.seed = seed
        if clock.tzinfo is None:
            raise ValueError("the workspace clock must be timezone-aware")
        # The workspace's "now": what advance() moves and what dates are relative to.
        self.clock = clock.astimezone(UTC)
        self.spaces: dict[str, Space] = {}
        self.folders: dict[str, Folder] = {}
        self.projects: dict[str, Project] = {}
        self.agents: dict[str, Agent] = {}
        self.conversations: dict[str, Conversation] = {}
        self.media: dict[str, Media] = {}
        self.templates: dict[str, Template] = {}
        self.lock = threading.RLock()
        # Fresh ids come from a seeded generator so a reset replays the same ids.
        self._rng = random.Random(f"fresh-ids:{seed}")

    def __repr__(self) -> str:
        tasks = sum(len(p.tasks) for p in self.projects.values())
        return (
            f"<Workspace {self.name!r}: {len(self.spaces)} spaces, "
            f"{len(self.projects)} projects, {tasks} tasks>"
        )

    # -- ids -------------------------------------------------------------------

    def new_id(self, *, uuid: bool = False, avoid: Container[str] = ()) -> str:
        """A fresh id: uuid-shaped (tasks, blocks; none of ``avoid``) or 16 letters and
        digits (no space's, folder's, project's... id)."""
        if uuid:
            # 122 random bits, but a generator replayed from its seed repeats itself
            while (candidate := uuid_like(self._rng)) in avoid:
                pass
            return candidate
        taken = (
            self.spaces,
            self.folders,
            self.projects,
            self.agents,
            self.conversations,
            self.media,
            self.templates,
        )
        while True:
            candidate = alnum_id(self._rng)
            if not any(candidate in d for d in taken):
                return candidate

    # -- lookups ---------------------------------------------------------------

    def project(self, project_id: str) -> Project:
        """The project, or ``KeyError``."""
        return self.projects[project_id]

    def tasks(self, project_id: str) -> list[dict[str, Any]]:
        """All tasks of a project as API-shaped dicts, in document order."""
        return self.projects[project_id].tasks.records()

    # -- mutations -------------------------------------------------------------

    def add_space(self, name: str, *, id: str | None = None) -> str:
        with self.lock:
            space_id = id or self.new_id()
            self.spaces[space_id] = Space(space_id, name)
            return space_id

    def add_folder(self, space_id: str, name: str, *, id: str | None = None) -> str:
        with self.lock:
            if space_id not in self.spaces:
                raise KeyError(space_id)
            folder_id = id or self.new_id()
            self.folders[folder_id] = Folder(folder_id, name, space_id)
            return folder_id

    def add_project(
        self,
        space_id: str,
        name: str,
        folder_id: str | None = None,
        *,
        id: str | None = None,
        viewed_at: int | None = None,
    ) -> str:
        """Create an empty project; it becomes the most recently viewed one.

        Raises:
            KeyError: unknown space, or a folder of another space.
        """
        with self.lock:
            if space_id not in self.spaces:
                raise KeyError(space_id)
            if folder_id is not None and self.folders[folder_id].space_id != space_id:
                raise KeyError(folder_id)
            project_id = id or self.new_id()
            if viewed_at is None:
                latest = max((p.viewed_at for p in self.projects.values()), default=0)
                viewed_at = latest + 60_000 if latest else 1_735_689_600_000
            self.projects[project_id] = Project(
                project_id, name, space_id, folder_id, viewed_at=viewed_at
            )
            return project_id

    def add_task(
        self,
        project_id: str,
        text: str,
        parent_id: str | None = None,
        completed: bool = False,
        *,
        id: str | None = None,
    ) -> str:
        """Add a task as the last child of ``parent_id`` (or as the last root).

        Returns:
            The new task's id.
        Raises:
            KeyError: unknown project or parent.
        """
        with self.lock:
            table = self.projects[project_id].tasks
            task_id = id or self.new_id(uuid=True, avoid=table)
            table.add(task_id, text, parent_id, completed)
            return task_id

    def update_task(
        self,
        project_id: str,
        task_id: str,
        *,
        text: str | None = None,
        completed: bool | None = None,
        parent_id: str | EllipsisType | None = ...,
    ) -> None:
        """Change a task. ``parent_id=None`` makes it a root; any new parent moves
        the task with its subtree to the end of that parent's children.

        Raises:
            KeyError: unknown project, task or parent.
            ValueError: moving a task under its own subtree.
        """
        with self.lock:
            self.projects[project_id].tasks.update(
                task_id, text=text, completed=completed, parent_id=parent_id
            )

    def add_outline(self, project_id: str, rows: Iterable[tuple[int, str, bool]]) -> list[str]:
        """Append ``(depth, text, completed)`` rows in document order as new root
        trees (depth 0 starts a tree); returns the new task ids in that order."""
        with self.lock:
            rows = list(rows)
            table = self.projects[project_id].tasks
            ids = [self.new_id(uuid=True, avoid=table) for _ in rows]
            table.extend(
                (task_id, depth, text, completed)
                for task_id, (depth, text, completed) in zip(ids, rows, strict=True)
            )
            return ids

    def delete_task(self, project_id: str, task_id: str) -> int:
        """Delete a task and its subtree; returns the number of tasks removed."""
        with self.lock:
            return self.projects[project_id].tasks.delete(task_id)

    def add_block(
        self, project_id: str, text: str, completed: bool = False, *, id: str | None = None
    ) -> str:
        with self.lock:
            blocks = self.projects[project_id].blocks
            block_id = id or self.new_id(uuid=True, avoid=blocks)
            blocks.add(block_id, text, None, completed)
            return block_id

    def add_member(self, project_id: str, handle: str, display_name: str | None = None) -> None:
        with self.lock:
            member = {"handle": handle}
            if display_name is not None:
                member["displayName"] = display_name
            self.projects[project_id].members.append(member)

    def add_field(self, project_id: str, data: dict[str, Any], *, id: str | None = None) -> str:
        """Add a custom field; ``data`` is one of the spec's ``Field.data`` shapes."""
        with self.lock:
            field_id = id or self.new_id()
            self.projects[project_id].fields.append({"id": field_id, "data": data})
            return field_id

    def set_task_details(self, project_id: str, task_id: str, **parts: Any) -> None:
        """Set a task's v1 details: ``assignees``, ``date``, ``note``, ``fields``
        (``None`` removes a part)."""
        unknown = set(parts) - {"assignees", "date", "note", "fields"}
        if unknown:
            raise ValueError(f"unknown task detail(s): {sorted(unknown)}")
        with self.lock:
            project = self.projects[project_id]
            if task_id not in project.tasks:
                raise KeyError(task_id)
            entry = project.details.setdefault(task_id, {})
            for name, value in parts.items():
                if value is None:
                    entry.pop(name, None)
                else:
                    entry[name] = value

    def add_agent(
        self,
        space_id: str,
        name: str,
        *,
        folder_id: str | None = None,
        description: str = "",
        tools: Mapping[str, str] | None = None,
        data: dict[str, Any] | None = None,
        knowledge_project_ids: Iterable[str] = (),
        public: dict[str, Any] | None = None,
        id: str | None = None,
    ) -> str:
        with self.lock:
            if space_id not in self.spaces:
                raise KeyError(space_id)
            agent_id = id or self.new_id()
            self.agents[agent_id] = Agent(
                agent_id,
                name,
                space_id,
                folder_id,
                description,
                dict(tools or {}),
                data if data is not None else {"commands": []},
                list(knowledge_project_ids),
                public,
            )
            return agent_id

    def add_conversation(
        self,
        agent_id: str,
        title: str,
        transcript: str = "",
        *,
        status: str = "idle",
        data: dict[str, Any] | None = None,
        id: str | None = None,
    ) -> str:
        with self.lock:
            if agent_id not in self.agents:
                raise KeyError(agent_id)
            convo_id = id or self.new_id()
            self.conversations[convo_id] = Conversation(
                convo_id, agent_id, title, status, dict(data or {}), transcript
            )
            return convo_id

    def add_media(
        self,
        space_id: str,
        kind: str,
        *,
        folder_id: str | None = None,
        name: str = "",
        id: str | None = None,
    ) -> str:
        with self.lock:
            if space_id not in self.spaces:
                raise KeyError(space_id)
            media_id = id or self.new_id()
            self.media[media_id] = Media(media_id, space_id, kind, folder_id, name)
            return media_id

    def add_template(
        self, space_id: str, name: str, *, folder_id: str | None = None, id: str | None = None
    ) -> str:
        with self.lock:
            template_id = id or self.new_id()
            self.templates[template_id] = Template(template_id, name, space_id, folder_id)
            return template_id

    # -- time ------------------------------------------------------------------

    def advance(self, days: int = 1) -> dict[str, int]:
        """Let ``days`` days of work happen, moving :attr:`clock` one day at a time.

        Each day, in every project with tasks, a few percent of the open tasks get
        completed, and now and then a task is reopened, added or moved (with its
        subtree). Now and then an open task is handed to another member or its due
        date slips (v1 details). The choices come from generators seeded by the
        workspace seed, the day and the project, so the same calls give the same
        workspace: two snapshots taken a day apart differ the way a real team's would.

        Returns:
            How many tasks were ``completed``, ``reopened``, ``added``, ``moved``,
            ``reassigned`` and ``rescheduled``.
        Raises:
            TypeError: ``days`` is not an int; ValueError: it is negative.

        >>> ws = Workspace("w")
        >>> p = ws.add_project(ws.add_space("S"), "P")
        >>> ids = [ws.add_task(p, f"task {i}") for i in range(30)]
        >>> ws.advance(days=2)["completed"] > 0, ws.clock.isoformat()
        (True, '2025-08-10T09:00:00+00:00')
        """
        if isinstance(days, bool) or not isinstance(days, int):
            raise TypeError(f"days must be an int, not {type(days).__name__}")
        if days < 0:
            raise ValueError(f"days must be 0 or more, not {days}")
        from ._task_details import one_day_of_details

        totals = dict.fromkeys(
            ("completed", "reopened", "added", "moved", "reassigned", "rescheduled"), 0
        )
        with self.lock:
            for _ in range(days):
                self.clock += timedelta(days=1)
                day = self.clock.date().isoformat()
                for project in list(self.projects.values()):
                    if not len(project.tasks):
                        continue
                    rng = random.Random(f"advance:{self.seed}:{day}:{project.id}")
                    for key, n in _one_day_of_work(self, project.id, rng).items():
                        totals[key] += n
                    # Its own stream: the v2-visible work stays as it was without details.
                    rng = random.Random(f"advance-details:{self.seed}:{day}:{project.id}")
                    for key, n in one_day_of_details(self, project.id, rng).items():
                        totals[key] += n
        return totals

    # -- copies and files ------------------------------------------------------

    def copy(self) -> Workspace:
        """A deep, independent copy (task strings are shared: they are immutable)."""
        with self.lock:
            other = Workspace(self.name, seed=self.seed, clock=self.clock)
            other._rng.setstate(self._rng.getstate())
            other.spaces = {k: copy.copy(v) for k, v in self.spaces.items()}
            other.folders = {k: copy.copy(v) for k, v in self.folders.items()}
            for k, p in self.projects.items():
                other.projects[k] = Project(
                    p.id,
                    p.name,
                    p.space_id,
                    p.folder_id,
                    p.tasks.copy(),
                    p.blocks.copy(),
                    copy.deepcopy(p.fields),
                    copy.deepcopy(p.members),
                    p.viewed_at,
                    p.completed,
                    copy.deepcopy(p.share),
                    copy.deepcopy(p.details),
                )
            other.agents = copy.deepcopy(self.agents)
            other.conversations = copy.deepcopy(self.conversations)
            other.media = {k: copy.copy(v) for k, v in self.media.items()}
            other.templates = {k: copy.copy(v) for k, v in self.templates.items()}
            return other

    def to_json(self) -> dict[str, Any]:
        """The workspace as a JSON-ready dict (the ``data_samples`` file format)."""
        with self.lock:
            return {
                "format": FORMAT,
                "version": FORMAT_VERSION,
                "name": self.name,
                "seed": self.seed,
                "clock": self.clock.isoformat(),
                "spaces": [{"id": s.id, "name": s.name} for s in self.spaces.values()],
                "folders": [
                    {"id": f.id, "name": f.name, "space_id": f.space_id}
                    for f in self.folders.values()
                ],
                "projects": [_project_json(p) for p in self.projects.values()],
                "agents": [_agent_json(a) for a in self.agents.values()],
                "conversations": [
                    {
                        "id": c.id,
                        "agent_id": c.agent_id,
                        "title": c.title,
                        "status": c.status,
                        "data": c.data,
                        "transcript": c.transcript,
                    }
                    for c in self.conversations.values()
                ],
                "media": [
                    {
                        "id": m.id,
                        "space_id": m.space_id,
                        "folder_id": m.folder_id,
                        "kind": m.kind,
                        "name": m.name,
                    }
                    for m in self.media.values()
                ],
                "templates": [
                    {"id": t.id, "name": t.name, "space_id": t.space_id, "folder_id": t.folder_id}
                    for t in self.templates.values()
                ],
            }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | str | bytes) -> Workspace:
        """Rebuild a workspace from :meth:`to_json` output (a dict or its JSON text).

        Raises:
            ValueError: not this format, or tasks out of document order.
        """
        if isinstance(data, (str, bytes)):
            data = json.loads(data)
        assert isinstance(data, Mapping)
        if data.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} document")
        if data.get("version") != FORMAT_VERSION:
            raise ValueError(f"unsupported workspace format version {data.get('version')!r}")
        clock = datetime.fromisoformat(data["clock"]) if data.get("clock") else CLOCK_START
        ws = cls(data.get("name", "Workspace"), seed=data.get("seed", 0), clock=clock)
        for s in data["spaces"]:
            ws.spaces[s["id"]] = Space(s["id"], s["name"])
        for f in data["folders"]:
            ws.folders[f["id"]] = Folder(f["id"], f["name"], f["space_id"])
        for p in data["projects"]:
            ws.projects[p["id"]] = Project(
                p["id"],
                p["name"],
                p["space_id"],
                p.get("folder_id"),
                TaskTable.from_records(p.get("tasks", [])),
                TaskTable.from_records(p.get("blocks", [])),
                list(p.get("fields", [])),
                list(p.get("members", [])),
                int(p.get("viewed_at", 0)),
                bool(p.get("completed", False)),
                p.get("share"),
                dict(p.get("details", {})),
            )
        for a in data["agents"]:
            ws.agents[a["id"]] = Agent(
                a["id"],
                a["name"],
                a["space_id"],
                a.get("folder_id"),
                a.get("description", ""),
                dict(a.get("tools", {})),
                a.get("data", {"commands": []}),
                list(a.get("knowledge_project_ids", [])),
                a.get("public"),
            )
        for c in data["conversations"]:
            ws.conversations[c["id"]] = Conversation(
                c["id"],
                c["agent_id"],
                c["title"],
                c.get("status", "idle"),
                c.get("data", {}),
                c.get("transcript", ""),
            )
        for m in data["media"]:
            ws.media[m["id"]] = Media(
                m["id"], m["space_id"], m["kind"], m.get("folder_id"), m.get("name", "")
            )
        for t in data["templates"]:
            ws.templates[t["id"]] = Template(t["id"], t["name"], t["space_id"], t.get("folder_id"))
        # The file's ids came from the seed's generator: replaying it from the start would
        # hand them out again. A stream of its own, still the same for the same file.
        held = sum(len(p.tasks) + len(p.blocks) for p in ws.projects.values())
        ws._rng = random.Random(f"fresh-ids:{ws.seed}:read:{len(ws.projects)}:{held}")
        return ws

    def save(self, path: str | Path) -> None:
        """Write the JSON form, one project/agent per few lines, UTF-8."""
        text = json.dumps(self.to_json(), ensure_ascii=False, indent=1)
        Path(path).write_text(text + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Workspace:
        return cls.from_json(Path(path).read_text(encoding="utf-8"))


_FOLLOW_UPS = ("Follow up on", "Review", "Double-check", "Write notes for", "Ask about")


def _one_day_of_work(ws: Workspace, project_id: str, rng: random.Random) -> dict[str, int]:
    """One day in one project: complete, reopen, add and move a few tasks."""
    table = ws.projects[project_id].tasks
    states = table.completed_flags()
    open_ids = [table.id_at(i) for i, done in enumerate(states) if not done]
    done_ids = [table.id_at(i) for i, done in enumerate(states) if done]
    # Completions outpace reopenings and additions, so the history trends upwards.
    n_complete = min(len(open_ids), max(1, round(len(open_ids) * rng.uniform(0.03, 0.08))))
    finishing = rng.sample(open_ids, n_complete)
    reopening = rng.sample(done_ids, 1) if done_ids and rng.random() < 0.2 else []
    for task_id in finishing:
        ws.update_task(project_id, task_id, completed=True)
    for task_id in reopening:
        ws.update_task(project_id, task_id, completed=False)
    added = 0
    if rng.random() < 0.4:
        parent = rng.choice(open_ids) if open_ids and rng.random() < 0.8 else None
        about = "" if parent is None else " " + table.text_at(table.position(parent))[:40]
        ws.add_task(project_id, f"{rng.choice(_FOLLOW_UPS)}{about}".strip(), parent)
        added = 1
    moved = _move_one(ws, project_id, rng) if rng.random() < 0.3 else 0
    return {"completed": n_complete, "reopened": len(reopening), "added": added, "moved": moved}


def _move_one(ws: Workspace, project_id: str, rng: random.Random) -> int:
    """Move one nested task (with its subtree) under another parent or to the top."""
    table = ws.projects[project_id].tasks
    nested = [i for i in range(len(table)) if table.depth_at(i) > 0]
    if not nested:
        return 0
    i = rng.choice(nested)
    end = table.subtree_end(i)
    outside = [j for j in range(len(table)) if not i <= j < end]
    target = rng.choice(outside) if outside and rng.random() < 0.85 else None
    new_parent = None if target is None else table.id_at(target)
    if new_parent == table.parent_at(i):
        return 0
    ws.update_task(project_id, table.id_at(i), parent_id=new_parent)
    return 1


def _project_json(p: Project) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "space_id": p.space_id,
        "folder_id": p.folder_id,
        "viewed_at": p.viewed_at,
        "completed": p.completed,
        "share": p.share,
        "members": p.members,
        "fields": p.fields,
        "blocks": p.blocks.records(),
        "tasks": p.tasks.records(),
        "details": {k: v for k, v in p.details.items() if k in p.tasks},
    }


def _agent_json(a: Agent) -> dict[str, Any]:
    return {
        "id": a.id,
        "name": a.name,
        "space_id": a.space_id,
        "folder_id": a.folder_id,
        "description": a.description,
        "tools": a.tools,
        "data": a.data,
        "knowledge_project_ids": a.knowledge_project_ids,
        "public": a.public,
    }
