"""Whole-space fan-out: every frame of a space, fetched concurrently.

One thread pool (bounded), one client (its rate limiter is shared by all the
threads, so fan-out paces itself instead of provoking 429s), one progress bar.
A resource that fails (403, 404, a server giving up) lands in the ``errors``
frame and the rest still load, unless ``strict=True``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import pandas as pd

from . import loaders, schemas
from .client import TaskadeClient
from .errors import TaskadeError

__all__ = ["ENTITIES", "SpaceFrames", "concat_frames", "load_space"]

# The frames of a space, in the order they are fetched and exported.
ENTITIES = (
    "folders", "projects", "tasks", "blocks", "fields", "members",
    "agents", "conversations", "media", "templates", "errors",
)


@dataclass
class SpaceFrames:
    """Every frame of one space. Each attribute is a typed DataFrame."""

    space_id: str
    folders: pd.DataFrame
    projects: pd.DataFrame
    tasks: pd.DataFrame
    blocks: pd.DataFrame
    fields: pd.DataFrame
    members: pd.DataFrame
    agents: pd.DataFrame
    conversations: pd.DataFrame
    media: pd.DataFrame
    templates: pd.DataFrame
    errors: pd.DataFrame
    fetched_at: str = ""
    api_host: str = ""
    reports: list[dict[str, Any]] = field(default_factory=list, repr=False)

    def frames(self) -> dict[str, pd.DataFrame]:
        """``{entity: frame}`` for every entity of the space."""
        return {name: getattr(self, name) for name in ENTITIES}

    def completion(self) -> pd.DataFrame:
        """Tasks, completed and share completed per project, largest first."""
        return completion_by_project(self.tasks, self.projects)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{n}={len(f)}" for n, f in self.frames().items())
        return f"SpaceFrames(space_id={self.space_id!r}, {sizes})"


def completion_by_project(tasks: pd.DataFrame, projects: pd.DataFrame) -> pd.DataFrame:
    """One row per project: ``name``, ``tasks``, ``completed``, ``share_completed``."""
    counts = (
        tasks.groupby("project_id", observed=True)["completed"]
        .agg(tasks="size", completed=lambda s: int(s.fillna(False).sum()))
        .reset_index()
    )
    out = projects[["id", "name"]].rename(columns={"id": "project_id"})
    out = out.merge(counts, on="project_id", how="left")
    out["tasks"] = out["tasks"].fillna(0).astype("Int64")
    out["completed"] = out["completed"].fillna(0).astype("Int64")
    out["share_completed"] = (out["completed"] / out["tasks"].where(out["tasks"] > 0)).astype(
        "Float64"
    )
    return out.sort_values(["tasks", "name"], ascending=[False, True], ignore_index=True)


@dataclass
class _Job:
    resource: str
    id: str
    run: Callable[[], pd.DataFrame]
    entity: str


def load_space(
    space_id: str,
    client: TaskadeClient | None = None,
    *,
    max_workers: int = 8,
    progress: bool = True,
    strict: bool = False,
    transcripts: bool = False,
) -> SpaceFrames:
    """Load every frame of a space with bounded concurrency.

    Args:
        space_id: the space to load.
        client: default: a client from the environment. Its ``rate_limit`` is
            shared by all worker threads.
        max_workers: threads fetching at once (about 8 suits the API).
        progress: show a tqdm progress bar (notebook or terminal form).
        strict: raise the first error instead of recording it in ``errors``.
        transcripts: also fetch each conversation's transcript.

    Returns:
        SpaceFrames with ``tasks`` of all projects (``project_id`` column).

    >>> space = load_space("SPACE_ID", client)  # doctest: +SKIP
    >>> space.completion()  # doctest: +SKIP
    """
    space_id = loaders._require("space_id", space_id)
    if max_workers < 1:
        raise ValueError("max_workers must be at least 1")
    client = client or loaders.default_client()
    from tqdm.auto import tqdm

    parts: dict[str, list[pd.DataFrame]] = {name: [] for name in ENTITIES}
    errors: list[dict[str, Any]] = []
    reports: list[dict[str, Any]] = []

    bar = tqdm(total=3, desc=f"space {space_id}", unit="call", disable=not progress,
               leave=False)
    try:
        with ThreadPoolExecutor(max_workers=max_workers) as pool:
            top = [
                _Job("space", space_id, lambda: loaders.load_folders(space_id, client), "folders"),
                _Job("space", space_id, lambda: loaders.load_projects(space_id, client),
                     "projects"),
                _Job("space", space_id, lambda: loaders.load_agents(space_id, client), "agents"),
            ]
            _run(pool, top, parts, errors, reports, bar, strict)

            jobs: list[_Job] = []
            for pid in _ids(parts["projects"]):
                jobs += [
                    _Job("project", pid, _bind(loaders.load_tasks, pid, client), "tasks"),
                    _Job("project", pid, _bind(loaders.load_blocks, pid, client), "blocks"),
                    _Job("project", pid, _bind(loaders.load_fields, pid, client), "fields"),
                    _Job("project", pid, _bind(loaders.load_members, pid, client), "members"),
                ]
            for aid in _ids(parts["agents"]):
                jobs.append(_Job("agent", aid, _bind(loaders.load_conversations, aid, client,
                                                     transcripts=transcripts),
                                 "conversations"))
            for fid in _ids(parts["folders"]):
                jobs += [
                    _Job("folder", fid, _bind(loaders.load_media, fid, client), "media"),
                    _Job("folder", fid, _bind(loaders.load_templates, fid, client), "templates"),
                ]
            bar.total = 3 + len(jobs)
            bar.refresh()
            _run(pool, jobs, parts, errors, reports, bar, strict)
    finally:
        bar.close()

    frames = {name: concat_frames(name, parts[name]) for name in ENTITIES if name != "errors"}
    err = schemas.frame("errors", {k: [e[k] for e in errors] for k in
                                   ("resource", "id", "status", "error", "message")}) \
        if errors else schemas.empty_frame("errors")
    return SpaceFrames(
        space_id=space_id,
        errors=err,
        fetched_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        api_host=client.host,
        reports=reports,
        **frames,
    )


def _bind(fn: Callable[..., pd.DataFrame], *args: Any, **kw: Any) -> Callable[[], pd.DataFrame]:
    return lambda: fn(*args, **kw)


def _ids(frames: list[pd.DataFrame]) -> list[str]:
    return [i for df in frames for i in df["id"].dropna().tolist()]


def _run(pool, jobs, parts, errors, reports, bar, strict) -> None:
    futures: dict[Future, _Job] = {pool.submit(job.run): job for job in jobs}
    pending = set(futures)
    while pending:
        try:
            done, pending = wait(pending, return_when=FIRST_EXCEPTION)
        except BaseException:
            # Ctrl-C: drop the queued calls, so leaving the pool waits only for the
            # few in flight instead of fetching the rest of the space first.
            for other in pending:
                other.cancel()
            raise
        for fut in done:
            job = futures[fut]
            bar.update(1)
            exc = fut.exception()
            if exc is None:
                df = fut.result()
                parts[job.entity].append(df)
                reports.extend(df.attrs.get("reports", []))
                continue
            if strict or not isinstance(exc, TaskadeError | ValueError):
                for other in pending:
                    other.cancel()
                raise exc
            errors.append({
                "resource": f"{job.resource}:{job.entity}",
                "id": job.id,
                "status": getattr(exc, "status", None),
                "error": type(exc).__name__,
                "message": str(exc),
            })


def concat_frames(entity: str, frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Frames of one entity as one typed frame (empty ones skipped, attrs dropped)."""
    frames = [f for f in frames if len(f)]
    if not frames:
        return schemas.empty_frame(entity)
    out = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].copy()
    out.attrs = {}
    return out
