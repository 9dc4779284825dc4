"""Whole-space fan-out: every frame of a space, fetched concurrently.

One thread pool (bounded), one client (its rate limiter is shared by all the
threads, so fan-out paces itself instead of provoking 429s), one progress bar.
A resource that fails (403, 404, a server giving up) lands in the ``errors``
frame and the rest still load, unless ``strict=True``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from . import details as details_mod
from . import loaders, schemas
from .client import TaskadeClient, resolve_client
from .completion import completion_by_project
from .entities import ENTITIES as TABLE
from .entities import SPACE_FRAMES, space_frames
from .errors import APIError, RateLimitError, TaskadeError
from .ids import parse_id

__all__ = ["SPACE_FRAMES", "SpaceFrames", "concat_frames", "fix_total", "load_space"]


@dataclass
class SpaceFrames:
    """Every frame of one space: ``space.tasks``, ``space.projects``... typed DataFrames.

    One attribute per frame of ``entities.space_frames()`` (the entity table),
    ``errors`` last; ``frames()`` gives them all by name.
    """

    space_id: str
    data: dict[str, pd.DataFrame] = field(repr=False)
    fetched_at: str = ""
    api_host: str = ""
    reports: list[dict[str, Any]] = field(default_factory=list, repr=False)
    details: details_mod.TaskDetails | None = field(default=None, repr=False)

    def __getattr__(self, name: str) -> pd.DataFrame:
        data = self.__dict__.get("data") or {}
        if name in data:
            return data[name]
        raise AttributeError(f"SpaceFrames has no frame {name!r}; frames: {', '.join(data)}")

    def frames(self) -> dict[str, pd.DataFrame]:
        """``{entity: frame}`` for every entity of the space."""
        return dict(self.data)

    def detail_frames(self) -> dict[str, pd.DataFrame]:
        """The v1 task-detail frames asked for with ``details=`` (none if not asked)."""
        return self.details.frames() if self.details is not None else {}

    def completion(self) -> pd.DataFrame:
        """Both completion measures per project, largest first: ``project_id``,
        ``project_name``, ``tasks``, ``completed``, ``share_completed`` (over all tasks),
        ``leaves_total``, ``leaves_done``, ``share_done`` (over leaves); defined in
        :mod:`taskade_frames.completion`."""
        return completion_by_project(self.tasks, self.projects)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{n}={len(f)}" for n, f in self.frames().items())
        return f"SpaceFrames(space_id={self.space_id!r}, {sizes})"


@dataclass
class _Job:
    resource: str
    id: str
    run: Callable[[], pd.DataFrame]
    entity: str
    folder_id: str | None = None  # a folder-scoped listing: the folder it lists


def load_space(
    space_id: str,
    client: TaskadeClient | None = None,
    *,
    max_workers: int = 8,
    progress: bool = True,
    strict: bool = False,
    transcripts: bool = False,
    details: bool | str | Iterable[str] = False,
) -> SpaceFrames:
    """Load every frame of a space with bounded concurrency.

    Args:
        space_id: the space to load (an id or a space link).
        client: default: a client from the environment. Its ``rate_limit`` is
            shared by all worker threads.
        max_workers: threads fetching at once. 8 keeps a 20/s limit busy up to
            about 400 ms per request (rate x latency); in the benchmark at the
            API's limit (200 projects, 80 ms, 20/s) it took 1.01x the time the
            limit allows, 2 took 1.09x, and more only wait on the limit.
        progress: show a tqdm progress bar (notebook or terminal form).
        strict: raise the first error instead of recording it in ``errors``.
        transcripts: also fetch each conversation's transcript.
        details: also fetch v1 task details, one request per task and part:
            ``True`` for all parts, or some of ``"assignees"``, ``"dates"``,
            ``"notes"``, ``"fields"`` (see :func:`~taskade_frames.load_task_details`);
            they land in ``SpaceFrames.details``, their failures in ``errors``.

    Returns:
        SpaceFrames with ``tasks`` of all projects (``project_id`` column).
        Projects, agents, media and templates are listed in the space's home
        folder (its own id) and in every folder, each item once.

    Raises:
        NotFoundError, PermissionDeniedError...: the space itself cannot be
            read (checked before anything else is fetched); the message names the id.
        KeyboardInterrupt: queued work is cancelled and retry waits abandoned at once.

    >>> space = load_space("SPACE_ID", client)  # doctest: +SKIP
    >>> space.completion()  # doctest: +SKIP
    """
    space_id = parse_id(space_id, "space")
    if max_workers < 1:
        raise ValueError("max_workers must be at least 1")
    client = resolve_client(client)
    detail_parts = details_mod.requested_parts(details)
    folders = _check_space(space_id, client)
    from tqdm.auto import tqdm

    parts: dict[str, list[pd.DataFrame]] = {name: [] for name in space_frames()}
    parts["folders"].append(folders)
    run = _Run(client, parts, strict, max_workers)
    run.reports.extend(folders.attrs.get("reports", []))
    # How many calls a space takes is known only once its projects and agents are
    # listed: until then the bar counts calls without a percentage, and from then on
    # its total is fixed, so the share shown only ever grows.
    bar = tqdm(total=None, desc=f"space {space_id}", unit="call", disable=not progress, leave=False)
    run.bar = bar
    bar.update(1)
    try:
        folder_ids = [*_ids([folders]), space_id]  # folders first: they name an item's folder
        found = run.all(_scoped_jobs(space_id, folder_ids, client))
        for name, listings in found.items():
            listings.sort(key=lambda pair: folder_ids.index(pair[0]))
            parts[name].append(loaders.combine_scoped(name, space_id, listings, client))
            run.reports.extend(parts[name][-1].attrs.get("reports", []))
        children = _child_jobs(parts, client, transcripts)
        fix_total(bar, bar.n + len(children))
        run.all(children)
    finally:
        run.close()
        bar.close()
    space = _frames(space_id, client, parts, run)
    if detail_parts:
        _add_details(
            space, client, detail_parts, max_workers=max_workers, progress=progress, strict=strict
        )
    return space


def _add_details(
    space: SpaceFrames, client: TaskadeClient, parts: tuple[str, ...], **options: Any
) -> None:
    """One detail fan-out over every task of the space, after the space is loaded; it
    reuses the space's fields for value types, so its only cost is the per-task requests."""
    tasks = space.tasks
    space.details = details_mod.fetch_task_details(
        list(zip(tasks["project_id"], tasks["id"], strict=True)),
        client,
        parts,
        details_mod.field_definitions(space.fields),
        **options,
    )
    space.data["errors"] = concat_frames("errors", [space.errors, space.details.errors])


