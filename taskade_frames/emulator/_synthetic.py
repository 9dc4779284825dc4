"""Synthetic workspaces of any size, reproducible from a seed.

Benchmarks and property tests need workspaces larger or odder than the
sample: a million tasks in one project, trees of a chosen depth, many
members. Everything is drawn from ``random.Random(seed)``, so the same
arguments always give the same ids and texts. Task columns are built
directly (no per-task dicts), which keeps a million tasks to a few seconds.
"""

from __future__ import annotations

import random
from array import array
from collections.abc import Sequence
from typing import Any

from ._model import TaskTable, Workspace, alnum_id, uuid_like

FIRST_NAMES = (
    "Alice",
    "Ben",
    "Chloe",
    "Daniel",
    "Emma",
    "Farid",
    "Grace",
    "Hiro",
    "Isla",
    "Jonas",
    "Kira",
    "Liam",
    "Maya",
    "Noah",
    "Olivia",
    "Priya",
    "Quinn",
    "Rosa",
    "Sam",
    "Tariq",
    "Uma",
    "Victor",
    "Wen",
    "Ximena",
    "Yusuf",
    "Zoe",
    "Amara",
    "Bruno",
    "Carmen",
    "Diego",
)
LAST_NAMES = (
    "Nguyen",
    "Okafor",
    "Schmidt",
    "Garcia",
    "Kowalski",
    "Haddad",
    "Tanaka",
    "Patel",
    "Moreau",
    "Lindqvist",
    "Rossi",
    "Chen",
    "Novak",
    "Silva",
    "Murphy",
    "Ivanova",
)
_VERBS = (
    "Review",
    "Draft",
    "Update",
    "Fix",
    "Test",
    "Plan",
    "Schedule",
    "Email",
    "Design",
    "Measure",
    "Document",
    "Refactor",
    "Prepare",
    "Publish",
    "Check",
    "Organize",
)
_OBJECTS = (
    "the release notes",
    "onboarding flow",
    "pricing page",
    "quarterly budget",
    "API rate limits",
    "customer survey",
    "sprint backlog",
    "team offsite agenda",
    "database migration",
    "support macros",
    "launch checklist",
    "analytics dashboard",
    "contract renewal",
    "hiring scorecard",
    "mobile build",
    "accessibility audit",
    "invoice template",
    "error monitoring",
    "partner brief",
    "style guide",
)
_MEDIA_KINDS = ("image", "document", "video", "audio", "spreadsheet")
_TONES = ("friendly", "formal", "confident", "warm", "casual")


def task_texts() -> list[str]:
    """The pool task texts are drawn from (shared strings keep memory low)."""
    return [f"{verb} {obj}" for verb in _VERBS for obj in _OBJECTS]


def people(n: int, rng: random.Random) -> list[dict[str, str]]:
    """``n`` distinct members ``{handle, displayName}``."""
    seen: set[str] = set()
    out: list[dict[str, str]] = []
    while len(out) < n:
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        handle = f"{first}.{last}".lower()
        if handle in seen:
            handle = f"{handle}{len(out)}"
        seen.add(handle)
        out.append({"handle": handle, "displayName": f"{first} {last}"})
    return out


def field_shapes() -> list[dict[str, Any]]:
    """One ``Field.data`` of each common kind, shaped as the spec's anyOf allows."""
    return [
        {
            "type": "Select",
            "displayName": "Status",
            "options": {
                "todo": {"id": "todo", "name": "To do", "rank": "a", "color": "gray"},
                "doing": {"id": "doing", "name": "In progress", "rank": "b", "color": "blue"},
                "done": {"id": "done", "name": "Done", "rank": "c", "color": "green"},
            },
            "defaultOption": "todo",
        },
        {
            "type": "number",
            "displayName": "Estimate",
            "render": {"type": "text"},
            "format": {"type": "unit", "config": {"type": "standard", "unit": "hour"}},
        },
        {"type": "string", "displayName": "Notes"},
        {"type": "DateTime", "title": "Due", "format": {"time": False, "zone": False}},
        {"type": "boolean"},
        {"type": "Rating", "displayName": "Impact", "max": 5, "icon": "star"},
        {"type": "Assign", "title": "Owner"},
        {
            "type": "number",
            "displayName": "Budget",
            "render": {"type": "text"},
            "format": {"type": "currency", "config": {"type": "standard", "code": "USD"}},
        },
    ]


def build_task_table(
    rng: random.Random,
    n: int,
    *,
    max_depth: int = 6,
    completed_share: float = 0.4,
    texts: Sequence[str] | None = None,
) -> TaskTable:
    """``n`` tasks in document order whose deepest task sits at ``max_depth``.

    The first ``max_depth + 1`` tasks form a chain so the depth is always
    reached (when ``n`` allows); after that each task goes one level deeper,
    stays a sibling or climbs back up at random, so trees get deep and bushy.
    """
    if max_depth < 0:
        raise ValueError("max_depth must be >= 0")
    pool = list(texts or task_texts())
    pool_size = len(pool)
    prefix = uuid_like(rng)[:24]  # ids: "xxxxxxxx-xxxx-4xxx-yxxx-" + 12 hex digits
    ids = [f"{prefix}{i:012x}" for i in range(n)]
    parents: list[str | None] = [None] * n
    depths = array("H", bytes(2 * n))
    completed = bytearray(n)
    text_list: list[str] = [""] * n
    # latest[d] is the last task seen at depth d: in document order, the parent
    # of a task at depth d is always latest[d - 1].
    latest: list[str] = [""] * (max_depth + 1)
    rand = rng.random
    chain = min(n, max_depth + 1)
    previous = -1
    for i in range(n):
        r = rand()
        if i < chain:
            depth = i
        elif r < 0.3 and previous < max_depth:
            depth = previous + 1
        elif r < 0.75 or previous == 0:
            depth = previous
        else:
            depth = int((r - 0.75) * 4 * previous)  # climb to a shallower level
        task_id = ids[i]
        if depth:
            parents[i] = latest[depth - 1]
        latest[depth] = task_id
        depths[i] = depth
        previous = depth
        # Texts and completion reuse r's lower digits: one draw per task is enough.
        text_list[i] = pool[int((r * 104_729.0) % 1.0 * pool_size)]
        if (r * 7_919.0) % 1.0 < completed_share:
            completed[i] = 1
    return TaskTable.from_columns(
        ids, text_list, parents, depths, completed, sequential_prefix=prefix
    )


