"""Where snapshots live: a local folder or an object store, and the layout inside it.

An export location is a local path or a URI (``s3://``, ``gs://``, ``abfs://``,
``file://``) opened through pyarrow's filesystems. Credentials and endpoints come
the standard way (AWS variables and profiles, ``AWS_ENDPOINT_URL``, or
``?endpoint_override=`` in the URI); they are used to connect and never kept in
:attr:`Store.display`, which is the only form of the location that reaches a
message or a file.

The layout, shared by the writer (:mod:`taskade_frames.export`) and the readers
(:mod:`taskade_frames.snapshots`)::

    <out>/<entity>/snapshot=<name>/space_id=<id>/part-0.parquet   data
    <out>/_snapshots/<name>.json                                   manifest = the commit
    <out>/.staging/...                                             local only, see below

Object stores cannot rename atomically, so there parts are written straight to
their snapshot's own prefix and the manifest, written last, is the commit. A
local folder can rename, so parts are staged under ``.staging`` and moved into
place first: a raw glob over ``<entity>/**`` never sees a half-written snapshot.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import quote, urlsplit, urlunsplit

from .errors import TaskadeError, redact

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow.fs as pafs

__all__ = [
    "MANIFESTS",
    "PART",
    "PARTITION",
    "STAGING",
    "ExportError",
    "Location",
    "SnapshotExistsError",
    "SnapshotNotFoundError",
    "Store",
    "check_space_id",
    "is_snapshot_name",
    "open_store",
    "part",
    "snapshot_order",
    "snapshot_time",
    "space_dir",
]

PARTITION = "space_id"
STAGING = ".staging"
MANIFESTS = "_snapshots"
PART = "part-0.parquet"
NAME_FORMAT = "%Y-%m-%dT%H%M%SZ"
_NAME = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{6}Z)(?:-(\d+))?$")
# "s3://..." and friends; a single letter before ":" is a Windows drive, not a scheme.
_URI = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")
# Longest file or folder name most filesystems and object-store tools accept.
MAX_NAME = 255


class ExportError(TaskadeError):
    """An export could not be written or read (unwritable folder, full disk, bad snapshot)."""


class SnapshotExistsError(ExportError):
    """A committed snapshot of that name exists already; snapshots are never overwritten."""


class SnapshotNotFoundError(ExportError, LookupError):
    """No committed snapshot matches the name (or the location holds none)."""


def is_snapshot_name(name: object) -> bool:
    return isinstance(name, str) and _NAME.match(name) is not None


def snapshot_time(name: str) -> datetime:
    """The UTC time a snapshot name encodes."""
    match = _NAME.match(name)
    if match is None:
        raise ValueError(f"not a snapshot name: {name!r}")
    return datetime.strptime(match.group(1), NAME_FORMAT).replace(tzinfo=UTC)


def snapshot_order(name: str) -> tuple[datetime, int]:
    """Sort key: time, then the ``-2``, ``-3`` suffix of snapshots within one second."""
    match = _NAME.match(name)
    if match is None:
        raise ValueError(f"not a snapshot name: {name!r}")
    return snapshot_time(name), int(match.group(2) or 1)


def _display(uri: str) -> str:
    """The URI without credentials or query (where endpoints and keys may sit)."""
    parts = urlsplit(uri)
    host = parts.netloc.rsplit("@", 1)[-1]
    return redact(urlunsplit((parts.scheme, host, parts.path, "", "")))


@dataclass(frozen=True)
class Store:
    """An export location: a pyarrow filesystem and the root path inside it.

    ``local`` stores can rename atomically, lock and fsync; others cannot.
    """

    fs: pafs.FileSystem
    root: str
    display: str
    local: bool

    def __repr__(self) -> str:
        return f"Store({self.display!r})"

    def path(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *parts]) if parts else self.root

    def info(self, rel: str) -> Any:
        return self.fs.get_file_info(self.path(rel))

    def exists(self, rel: str) -> bool:
        import pyarrow.fs as pafs

        return self.info(rel).type != pafs.FileType.NotFound

    def is_file(self, rel: str) -> bool:
        import pyarrow.fs as pafs

        return self.info(rel).type == pafs.FileType.File

    def listdir(self, rel: str = "", recursive: bool = False) -> list[Any]:
        """File infos under ``rel`` (paths relative to the root); empty if missing."""
        import pyarrow.fs as pafs

        selector = pafs.FileSelector(
            self.path(rel) if rel else self.root, allow_not_found=True, recursive=recursive
        )
        return self.fs.get_file_info(selector)

    def relative(self, path: str) -> str:
        return path[len(self.root.rstrip("/")) + 1 :]

    def read_bytes(self, rel: str) -> bytes:
        with self.fs.open_input_stream(self.path(rel)) as f:
            return f.read()

    def write_bytes(self, rel: str, data: bytes) -> None:
        """Write a whole object; local files are synced so a commit never outlives its data."""
        if self.local:
            self.makedirs(rel.rpartition("/")[0])
        with self.fs.open_output_stream(self.path(rel)) as f:
            f.write(data)
        self.sync(rel)

    def sync(self, rel: str) -> None:
        if not self.local:
            return
        with contextlib.suppress(OSError):  # not every platform can sync everything
            fd = os.open(self.path(rel), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def makedirs(self, rel: str) -> None:
        if self.local:
            self.fs.create_dir(self.path(rel) if rel else self.root, recursive=True)

    def delete_dir(self, rel: str) -> None:
        import pyarrow.fs as pafs

        with contextlib.suppress(FileNotFoundError, OSError):
            if self.info(rel).type == pafs.FileType.Directory:
                self.fs.delete_dir(self.path(rel))

    def delete_file(self, rel: str) -> None:
        with contextlib.suppress(FileNotFoundError, OSError):
            self.fs.delete_file(self.path(rel))

    def move(self, src: str, dst: str) -> None:
        """Atomic rename (local stores only)."""
        assert self.local
        os.replace(self.path(src), self.path(dst))
        self.sync(dst.rpartition("/")[0])

    @contextlib.contextmanager
    def locked(self, timeout: float) -> Iterator[None]:
        """Hold an advisory lock on a local root (the kernel drops it if the process dies).

        Object stores have no lock: there exports to one location must not overlap
        within a second, and leftovers are only pruned once they are old.
        """
        try:
            import fcntl
        except ImportError:  # pragma: no cover - no flock on Windows
            fcntl = None  # type: ignore[assignment]
        if not self.local or fcntl is None:
            yield
            return
        fd = os.open(self.root, os.O_RDONLY)
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise ExportError(
                            f"another export is writing to {self.display} (waited {timeout:g} s)"
                        ) from None
                    time.sleep(0.05)
            yield
        finally:
            os.close(fd)

    # -- layout ------------------------------------------------------------------

    def committed_names(self) -> list[str]:
        """Names of the snapshots whose manifest is in place, oldest first."""
        names = []
        for info in self.listdir(MANIFESTS):
            base = info.base_name
            if base.endswith(".json") and is_snapshot_name(base[:-5]):
                names.append(base[:-5])
        return sorted(names, key=snapshot_order)

    def manifest(self, name: str) -> dict[str, Any]:
        """A committed snapshot's manifest; ExportError if it cannot be read or is not one."""
        rel = f"{MANIFESTS}/{name}.json"
        try:
            found = json.loads(self.read_bytes(rel))
        except FileNotFoundError:
            raise SnapshotNotFoundError(
                f"no committed snapshot {name!r} in {self.display}"
            ) from None
        except (OSError, ValueError) as exc:
            raise ExportError(
                f"snapshot {name} in {self.display} is damaged: its manifest "
                f"cannot be read ({redact(exc)})"
            ) from exc
        keys = ("snapshot", "snapshot_time", "spaces", "rows", "entities")
        if (
            not isinstance(found, dict)
            or any(k not in found for k in keys)
            or found["snapshot"] != name
            or not isinstance(found["spaces"], dict)
        ):
            raise ExportError(
                f"snapshot {name} in {self.display} is damaged: its manifest "
                "lacks the expected fields"
            )
        return found