def _check_space(space_id: str, client: TaskadeClient) -> pd.DataFrame:
    """The space's folders; a space that cannot be read raises here, naming its id."""
    try:
        return loaders.load_folders(space_id, client)
    except APIError as exc:
        raise named(exc, f"space {space_id!r}") from exc


def named(exc: APIError, what: str) -> APIError:
    """The same error, its message naming what was asked for (``space 'abc'``)."""
    kw: dict[str, Any] = {
        "status": exc.status,
        "code": exc.code,
        "operation": exc.operation,
        "status_message": exc.status_message,
    }
    if isinstance(exc, RateLimitError):
        kw["retry_after"] = exc.retry_after
    return type(exc)(f"{what}: {exc.message}", **kw)


def _scoped_jobs(space_id: str, folder_ids: list[str], client: TaskadeClient) -> list[_Job]:
    jobs = []
    for name, ent in TABLE.items():
        if ent.scope != "folder" or not ent.operation:
            continue
        for fid in folder_ids:
            resource = "space" if fid == space_id else "folder"
            jobs.append(
                _Job(
                    resource,
                    fid,
                    _bind(loaders.list_in_folder, name, space_id, fid, client),
                    name,
                    folder_id=fid,
                )
            )
    return jobs


def _child_jobs(
    parts: dict[str, list[pd.DataFrame]], client: TaskadeClient, transcripts: bool
) -> list[_Job]:
    """Listings under each project and each agent, from the entity table."""
    owners = {"project": _ids(parts["projects"]), "agent": _ids(parts["agents"])}
    jobs = []
    for name, ent in TABLE.items():
        if ent.scope not in owners or not ent.operation:
            continue
        for owner in owners[ent.scope]:
            if name == "conversations":
                fn = _bind(loaders.load_conversations, owner, client, transcripts=transcripts)
            else:
                fn = _bind(loaders.load_listing, name, owner, client)
            jobs.append(_Job(ent.scope, owner, fn, name))
    return jobs