def synthetic_workspace(
    seed: int = 0,
    *,
    spaces: int = 1,
    folders_per_space: int = 2,
    projects: int = 6,
    tasks_per_project: int | Sequence[int] = 100,
    max_depth: int = 6,
    completed_share: float = 0.4,
    members_per_project: int = 5,
    blocks_per_project: int = 3,
    fields_per_project: int = 4,
    agents_per_space: int = 1,
    conversations_per_agent: int = 3,
    media_per_folder: int = 3,
    templates_per_folder: int = 2,
) -> Workspace:
    """A reproducible workspace: the same arguments always give the same ids and texts.

    Args:
        seed: seeds every random choice.
        projects: total projects, dealt round-robin over the spaces' folders.
        tasks_per_project: one count for all projects, or one count per project.
        max_depth: the deepest 0-based task depth (roots are 0); reached in
            every project with more than ``max_depth`` tasks.
        completed_share: the chance that a task is completed.
    Returns:
        A :class:`Workspace`.

    >>> ws = synthetic_workspace(1, projects=1, tasks_per_project=1_000)
    >>> project = next(iter(ws.projects.values()))
    >>> len(project.tasks), project.tasks.max_depth()
    (1000, 6)
    """
    counts = (
        [int(tasks_per_project)] * projects
        if isinstance(tasks_per_project, int)
        else [int(c) for c in tasks_per_project]
    )
    if len(counts) != projects:
        raise ValueError("tasks_per_project needs one count per project")
    rng = random.Random(seed)
    ws = Workspace(f"Synthetic workspace (seed {seed})", seed=f"synthetic:{seed}")
    folder_ids: list[str] = []
    space_ids: list[str] = []
    for s in range(spaces):
        space_id = ws.add_space(f"Space {s + 1}", id=alnum_id(rng))
        space_ids.append(space_id)
        for f in range(folders_per_space):
            folder_ids.append(ws.add_folder(space_id, f"Folder {s + 1}.{f + 1}", id=alnum_id(rng)))
    shapes = field_shapes()
    pool = task_texts()
    for p, count in enumerate(counts):
        folder_id = folder_ids[p % len(folder_ids)] if folder_ids else None
        space_id = ws.folders[folder_id].space_id if folder_id else space_ids[p % len(space_ids)]
        project_id = ws.add_project(
            space_id,
            f"Project {p + 1}: {rng.choice(_OBJECTS)}",
            folder_id,
            id=alnum_id(rng),
            viewed_at=1_735_689_600_000 + rng.randrange(10**9),
        )
        project = ws.projects[project_id]
        project.tasks = build_task_table(
            rng, count, max_depth=max_depth, completed_share=completed_share, texts=pool
        )
        for b in range(blocks_per_project):
            ws.add_block(project_id, f"Section {b + 1}", id=uuid_like(rng))
        for k in range(fields_per_project):
            ws.add_field(project_id, shapes[k % len(shapes)], id=alnum_id(rng))
        project.members = people(members_per_project, rng)
    _add_agents(ws, rng, space_ids, agents_per_space, conversations_per_agent)
    _add_files(ws, rng, folder_ids, media_per_folder, templates_per_folder)
    return ws


def _add_agents(
    ws: Workspace, rng: random.Random, space_ids: list[str], agents: int, conversations: int
) -> None:
    """Agents per space, each with knowledge projects and a few conversations."""
    for space_id in space_ids:
        knowledge = [p.id for p in ws.projects.values() if p.space_id == space_id][:2]
        for a in range(agents):
            agent_id = ws.add_agent(
                space_id,
                f"Helper {a + 1}",
                description="Answers questions about projects.",
                tools={"project_reader": "Read tasks of knowledge projects"},
                data={
                    "commands": [],
                    "tone": _TONES[a % len(_TONES)],
                    "knowledgeEnabled": True,
                    "language": "en-US",
                },
                knowledge_project_ids=knowledge,
                id=alnum_id(rng),
            )
            for c in range(conversations):
                ws.add_conversation(
                    agent_id,
                    f"Conversation {c + 1}",
                    f"User: What is open?\nAssistant: Several tasks, see item {c + 1}.",
                    status=("idle", "in_progress", "requires_review")[c % 3],
                    data={
                        "llm": {"type": "openai", "name": "gpt-4o"},
                        "endedAt": 1_735_689_600_000 + c * 3_600_000,
                    },
                    id=alnum_id(rng),
                )


def _add_files(
    ws: Workspace, rng: random.Random, folder_ids: list[str], media: int, templates: int
) -> None:
    """Media and templates in every folder."""
    for folder_id in folder_ids:
        space_id = ws.folders[folder_id].space_id
        for m in range(media):
            ws.add_media(
                space_id,
                _MEDIA_KINDS[m % len(_MEDIA_KINDS)],
                folder_id=folder_id,
                name=f"file-{m + 1}",
                id=alnum_id(rng),
            )
        for t in range(templates):
            ws.add_template(space_id, f"Template {t + 1}", folder_id=folder_id, id=alnum_id(rng))