# What every export and snapshot function takes as its ``out``.
Location: TypeAlias = "str | os.PathLike[str] | Store"


def space_dir(space_id: str) -> str:
    """The partition folder of a space; percent-encoding is what hive readers decode."""
    return f"{PARTITION}={quote(space_id, safe='')}"


def part(entity: str, name: str, space_id: str) -> str:
    return f"{entity}/snapshot={name}/{space_dir(space_id)}/{PART}"


def check_space_id(space_id: object) -> str:
    """A space id usable as a partition folder, or ValueError saying why not."""
    if not isinstance(space_id, str) or not space_id.strip():
        raise ValueError(f"a space id must be a non-empty string, got {redact(repr(space_id))}")
    if len(space_dir(space_id)) > MAX_NAME:
        raise ValueError(
            f"space id {redact(space_id[:40])}... is too long for a partition "
            f"folder name ({len(space_id)} characters)"
        )
    return space_id


def open_store(out: object) -> Store:
    """The :class:`Store` for a local path or a URI.

    Raises:
        TypeError: ``out`` is neither a path nor a string (arguments swapped?).
        ValueError: a URI pyarrow cannot open (unknown scheme, malformed).
    """
    if isinstance(out, Store):
        return out
    if isinstance(out, os.PathLike):
        out = os.fspath(out)
    if not isinstance(out, str):
        raise TypeError(
            f"out must be a local path or a URI such as s3://bucket/prefix, got "
            f"{type(out).__name__} (arguments in the wrong order?)"
        )
    if not out.strip():
        raise ValueError("out must be a local path or a URI, got an empty string")
    match = _URI.match(out)
    if match is None:
        import pyarrow.fs as pafs

        root = os.path.abspath(out)
        return Store(pafs.LocalFileSystem(), root, out, local=True)
    if not out[match.end() :].startswith("//"):
        raise ValueError(
            f"{_display(out)!r} looks like a URI but lacks '//' "
            f"(write {match.group(1)}://bucket/prefix); refusing to create a "
            "local folder of that name"
        )
    return _open_uri(out)


def _open_uri(uri: str) -> Store:
    import pyarrow.fs as pafs

    display = _display(uri)
    try:
        fs, path = pafs.FileSystem.from_uri(uri)
    except (ValueError, OSError) as exc:  # pyarrow raises ArrowInvalid (a ValueError)
        raise ValueError(f"cannot open {display}: {redact(exc)}") from None
    local = isinstance(fs, pafs.LocalFileSystem)
    if not path.strip("/"):
        raise ValueError(f"{display} names no bucket or folder")
    return Store(fs, path.rstrip("/") or path, display, local=local)