def _frames(
    space_id: str, client: TaskadeClient, parts: dict[str, list[pd.DataFrame]], run: _Run
) -> SpaceFrames:
    frames = {name: concat_frames(name, found) for name, found in parts.items() if name != "errors"}
    errors = run.errors
    frames["errors"] = (
        schemas.frame(
            "errors",
            {k: [e[k] for e in errors] for k in ("resource", "id", "status", "error", "message")},
        )
        if errors
        else schemas.empty_frame("errors")
    )
    return SpaceFrames(
        space_id=space_id,
        data=frames,
        fetched_at=datetime.now(UTC).isoformat(timespec="seconds"),
        api_host=client.host,
        reports=run.reports,
    )


def _bind(fn: Callable[..., pd.DataFrame], *args: Any, **kw: Any) -> Callable[[], pd.DataFrame]:
    return lambda: fn(*args, **kw)


def _ids(frames: list[pd.DataFrame]) -> list[str]:
    return [i for df in frames for i in df["id"].dropna().tolist()]


class _Run:
    """One fan-out: a bounded pool whose work an interrupt or a strict error stops at once.

    Jobs run inside the client's cancel scope: on Ctrl-C (or Jupyter's
    interrupt) queued jobs are cancelled, retry waits end at once and no
    further request is sent, and the pool is not waited for.
    """

    def __init__(
        self,
        client: TaskadeClient,
        parts: dict[str, list[pd.DataFrame]],
        strict: bool,
        max_workers: int,
    ):
        self.client, self.parts, self.strict = client, parts, strict
        self.errors: list[dict[str, Any]] = []
        self.reports: list[dict[str, Any]] = []
        self.bar: Any = None
        self.stop = threading.Event()
        self.pool = ThreadPoolExecutor(max_workers=max_workers)

    def all(self, jobs: list[_Job]) -> dict[str, list[tuple[str, Any]]]:
        """Run jobs; frames go to ``parts`` (folder listings are returned, to combine)."""
        scoped: dict[str, list[tuple[str, Any]]] = {}
        futures: dict[Future, _Job] = {
            self.pool.submit(self._guarded, job.run): job for job in jobs
        }
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.25, return_when=FIRST_EXCEPTION)
            for fut in done:
                self._take(futures[fut], fut, scoped)
        return scoped

    def _guarded(self, fn: Callable[[], pd.DataFrame]) -> pd.DataFrame:
        with self.client.cancel_scope(self.stop):
            return fn()

    def _take(self, job: _Job, fut: Future, scoped: dict[str, list[tuple[str, Any]]]) -> None:
        if self.bar is not None:
            self.bar.update(1)
        exc = fut.exception()
        if job.folder_id is not None:
            if exc is None or (isinstance(exc, loaders.REFUSALS) and job.resource == "folder"):
                scoped.setdefault(job.entity, []).append(
                    (job.folder_id, fut.result() if exc is None else exc)
                )
                return
        elif exc is None:
            df = fut.result()
            self.parts[job.entity].append(df)
            self.reports.extend(df.attrs.get("reports", []))
            return
        if self.strict or not isinstance(exc, TaskadeError | ValueError):
            raise exc
        self.errors.append(
            {
                "resource": f"{job.resource}:{job.entity}",
                "id": job.id,
                "status": getattr(exc, "status", None),
                "error": type(exc).__name__,
                "message": str(exc),
            }
        )

    def close(self) -> None:
        """Stop what is left (nothing, after a normal run) without waiting for it."""
        self.stop.set()
        self.pool.shutdown(wait=False, cancel_futures=True)


def fix_total(bar: Any, total: int) -> None:
    """Give a counting tqdm bar its total, keeping its count (notebook bars need reset)."""
    done = bar.n
    bar.reset(total=total)
    bar.update(done)


def concat_frames(entity: str, frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Frames of one entity as one typed frame (empty ones skipped, attrs dropped)."""
    frames = [f for f in frames if len(f)]
    if not frames:
        return schemas.empty_frame(entity)
    out = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].copy()
    out.attrs = {}
    return out
