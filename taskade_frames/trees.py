"""Tree columns for task frames, computed with array operations.

``listTasks`` returns a project's tasks as a flat list with ``parentId`` links. This module
turns such a frame into tree facts (depth, root, path, rollups of done leaves), selects
subtrees, and renders the Markdown outline that ``createProject`` accepts. Everything that
scales with the number of tasks is vectorised: ids become integer row positions once, and
depth, roots and cycle detection come from pointer jumping. Shallow forests (the usual
case) are then rolled up one depth level at a time; deep ones (a long chain, say) get their
document order from pointer jumping too, so no loop runs once per level. A million tasks
take well under a second, memory stays linear in the number of tasks whatever the shape,
and corrupt links (orphans, cycles, duplicate ids) cannot make it hang: every loop is
bounded by log2(n) or by a small constant.

The columns :func:`add_tree_columns` adds (declared in ``entities.TREE_COLUMNS``):

* ``position`` -- the row's position in the frame (0, 1, ...): document order for a loaded
  project.
* ``depth`` -- number of ancestors: 0 for a root.
* ``root_id`` -- id of the row's root (itself for a root).
* ``path`` -- ids from the root down to the row, joined by "/". A path holds at most
  :data:`PATH_MAX_IDS` ids: for a row deeper than that it is the first
  ``PATH_MAX_IDS - 1`` ids from the root, the marker :data:`PATH_ELISION` ("…"), then the
  row's own id (``a/b/…/z``), so the column stays linear in memory for any depth. Use
  :func:`path_lists` (whole paths as lists) or :func:`ancestors` for the full chain.
* ``sibling_index`` -- rank among the rows with the same parent, in row order (roots are
  siblings of each other).
* ``n_children`` -- number of direct children.
* ``n_descendants`` -- number of rows below, at any depth.
* ``is_leaf`` -- the row has no children.
* ``leaves_total`` -- leaves in the row's subtree (1 for a leaf: itself).
* ``leaves_done`` -- of those, the ones whose ``completed`` is true (missing counts as not
  done).
* ``share_done`` -- ``leaves_done / leaves_total``: completion measured over leaves, so a
  parent ticked before its children does not count as all done.
* ``is_orphan`` -- ``parent_id`` is set but names no row of the frame.
* ``in_cycle`` -- the row is on a parent cycle, or hangs below one (see below).
* ``is_duplicate`` -- an earlier row has the same id.

How corrupt links are resolved (the "effective" forest every function here uses):

* **orphan** -- ``parent_id`` names no row of the frame: the row becomes a root.
* **duplicate id** -- the first row with an id is the node other rows point to; every later
  row with that id is flagged ``is_duplicate`` and becomes a root of its own (it keeps no
  parent, so a task listed twice is not counted twice in its parent's rollups).
* **cycle** -- in each parent cycle the member that comes first in row order loses its
  parent and becomes the root; the rest of the cycle, and everything hanging below it,
  stays attached. All those rows are flagged ``in_cycle``. A self-parent is a cycle of one.
* rows may come in any order; output is always in input row order.

The selections (:func:`subtree`, :func:`ancestors`, :func:`children`) take one id, or a
list, array or Series of ids, and raise :class:`TaskNotFoundError` (a ``KeyError``) naming
every id that no row has. They keep the tree they built for a frame while the frame lives,
so repeated calls on the same frame are cheap; the cached tree is checked against the
frame's ``id`` and ``parent_id`` data on every call, so a changed frame is rebuilt.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import schemas
from .entities import TREE_COLUMNS
from .schemas import STRING

__all__ = [
    "PATH_ELISION",
    "PATH_MAX_IDS",
    "TREE_DTYPES",
    "TaskNotFoundError",
    "add_tree_columns",
    "ancestors",
    "children",
    "parse_markdown_outline",
    "path_lists",
    "subtree",
    "to_markdown_outline",
]

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

PATH_SEPARATOR = "/"
#: Most ids one ``path`` value holds; deeper rows get an elided path (module docstring).
PATH_MAX_IDS = 16
#: Stands for the ids left out of a deep row's ``path``.
PATH_ELISION = "\u2026"
_SEPARATOR = pa.scalar(PATH_SEPARATOR, pa.large_string())
_ELIDED = pa.scalar(PATH_SEPARATOR + PATH_ELISION + PATH_SEPARATOR, pa.large_string())
_EMPTY = pa.scalar("", pa.large_string())
# Forests up to this deep are rolled up level by level (fast for bushy trees); deeper ones
# use pointer jumping, whose cost does not depend on the depth.
_LEVEL_LOOP_MAX_DEPTH = 64
#: Most ids :func:`path_lists` will materialise (about 1 GiB); deeper frames raise.
PATH_LISTS_MAX_IDS = 1 << 26

#: Columns added by :func:`add_tree_columns`, in order, with their dtypes (entity table).
TREE_DTYPES: dict[str, Any] = schemas.column_dtypes(TREE_COLUMNS)


class TaskNotFoundError(KeyError):
    """No row of the frame has these task ids (``missing``, in the order asked)."""

    def __init__(self, missing: list[Any], id_col: str = "id") -> None:
        self.missing = missing
        shown = ", ".join(repr(m) for m in missing[:10])
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        self.message = f"no task with {id_col} {shown}{more} in this frame"
        super().__init__(self.message)

    def __str__(self) -> str:  # KeyError would show the message in quotes
        return self.message


# --------------------------------------------------------------------------------------
# ids -> row positions
# --------------------------------------------------------------------------------------


def _arrow_strings(column: pd.Series) -> pa.LargeStringArray:
    """One contiguous large_string array, so its buffers can be read directly."""
    if not (isinstance(column.dtype, pd.StringDtype) and column.dtype.storage == "pyarrow"):
        column = column.astype(STRING)
    arr = pa.array(column.array)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.type != pa.large_string():
        arr = arr.cast(pa.large_string())
    return arr


_MULT_1 = np.uint64(0x9E3779B97F4A7C15)
_MULT_2 = np.uint64(0xBF58476D1CE4E5B9)
_MULT_3 = np.uint64(0x94D049BB133111EB)
_ALL_ONES = np.uint64(0xFFFFFFFFFFFFFFFF)
_MAX_HASHED_WORDS = 16  # ids longer than 128 bytes take the exact (slower) path


def _mix(h: npt.NDArray[np.uint64], scratch: npt.NDArray[np.uint64]) -> None:
    """splitmix64's finaliser, in place: cheap, and spreads every input bit over the word."""
    for shift, mult in ((30, _MULT_2), (27, _MULT_3)):
        np.right_shift(h, np.uint64(shift), out=scratch)
        h ^= scratch
        h *= mult
    np.right_shift(h, np.uint64(31), out=scratch)
    h ^= scratch


def _string_buffers(
    arr: pa.LargeStringArray, padded: bool = True
) -> tuple[IntArray, npt.NDArray[np.uint8]]:
    """Offsets and the data buffer from the first offset on: a zero-padded copy (8 spare
    bytes for wide reads), or with ``padded=False`` a view, no copy."""
    _, offsets_buf, data_buf = arr.buffers()
    n = len(arr)
    offsets = np.frombuffer(offsets_buf, dtype=np.int64, count=n + 1, offset=arr.offset * 8)
    start, stop = int(offsets[0]), int(offsets[-1])
    if not padded:
        if data_buf is None or stop == start:
            return offsets, np.zeros(0, np.uint8)
        return offsets, np.frombuffer(data_buf, np.uint8, count=stop - start, offset=start)
    data = np.zeros(stop - start + 8, np.uint8)
    if data_buf is not None and stop > start:
        data[: stop - start] = np.frombuffer(data_buf, np.uint8, count=stop - start, offset=start)
    return offsets, data


def _byte_view(buf: np.ndarray, width: int) -> np.ndarray:
    """Every byte position of ``buf`` as the start of a ``width``-byte item (overlapping)."""
    return np.ndarray((len(buf) - width + 1,), f"V{width}", buffer=buf, strides=(1,))


def _hash_strings(arr: pa.LargeStringArray) -> npt.NDArray[np.uint64] | None:
    """64-bit hashes of the strings, read 8 bytes at a time from Arrow's data buffer.

    Hashing through a Python-object hash table costs about a second per million ids; this
    is a few sequential numpy passes. Equal strings get equal hashes; collisions are
    possible, so callers verify every match. Null slots get arbitrary hashes. Returns None
    for very long strings.
    """
    n = len(arr)
    if n == 0:
        return np.zeros(0, np.uint64)
    offsets, data = _string_buffers(arr, padded=False)
    lengths = np.diff(offsets)
    valid_lengths = (
        lengths[np.asarray(arr.is_valid(), dtype=np.bool_)] if arr.null_count else lengths
    )
    longest = int(valid_lengths.max()) if len(valid_lengths) else 0
    n_words = -(-longest // 8)
    if n_words > _MAX_HASHED_WORDS:
        return None
    h = lengths.astype(np.uint64)
    h *= _MULT_1  # every word below is mixed in, so the length needs no mixing of its own
    scratch = np.empty_like(h)
    same_length = int(valid_lengths.min(initial=longest)) == longest
    if same_length and not arr.null_count:  # the usual case: strided views, no copy
        for j in range(n_words):
            h ^= _word(data, 8 * j, longest, n, min(longest - 8 * j, 8))
            _mix(h, scratch)
        return h
    begin = offsets[:-1] - offsets[0]
    if same_length:  # only null slots differ, and their hashes do not matter
        for j in range(n_words):
            h ^= _gathered_word(data, begin + 8 * j, min(longest - 8 * j, 8))
            _mix(h, scratch)
        return h
    _, data = _string_buffers(arr)  # padded: the gathers below read 8 bytes at a time
    unaligned = _byte_view(data, 8).view("<u8")
    for j in range(n_words):
        tail = lengths - 8 * j
        more = np.flatnonzero(tail > 0)  # shorter strings are done and keep their hash
        keep = (np.minimum(tail[more], 8) * 8).astype(np.uint64)
        mask = np.where(keep == 64, _ALL_ONES, (np.uint64(1) << (keep & np.uint64(63))) - 1)
        part = h[more] ^ (unaligned[begin[more] + 8 * j] & mask)
        _mix(part, np.empty_like(part))
        h[more] = part
    return h


def _word(data: np.ndarray, first: int, stride: int, n: int, count: int) -> np.ndarray:
    """The ``count`` bytes (at most 8) at ``first + i * stride`` as little-endian words,
    the value a masked 8-byte read gives, without reading past the last string."""
    if count == 8:
        return np.ndarray((n,), "<u8", buffer=data, offset=first, strides=(stride,))
    word = np.zeros(n, np.uint64)
    shift = 0
    for size in (4, 2, 1):
        if count & size:
            part = np.ndarray((n,), f"<u{size}", buffer=data, offset=first, strides=(stride,))
            word |= part.astype(np.uint64) << np.uint64(shift)
            first, shift = first + size, shift + 8 * size
    return word


def _gathered_word(data: np.ndarray, at: IntArray, count: int) -> np.ndarray:
    """The ``count`` bytes (at most 8) at each offset in ``at`` as little-endian words, as
    ``_word`` reads them; offsets past the end (null slots) are clamped."""
    word = np.zeros(len(at), np.uint64)
    shift = 0
    for size in (8,) if count == 8 else (4, 2, 1):
        if size == 8 or count & size:
            view = _byte_view(data, size).view(f"<u{size}")
            word |= view[np.minimum(at, len(view) - 1)].astype(np.uint64) << np.uint64(shift)
            at, shift = at + size, shift + 8 * size
    return word


def _low_bytes(count: int) -> np.uint64:
    return np.uint64((1 << (8 * min(count, 8))) - 1)


def _link_keys(
    id_keys: np.ndarray, id_valid: BoolArray, parent_keys: np.ndarray, parent_given: BoolArray
) -> tuple[IntArray, IntArray]:
    """For hashable keys: the row each parent key names (-1 if none), and for each row the
    first row with the same id (itself if it is the first, -1 if its id is null)."""
    n = len(id_keys)
    valid_rows = np.flatnonzero(id_valid)
    index = pd.Index(id_keys[valid_rows])
    first = np.full(n, -1, np.int64)
    first[valid_rows] = valid_rows
    if not index.is_unique:
        later = index.duplicated(keep="first")
        index = index[~later]
        first[valid_rows[later]] = valid_rows[~later][index.get_indexer(id_keys[valid_rows[later]])]
        valid_rows = valid_rows[~later]
    hit = index.get_indexer(parent_keys[parent_given])
    found = hit >= 0
    hit[found] = valid_rows[hit[found]]
    parent = np.full(n, -1, np.int64)
    parent[parent_given] = hit
    return parent, first


def _link(ids: pa.LargeStringArray, parents: pa.LargeStringArray) -> tuple[IntArray, BoolArray]:
    """Map parent ids to row positions; flag later rows that repeat an id."""
    rows = np.arange(len(ids), dtype=np.int64)
    id_valid = np.asarray(ids.is_valid(), dtype=np.bool_)
    parent_given = np.asarray(parents.is_valid(), dtype=np.bool_)
    id_hash, parent_hash = _hash_strings(ids), _hash_strings(parents)
    if id_hash is not None and parent_hash is not None:
        parent, first = _link_keys(id_hash, id_valid, parent_hash, parent_given)
        is_duplicate = (first >= 0) & (first != rows)
        # Check every hash match on the strings, so a collision can never merge two ids.
        linked, repeated = np.flatnonzero(parent >= 0), np.flatnonzero(is_duplicate)
        if _same_strings(parents, linked, ids, parent[linked]) and _same_strings(
            ids, repeated, ids, first[repeated]
        ):
            return parent, is_duplicate
    # A hash collision (or very long ids): redo the mapping on the strings themselves.
    id_obj = np.asarray(ids.to_numpy(zero_copy_only=False), dtype=object)
    parent_obj = np.asarray(parents.to_numpy(zero_copy_only=False), dtype=object)
    parent, first = _link_keys(id_obj, id_valid, parent_obj, parent_given)
    return parent, (first >= 0) & (first != rows)


def _same_strings(left: pa.Array, at: IntArray, right: pa.Array, right_at: IntArray) -> bool:
    """True if ``left[at] == right[right_at]`` element by element."""
    if len(at) == 0:
        return True
    same = pc.equal(left.take(pa.array(at)), right.take(pa.array(right_at)))
    return bool(pc.all(same).as_py())


# --------------------------------------------------------------------------------------
# the effective forest
# --------------------------------------------------------------------------------------


def _jump(up: IntArray, anc: IntArray, dist: IntArray, active: IntArray, rounds: int) -> IntArray:
    """Pointer doubling: after r rounds ``anc`` is the 2**r-th ancestor, capped at the root.

    ``up`` maps roots to themselves. Updates ``anc``/``dist`` in place for ``active`` rows
    and returns the rows that have still not reached a root (those are in or below a cycle
    once 2**rounds >= n).
    """
    for _ in range(rounds):
        if len(active) == 0:
            break
        hop = anc[active]
        dist[active] += dist[hop]  # right side is gathered before the write: synchronous
        anc[active] = anc[hop]
        reached = anc[active]
        active = active[up[reached] != reached]
    return active


def _break_cycles(up: IntArray, stuck: IntArray, landed: IntArray) -> IntArray:
    """Cut each cycle at its first member in row order; return the cut rows.

    ``landed`` are ancestors at least n steps above ``stuck`` rows, so every one of them is on
    a cycle, and every cycle member appears (a fixed-length walk permutes a cycle).
    """
    members = np.unique(landed)
    local = np.full(len(up), -1, np.int64)
    local[members] = np.arange(len(members))
    succ = local[up[members]]
    first = members.copy()
    for _ in range(len(members).bit_length() + 1):
        first = np.minimum(first, first[succ])
        succ = succ[succ]
    cut = members[first == members]
    up[cut] = cut
    return cut


def _settle(up: IntArray) -> None:
    """Pointer jumping in place until every row points at a fixed point (log2(depth) rounds).

    ``up`` must lead every row to a row that points at itself, with no cycle.
    """
    active = np.flatnonzero(up[up] != up)
    while len(active):
        up[active] = up[up[active]]
        active = active[up[up[active]] != up[active]]


def _siblings(parent: IntArray) -> tuple[IntArray, IntArray]:
    """Per row its first child and its next sibling in row order (-1 if none); roots have no
    siblings here, so each tree is walked on its own."""
    n = len(parent)
    by_parent = np.argsort(parent, kind="stable")
    grouped = parent[by_parent]
    same = grouped[1:] == grouped[:-1]
    next_sibling = np.full(n, -1, np.int64)
    next_sibling[by_parent[:-1][same]] = by_parent[1:][same]
    next_sibling[parent < 0] = -1
    starts = np.flatnonzero(np.concatenate(([True], ~same)))
    starts = starts[grouped[starts] >= 0]
    first_child = np.full(n, -1, np.int64)
    first_child[grouped[starts]] = by_parent[starts]
    return first_child, next_sibling


def _preorder_by_jumping(parent: IntArray, root: IntArray) -> tuple[IntArray, IntArray]:
    """Document-order rank and subtree size of every row, whatever the depth.

    Each row's successor in document order is its first child, or else the next sibling of
    its nearest ancestor-or-self that has one (found by pointer jumping); list ranking over
    those successors (pointer jumping again) counts the rows after each one in its tree.
    O(n log n) work, no loop per level.
    """
    n = len(parent)
    rows = np.arange(n, dtype=np.int64)
    first_child, next_sibling = _siblings(parent)
    has_next = next_sibling >= 0
    up = np.where(has_next | (parent < 0), rows, parent)
    _settle(up)
    escape = np.where(has_next[up], next_sibling[up], n)  # n: the end of the row's tree
    succ = np.append(np.where(first_child >= 0, first_child, escape), n)
    left = np.ones(n + 1, np.int64)  # rows from here to the end of the tree
    left[n] = 0
    active = np.flatnonzero(succ[:n] != n)
    while len(active):
        hop = succ[active]
        left[active] += left[hop]  # gathered before written: every row moves in step
        succ[active] = succ[hop]
        active = active[succ[active] != n]
    size = left[:n] - left[escape]
    roots = np.flatnonzero(parent < 0)
    start = np.zeros(n, np.int64)
    start[roots] = np.cumsum(left[roots]) - left[roots]  # trees follow each other in row order
    return start[root] + left[root] - left[:n], size


@dataclass(frozen=True)
class _Forest:
    """Effective parent links of a frame, plus the per-depth row grouping rollups need."""

    parent: IntArray  # row of the effective parent, -1 for roots
    root: IntArray
    depth: IntArray
    order: IntArray  # rows sorted by depth, row order within one depth
    bounds: IntArray  # order[bounds[d]:bounds[d + 1]] are the rows at depth d
    is_orphan: BoolArray
    is_duplicate: BoolArray
    in_cycle: BoolArray

    @property
    def max_depth(self) -> int:
        return len(self.bounds) - 2

    @property
    def shallow(self) -> bool:
        """Few enough levels that one numpy pass per level is the fast way."""
        return self.max_depth <= _LEVEL_LOOP_MAX_DEPTH

    def level(self, d: int) -> IntArray:
        return self.order[self.bounds[d] : self.bounds[d + 1]]

    @cached_property
    def rank_in_order(self) -> IntArray:
        """Inverse of ``order``: where each row sits in depth order."""
        rank = np.empty(len(self.order), np.int64)
        rank[self.order] = np.arange(len(self.order), dtype=np.int64)
        return rank

    @cached_property
    def parent_in_order(self) -> IntArray:
        """For the rows in depth order, where their parent sits in depth order (roots: 0)."""
        return self.rank_in_order[np.maximum(self.parent[self.order], 0)]

    @cached_property
    def preorder(self) -> tuple[IntArray, IntArray]:
        """``(rank, size)``: each row's place in document order (each parent, then its
        subtrees, siblings in row order) and its subtree's size. A subtree is the run
        ``rank[r] : rank[r] + size[r]`` of document order."""
        if not self.shallow:
            return _preorder_by_jumping(self.parent, self.root)
        n = len(self.parent)
        (size,) = _roll_up(self, np.ones(n))
        # A row's subtree starts after its parent and after its earlier siblings' subtrees.
        rank = _sibling_offsets(self, size)
        for d in range(1, self.max_depth + 1):
            rows = self.level(d)
            rank[rows] += rank[self.parent[rows]] + 1
        return rank, size

    @cached_property
    def document_order(self) -> IntArray:
        """Rows in document order (the inverse of ``preorder[0]``)."""
        order = np.empty(len(self.parent), np.int64)
        order[self.preorder[0]] = np.arange(len(self.parent), dtype=np.int64)
        return order

    def subtree_sums(self, *values: npt.NDArray[Any]) -> list[IntArray]:
        """Sum each of ``values`` (integers) over every row's subtree."""
        if self.shallow:
            return _roll_up(self, *values)
        rank, size = self.preorder
        out = []
        for v in values:
            running = np.zeros(len(rank) + 1, np.int64)
            np.cumsum(np.asarray(v, np.int64)[self.document_order], out=running[1:])
            out.append(running[rank + size] - running[rank])
        return out

    def ancestor_at_depth(self, d: int) -> IntArray:
        """Per row its ancestor at depth ``d`` (itself if it is not deeper than ``d``)."""
        up = np.arange(len(self.parent), dtype=np.int64)
        if self.shallow:
            for k in range(d + 1, self.max_depth + 1):
                rows = self.level(k)
                up[rows] = up[self.parent[rows]]
            return up
        # In document order, the last row at depth d before a deeper row is its ancestor.
        rank = self.preorder[0]
        at_d = self.level(d)
        at_d = at_d[np.argsort(rank[at_d])]
        deeper = np.flatnonzero(self.depth > d)
        up[deeper] = at_d[np.searchsorted(rank[at_d], rank[deeper], side="right") - 1]
        return up


def _forest(ids: pa.LargeStringArray, parents: pa.LargeStringArray) -> _Forest:
    n = len(ids)
    rows = np.arange(n, dtype=np.int64)
    parent, is_duplicate = _link(ids, parents)
    is_orphan = ~np.asarray(parents.is_null(), dtype=np.bool_) & (parent < 0)
    parent[is_duplicate] = -1
    is_cut = parent == rows  # a self-parent is a cycle of one, already cut
    parent[is_cut] = -1
    up = np.where(parent >= 0, parent, rows)  # roots point at themselves
    anc = up.copy()
    dist = (up != rows).astype(np.int64)
    rounds = max(n, 1).bit_length() + 1  # 2**rounds > n: a chain that reaches a root has
    stuck = _jump(up, anc, dist, np.flatnonzero(up[anc] != anc), rounds)
    if len(stuck):
        is_cut[_break_cycles(up, stuck, anc[stuck])] = True
        anc[stuck] = up[stuck]
        dist[stuck] = (up[stuck] != stuck).astype(np.int64)
        _jump(up, anc, dist, stuck[up[anc[stuck]] != anc[stuck]], rounds)
        parent = np.where(up != rows, up, -1)
    in_cycle = is_cut[anc]
    # Depths are small in practice: int16 keys get numpy's O(n) radix sort.
    max_depth = int(dist.max()) if n else 0
    key = dist.astype(np.int16) if max_depth < np.iinfo(np.int16).max else dist
    order = np.argsort(key, kind="stable").astype(np.int64)
    bounds = np.zeros(max_depth + 2, np.int64)
    np.cumsum(np.bincount(dist, minlength=max_depth + 1), out=bounds[1:])
    return _Forest(parent, anc, dist, order, bounds, is_orphan, is_duplicate, in_cycle)


def _forest_of(df: pd.DataFrame, id_col: str, parent_col: str) -> tuple[_Forest, pa.Array]:
    for col in (id_col, parent_col):
        if col not in df.columns:
            raise KeyError(f"task frame has no {col!r} column")
    ids = _arrow_strings(df[id_col])
    return _forest(ids, _arrow_strings(df[parent_col])), ids


def _before_in_group(keys: IntArray, weights: IntArray | None = None) -> IntArray:
    """Sum of ``weights`` over the earlier rows with the same key (with no weights: the rank
    among them, a cumcount). Sorted keys, the usual case in depth order, skip the sort."""
    n = len(keys)
    presorted = bool(np.all(keys[1:] >= keys[:-1]))
    by_key = None if presorted else np.argsort(keys, kind="stable")
    grouped = keys if by_key is None else keys[by_key]
    step = np.ones(n, np.int64) if weights is None else weights
    step = step if by_key is None else step[by_key]
    running = np.cumsum(step) - step
    base = np.zeros(n, np.int64)  # running total where each row's group starts
    starts = np.flatnonzero(grouped[1:] != grouped[:-1]) + 1
    base[starts] = running[starts]
    np.maximum.accumulate(base, out=base)  # weights are >= 0, so group bases only grow
    running -= base
    if by_key is None:
        return running
    out = np.empty(n, np.int64)
    out[by_key] = running
    return out


def _sibling_offsets(forest: _Forest, weights: IntArray | None = None) -> IntArray:
    """Per row, the sum of ``weights`` (default 1) over its earlier siblings.

    Computed in depth order, where the parents of one level sit in the level before it in
    row order; for document-ordered input the parent keys are then already sorted.
    """
    keys = forest.parent_in_order.copy()
    keys[: forest.bounds[1]] = -1  # the roots are siblings of each other
    in_order = None if weights is None else weights[forest.order]
    return _before_in_group(keys, in_order)[forest.rank_in_order]


def _roll_up(forest: _Forest, *values: npt.NDArray[Any]) -> list[IntArray]:
    """Sum each of ``values`` over every subtree, deepest level first.

    Works in depth order, where each level is a contiguous slice and a row's parent sits in
    the slice before it, so every level is one ``bincount`` over two short slices.
    """
    bounds = forest.bounds
    above = forest.parent_in_order
    totals = [np.asarray(v, np.float64)[forest.order] for v in values]  # bincount sums floats
    for d in range(forest.max_depth, 0, -1):
        lo, hi, top = bounds[d], bounds[d + 1], bounds[d - 1]
        local_parent = above[lo:hi] - top
        for total in totals:
            total[top:lo] += np.bincount(local_parent, total[lo:hi], minlength=lo - top)
    out = []
    for total in totals:
        by_row = np.empty(len(total), np.int64)
        by_row[forest.order] = total  # exact: counts stay far below 2**53
        out.append(by_row)
    return out


def _paths(forest: _Forest, ids: pa.LargeStringArray) -> pa.Array:
    """'/'-joined id paths, root first, null where the row's own id is null; elided below
    :data:`PATH_MAX_IDS` ids, so each value holds at most that many ids.

    Usually written as bytes (:func:`_paths_by_bytes`). Otherwise built one depth at a time
    in depth order, where a level's parents are the level before it: path = parent's path +
    "/" + id, with Arrow string kernels, then put in row order.
    Rows deeper than that join their ancestor's path at the last full depth, the marker and
    their own id, in one pass.
    """
    if len(ids) == 0:
        return pa.array([], pa.large_string())
    written = _paths_by_bytes(forest, ids)
    if written is not None:
        return written
    own = ids.take(pa.array(forest.order))
    bounds, above = forest.bounds, forest.parent_in_order
    levels = [own.slice(0, bounds[1])]
    for d in range(1, min(forest.max_depth, PATH_MAX_IDS - 1) + 1):
        lo, hi = bounds[d], bounds[d + 1]
        parents = levels[-1].take(pa.array(above[lo:hi] - bounds[d - 1]))
        levels.append(pc.binary_join_element_wise(parents, own.slice(lo, hi - lo), _SEPARATOR))
    if forest.max_depth >= PATH_MAX_IDS:
        full = pa.concat_arrays(levels)  # depth order: the rows above the cut come first
        deep = forest.order[bounds[PATH_MAX_IDS] :]
        head = forest.rank_in_order[forest.ancestor_at_depth(PATH_MAX_IDS - 2)[deep]]
        tail = own.slice(bounds[PATH_MAX_IDS])
        levels = [full, pc.binary_join_element_wise(full.take(pa.array(head)), tail, _ELIDED)]
        del full
    by_depth = pa.concat_arrays(levels)
    levels.clear()  # paths are the biggest arrays here: hold at most two copies at once
    return by_depth.take(pa.array(forest.rank_in_order))


_BYTE_PATH_MAX_WIDTHS = 8  # distinct id lengths the byte path copies one group at a time


def _paths_by_bytes(forest: _Forest, ids: pa.LargeStringArray) -> pa.Array | None:
    """The paths written straight into one byte buffer in row order, or None.

    A row's path starts with its parent's path, so an ancestor's id sits at the same
    offset (the ancestor's own path length minus its id) in every path below it. Ids of
    one length take :func:`_paths_of_one_width`, one copy per level; ids of a few lengths
    are copied ancestor by ancestor, one fixed-width copy per step and length. Either way
    no string is made per level, nothing is reordered, and the paths are held once where
    the join holds them twice. Returns None where the join handles it: null ids, elided
    paths, or ids of many different lengths.
    """
    if ids.null_count or forest.max_depth >= PATH_MAX_IDS:
        return None
    offsets, data = _string_buffers(ids, padded=False)  # reads never pass a string's end
    lengths = np.diff(offsets)
    widths = np.flatnonzero(np.bincount(lengths)) if len(lengths) else lengths
    if len(widths) > _BYTE_PATH_MAX_WIDTHS:
        return None
    if len(widths) == 1 and widths[0] > 0:
        return _paths_of_one_width(forest, data, int(widths[0]))
    parent = forest.parent
    plen = lengths.copy()  # each row's path length: its parent's, a separator and its id
    for d in range(1, forest.max_depth + 1):
        rows = forest.level(d)
        plen[rows] += plen[parent[rows]] + 1
    out_offsets = np.zeros(len(ids) + 1, np.int64)
    np.cumsum(plen, out=out_offsets[1:])
    out = np.empty(int(out_offsets[-1]), np.uint8)
    begin = offsets[:-1] - offsets[0]
    start, node = out_offsets[:-1], np.arange(len(ids), dtype=np.int64)
    for step in range(forest.max_depth + 1):
        if step:  # climb one level; rows whose root is already written drop out
            up = parent[node]
            keep = up >= 0
            start, node = start[keep], up[keep]
            out[start + plen[node]] = ord(PATH_SEPARATOR)
        at = start + plen[node] - lengths[node]
        for width in widths.tolist():
            if width == 0:
                continue
            pick = lengths[node] == width if len(widths) > 1 else slice(None)
            _byte_view(out, width)[at[pick]] = _byte_view(data, width)[begin[node[pick]]]
    return pa.Array.from_buffers(
        pa.large_string(),
        len(ids),
        [None, pa.py_buffer(out_offsets), pa.py_buffer(out)],
    )


def _paths_of_one_width(forest: _Forest, data: np.ndarray, width: int) -> pa.Array:
    """``_paths_by_bytes`` when every id is ``width`` bytes long (the usual case).

    Then every path at depth d has the same length, so each level is two copies: its
    parents' whole paths (written the level before) as one fixed-width item each, and
    the separator; every row's own id is written once, up front.
    """
    n = len(forest.parent)
    plen = forest.depth * (width + 1) + width
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(plen, out=offsets[1:])
    start = offsets[:-1]
    out = np.empty(int(offsets[-1]), np.uint8)
    _byte_view(out, width)[start + plen - width] = _byte_view(data, width)[::width]
    for d in range(1, forest.max_depth + 1):
        rows = forest.level(d)
        above = d * (width + 1) - 1  # a parent's path length
        at = start[rows]
        _byte_view(out, above)[at] = _byte_view(out, above)[start[forest.parent[rows]]]
        out[at + above] = ord(PATH_SEPARATOR)
    return pa.Array.from_buffers(
        pa.large_string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(out)]
    )


def _ints(values: npt.ArrayLike) -> pd.arrays.IntegerArray:
    values = np.asarray(values, dtype=np.int64)
    return pd.arrays.IntegerArray(values, np.zeros(len(values), np.bool_))


def _bools(values: BoolArray) -> pd.arrays.BooleanArray:
    return pd.arrays.BooleanArray(values, np.zeros(len(values), np.bool_))


def _strings(arr: pa.Array) -> pd.arrays.ArrowStringArray:
    return pd.arrays.ArrowStringArray(arr)


def _completed(df: pd.DataFrame, completed_col: str) -> BoolArray:
    if completed_col not in df.columns:
        raise KeyError(f"task frame has no {completed_col!r} column")
    done = df[completed_col].astype(pd.BooleanDtype())
    return done.to_numpy(dtype=np.bool_, na_value=False)


def add_tree_columns(
    df: pd.DataFrame,
    *,
    id_col: str = "id",
    parent_col: str = "parent_id",
    completed_col: str = "completed",
    path: bool = True,
) -> pd.DataFrame:
    """Return a copy of a task frame with tree columns added (see :data:`TREE_DTYPES`).

    Each column is defined in the module docstring (``help(taskade_frames.trees)``):
    ``position``, ``depth``, ``root_id``, ``path``, ``sibling_index``, ``n_children``,
    ``n_descendants``, ``is_leaf``, ``leaves_total``, ``leaves_done``, ``share_done`` (over
    leaves), ``is_orphan``, ``in_cycle``, ``is_duplicate``. Rows, index and existing columns
    are kept as they are; columns with the new names are replaced. Roots are rows with no
    parent, orphans, later duplicates and cut cycle points. Leaves with a missing
    ``completed`` count as not done. Memory is linear in the number of tasks for any shape.

    Args:
        df: tasks with ``id_col``, ``parent_col`` (NA for roots) and ``completed_col``.
        id_col, parent_col, completed_col: column names.
        path: build the ``path`` column (ids from the root down, joined by "/", elided to
            ``a/b/…/z`` past :data:`PATH_MAX_IDS` ids). It is the costliest column, so it
            can be skipped; the column is then absent. Use :func:`path_lists` for whole
            paths, or when ids may contain "/".

    Returns:
        A new DataFrame.

    Raises:
        KeyError: a required column is missing.

    >>> tasks = pd.DataFrame({"id": ["a", "b", "c"], "parent_id": [None, "a", "a"],
    ...                       "completed": [False, True, False]})
    >>> add_tree_columns(tasks)[["id", "depth", "path", "leaves_done", "share_done"]]
      id  depth path  leaves_done  share_done
    0  a      0    a            1         0.5
    1  b      1  a/b            1         1.0
    2  c      1  a/c            0         0.0
    """
    forest, ids = _forest_of(df, id_col, parent_col)
    columns = _tree_columns(forest, ids, _completed(df, completed_col), path)
    added = pd.DataFrame(
        {name: values for name, values in columns.items() if values is not None},
        index=df.index,
        copy=False,  # setting columns one by one would copy every array once more
    )
    kept = df.drop(columns=[c for c in added.columns if c in df.columns])
    out = pd.concat([kept, added], axis=1)
    out.attrs = dict(df.attrs)  # concat keeps attrs only when every part has the same
    return out


def _tree_columns(forest: _Forest, ids: pa.Array, done: BoolArray, path: bool) -> dict[str, Any]:
    """The arrays of :data:`TREE_DTYPES`, in order (``path`` None when skipped)."""
    n = len(ids)
    parent = forest.parent
    has_parent = parent >= 0
    n_children = np.bincount(parent[has_parent], minlength=n).astype(np.int64)
    is_leaf = n_children == 0
    size, leaves_total, leaves_done = forest.subtree_sums(np.ones(n), is_leaf, is_leaf & done)
    share = leaves_done / np.maximum(leaves_total, 1)
    return {
        "position": _ints(np.arange(n)),
        "depth": _ints(forest.depth),
        "root_id": _strings(ids.take(pa.array(forest.root))),
        "path": _strings(_paths(forest, ids)) if path else None,
        "sibling_index": _ints(_sibling_offsets(forest)),
        "n_children": _ints(n_children),
        "n_descendants": _ints(size - 1),
        "is_leaf": _bools(is_leaf),
        "leaves_total": _ints(leaves_total),
        "leaves_done": _ints(leaves_done),
        "share_done": pd.arrays.FloatingArray(share, np.zeros(n, np.bool_)),
        "is_orphan": _bools(forest.is_orphan),
        "in_cycle": _bools(forest.in_cycle),
        "is_duplicate": _bools(forest.is_duplicate),
    }


def path_lists(df: pd.DataFrame, *, id_col: str = "id", parent_col: str = "parent_id") -> pd.Series:
    """Each row's path as a list of ids, root first -- safe when ids contain "/".

    Unlike the ``path`` column these are never elided, so their size grows with
    ``n * depth``; beyond :data:`PATH_LISTS_MAX_IDS` ids in all it raises instead.

    Returns:
        A Series of ``list<string>`` (Arrow-backed), aligned with ``df``.

    Raises:
        KeyError: a required column is missing.
        ValueError: the paths would hold more than :data:`PATH_LISTS_MAX_IDS` ids.

    >>> tasks = pd.DataFrame({"id": ["a", "b/1"], "parent_id": [None, "a"]})
    >>> path_lists(tasks).tolist()
    [['a'], ['a', 'b/1']]
    """
    forest, ids = _forest_of(df, id_col, parent_col)
    n = len(df)
    depth = forest.depth
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(depth + 1, out=offsets[1:])
    if offsets[-1] > PATH_LISTS_MAX_IDS:  # whole paths grow with n * depth: refuse, not crash
        raise ValueError(
            f"whole paths of these {n:,} tasks (max depth {forest.max_depth:,}) would hold "
            f"{int(offsets[-1]):,} ids, more than PATH_LISTS_MAX_IDS={PATH_LISTS_MAX_IDS:,}; "
            "use the elided 'path' column, or ancestors() for single tasks"
        )
    members = np.empty(int(offsets[-1]), np.int64)
    # Walk every row upwards at once; its step-th ancestor goes to slot depth - step.
    walking = np.arange(n, dtype=np.int64)
    node = walking.copy()
    for step in range(forest.max_depth + 1):
        members[offsets[walking] + depth[walking] - step] = node
        keep = depth[walking] > step
        walking, node = walking[keep], forest.parent[node[keep]]
    values = ids.take(pa.array(members))
    lists = pa.LargeListArray.from_arrays(pa.array(offsets), values)
    return pd.Series(lists, index=df.index, dtype=pd.ArrowDtype(lists.type), name="path")


# --------------------------------------------------------------------------------------
# selections
# --------------------------------------------------------------------------------------


# Selections keep the forest of each frame they saw, while the frame lives. An entry is
# trusted only while the frame's id and parent columns are still the very Arrow buffers it
# was built from: Arrow buffers are immutable and the entry holds on to them (so their
# addresses cannot be reused), hence any edit of those columns, which makes new buffers,
# is seen. Columns not stored in Arrow can change in place, so they are never cached.
_CACHE_SIZE = 8
_cache: OrderedDict[int, tuple[Any, tuple[Any, ...], _Forest, pa.Array, _IdIndex | None]] = (
    OrderedDict()
)
_cache_lock = threading.Lock()  # widgets run selections from worker threads too


def _arrow_backed(column: pd.Series) -> pa.Array | pa.ChunkedArray | None:
    dtype = column.dtype
    arrow = (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow") or (
        isinstance(dtype, pd.ArrowDtype) and pa.types.is_string(dtype.pyarrow_dtype)
    )
    return pa.array(column.array) if arrow else None  # zero-copy for Arrow-backed arrays


def _fingerprint(arrays: list[pa.Array | pa.ChunkedArray]) -> tuple[Any, ...]:
    chunks = [c for a in arrays for c in (a.chunks if isinstance(a, pa.ChunkedArray) else [a])]
    return tuple(
        (c.offset, len(c), tuple(b.address if b is not None else 0 for b in c.buffers()))
        for c in chunks
    )


def _selection_forest(
    df: pd.DataFrame, id_col: str, parent_col: str
) -> tuple[_Forest, pa.Array, _IdIndex | None]:
    """The frame's forest (and id index), from the cache when the frame's id and parent
    data are unchanged."""
    for col in (id_col, parent_col):
        if col not in df.columns:
            raise KeyError(f"task frame has no {col!r} column")
    arrays = [_arrow_backed(df[id_col]), _arrow_backed(df[parent_col])]
    if arrays[0] is None or arrays[1] is None:
        return (*_forest_of(df, id_col, parent_col), None)
    key, fingerprint = id(df), (id_col, parent_col, _fingerprint(arrays))
    with _cache_lock:
        entry = _cache.get(key)
        if entry is not None and entry[0]() is df and entry[1][:3] == fingerprint:
            _cache.move_to_end(key)
            return entry[2], entry[3], entry[4]
    forest, ids = _forest_of(df, id_col, parent_col)  # outside the lock: it takes a while
    index = _IdIndex(ids, forest)
    ref = weakref.ref(df)
    with _cache_lock:
        for dead in [k for k, e in _cache.items() if e[0]() is None]:
            del _cache[dead]
        _cache[key] = (ref, (*fingerprint, arrays), forest, ids, index)
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    weakref.finalize(df, _forget, key, ref)
    return forest, ids, index


def _forget(key: int, ref: Any) -> None:
    # Runs from the garbage collector, maybe in a thread holding the lock: never wait for
    # it. An entry left behind here is dropped at the next insertion.
    if not _cache_lock.acquire(blocking=False):
        return
    try:
        entry = _cache.get(key)
        if entry is not None and entry[0] is ref:
            del _cache[key]
    finally:
        _cache_lock.release()


class _IdIndex:
    """Row of each id by binary search over sorted 64-bit hashes: O(log n) per id once
    built, where a scan of a million ids costs about 10 ms per call. Matches are checked
    on the strings; anything unconfirmed goes back to the scan."""

    def __init__(self, ids: pa.LargeStringArray, forest: _Forest) -> None:
        hashes = _hash_strings(ids)
        self.usable = hashes is not None
        if hashes is None:
            return
        rows = np.flatnonzero(np.asarray(ids.is_valid(), dtype=np.bool_) & ~forest.is_duplicate)
        by_hash = np.argsort(hashes[rows])
        self.rows, self.hashes = rows[by_hash], hashes[rows][by_hash]

    def find(self, ids: pa.Array, wanted: pa.LargeStringArray) -> IntArray | None:
        """Rows of ``wanted`` in the same order, or None if the index cannot vouch for all."""
        hashes = _hash_strings(wanted) if self.usable and len(self.rows) else None
        if hashes is None:
            return None
        at = np.minimum(np.searchsorted(self.hashes, hashes), len(self.hashes) - 1)
        rows = self.rows[at]
        if not np.array_equal(self.hashes[at], hashes) or not _same_strings(
            ids, rows, wanted, np.arange(len(wanted))
        ):
            return None
        return rows


def _wanted(task_ids: Any) -> pa.Array:
    """One id or a collection of ids as a large_string array; plain mistakes are TypeError
    or ValueError, never an Arrow error."""
    if isinstance(task_ids, str):
        return pa.array([task_ids], pa.large_string())
    if isinstance(task_ids, (pd.DataFrame, dict, bytes)) or not isinstance(task_ids, Iterable):
        raise TypeError(
            f"task ids must be a str or a list/array/Series of str, got {type(task_ids).__name__}"
        )
    values = list(task_ids.array if isinstance(task_ids, (pd.Series, pd.Index)) else task_ids)
    for v in values:
        if not isinstance(v, str):
            if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
                raise ValueError("task ids contain a missing value (NA)")
            raise TypeError(f"task ids must be str, got {type(v).__name__} {v!r}")
    return pa.array(values, pa.large_string())


def _rows_of(
    ids: pa.Array, task_ids: Any, forest: _Forest, id_col: str, index: _IdIndex | None = None
) -> IntArray:
    """Rows (first of each id, in row order) holding the given ids; all must be present."""
    wanted = _wanted(task_ids)
    found = None if index is None or not len(wanted) else index.find(ids, wanted)
    if found is not None:
        return np.unique(found)
    # With one id, a scan with one comparison is faster than building a set.
    hit = pc.equal(ids, wanted[0]) if len(wanted) == 1 else pc.is_in(ids, value_set=wanted)
    rows = np.flatnonzero(np.asarray(hit.fill_null(False), dtype=np.bool_))
    rows = rows[~forest.is_duplicate[rows]]
    if len(rows) < len(wanted):
        found = pc.is_in(wanted, value_set=ids.take(pa.array(rows)))
        missing = wanted.filter(pc.invert(found)).to_pylist()
        if missing:
            raise TaskNotFoundError(list(dict.fromkeys(missing)), id_col)
    return rows


def _select_doc(what: str, example: str) -> str:
    return f"""{what}

    Args:
        df: tasks with ``id_col`` and ``parent_col``.
        task_id: one id, or a list, array or Series of ids (the result is the union).
        id_col, parent_col: column names.

    Raises:
        TaskNotFoundError: no row has one of the ids (a ``KeyError``; ``.missing`` lists
            them all).
        TypeError, ValueError: ``task_id`` is not a str or a collection of str, or holds NA.
        KeyError: a required column is missing.

    {example}
    """


def subtree(
    df: pd.DataFrame, task_id: Any, *, id_col: str = "id", parent_col: str = "parent_id"
) -> pd.DataFrame:
    forest, ids, index = _selection_forest(df, id_col, parent_col)
    tops = _rows_of(ids, task_id, forest, id_col, index)
    rank, size = forest.preorder
    lo, hi = rank[tops], rank[tops] + size[tops]
    if len(tops) == 1 and (hi[0] - lo[0]) * 32 < len(df):  # small: sort the run, skip a scan
        return df.iloc[np.sort(forest.document_order[lo[0] : hi[0]])]
    cover = np.cumsum(
        np.bincount(lo, minlength=len(df) + 1) - np.bincount(hi, minlength=len(df) + 1)
    )
    return df.iloc[np.flatnonzero(cover[rank] > 0)]


subtree.__doc__ = _select_doc(
    "The tasks and all their descendants, in the frame's row order.",
    """>>> tasks = pd.DataFrame({"id": ["a", "b", "c"], "parent_id": [None, "a", None]})
    >>> subtree(tasks, "a")["id"].tolist()
    ['a', 'b']""",
)


def ancestors(
    df: pd.DataFrame, task_id: Any, *, id_col: str = "id", parent_col: str = "parent_id"
) -> pd.DataFrame:
    forest, ids, index = _selection_forest(df, id_col, parent_col)
    tops = _rows_of(ids, task_id, forest, id_col, index)
    if forest.shallow:  # a few steps up from each task
        found, at = [], forest.parent[tops]
        while len(at := at[at >= 0]):
            found.append(at)
            at = forest.parent[at]
        rows = np.unique(np.concatenate(found)) if found else tops[:0]
    else:  # an ancestor's document-order run holds a task after the ancestor itself
        rank, size = forest.preorder
        inside = np.sort(rank[tops])
        holds = np.searchsorted(inside, rank + size) > np.searchsorted(inside, rank, side="right")
        rows = np.flatnonzero(holds)
    return df.iloc[rows[np.argsort(forest.depth[rows], kind="stable")]]


ancestors.__doc__ = _select_doc(
    "The tasks' ancestors, root first (by depth, then row order); empty for roots.",
    """>>> tasks = pd.DataFrame({"id": ["a", "b", "c"], "parent_id": [None, "a", "b"]})
    >>> ancestors(tasks, "c")["id"].tolist()
    ['a', 'b']""",
)


def children(
    df: pd.DataFrame, task_id: Any, *, id_col: str = "id", parent_col: str = "parent_id"
) -> pd.DataFrame:
    forest, ids, index = _selection_forest(df, id_col, parent_col)
    tops = _rows_of(ids, task_id, forest, id_col, index)
    hit = forest.parent == tops[0] if len(tops) == 1 else np.isin(forest.parent, tops)
    return df.iloc[np.flatnonzero(hit)]


children.__doc__ = _select_doc(
    "The tasks' direct children, in row order.",
    """>>> tasks = pd.DataFrame({"id": ["a", "b", "c"], "parent_id": [None, "a", "b"]})
    >>> children(tasks, "a")["id"].tolist()
    ['b']""",
)


# --------------------------------------------------------------------------------------
# Markdown outlines
# --------------------------------------------------------------------------------------


def _escape(text: pa.Array) -> pa.Array:
    # Backslash first, so the backslashes added for newlines are not doubled.
    text = pc.replace_substring(text, "\\", "\\\\")
    text = pc.replace_substring(text, "\n", "\\n")
    return pc.replace_substring(text, "\r", "\\r")


_ESCAPES = {"\\": "\\", "n": "\n", "r": "\r"}
_ESCAPED = re.compile(r"\\([\\nr])")


def _unescape(text: str) -> str:
    return _ESCAPED.sub(lambda m: _ESCAPES[m.group(1)], text)


def _unescape_all(text: pa.Array) -> pa.Array:
    """:func:`_unescape` for a whole column, with Arrow kernels.

    An escaped backslash is parked on a private-use character that no text contains, so
    that the "n" after it is not read as a newline escape.
    """
    text = text.cast(pa.large_string())
    if not pc.any(pc.match_substring(text, "\\")).as_py():
        return text
    for code in range(0xE000, 0xF900):
        park = chr(code)
        if not pc.any(pc.match_substring(text, park)).as_py():
            break
    else:  # every private-use character is taken: go row by row
        return pa.array([None if t is None else _unescape(t) for t in text.to_pylist()])
    text = pc.replace_substring(text, "\\\\", park)
    text = pc.replace_substring(text, "\\n", "\n")
    text = pc.replace_substring(text, "\\r", "\r")
    return pc.replace_substring(text, park, "\\")


def to_markdown_outline(
    df: pd.DataFrame,
    title: str,
    *,
    id_col: str = "id",
    parent_col: str = "parent_id",
    text_col: str = "text",
    completed_col: str = "completed",
) -> str:
    """Render tasks as the Markdown outline ``createProject`` accepts.

    The first line is ``# {title}``, then a blank line, then one checkbox item per task in
    document order, indented two spaces per depth. Depth and order are recomputed from the
    id links (corrupt links resolved as in the module docstring), so the outline is always
    well formed. Backslash, newline and carriage return in texts are written as ``\\\\``,
    ``\\n`` and ``\\r``, keeping one task per line. No trailing newline.

    Raises:
        KeyError: a required column is missing.

    >>> tasks = pd.DataFrame({"id": ["a", "b"], "parent_id": [None, "a"],
    ...                       "text": ["Plan", "Draft"], "completed": [False, True]})
    >>> print(to_markdown_outline(tasks, "Q2"))
    # Q2
    <BLANKLINE>
    - [ ] Plan
      - [x] Draft
    """
    forest, _ = _forest_of(df, id_col, parent_col)
    done = _completed(df, completed_col)
    if text_col not in df.columns:
        raise KeyError(f"task frame has no {text_col!r} column")
    header = f"# {_escape(pa.array([title])).to_pylist()[0]}"
    if len(df) == 0:
        return header + "\n"
    order = pa.array(forest.document_order)
    text = _escape(_arrow_strings(df[text_col]).fill_null(""))
    indent = pc.binary_repeat(pa.scalar("  ", pa.large_string()), pa.array(forest.depth))
    box = pa.array(np.where(done, "- [x] ", "- [ ] ").astype(object), pa.large_string())
    lines = pc.binary_join_element_wise(indent, box, text, _EMPTY)
    lines = lines.take(order)
    body = pc.binary_join(
        pa.LargeListArray.from_arrays(pa.array([0, len(lines)]), lines),
        pa.scalar("\n", pa.large_string()),
    )
    return f"{header}\n\n{body[0].as_py()}"


_HEADING = re.compile(r"#{1,6}(?:[ \t]+(.*))?")
# One outline item: indentation, a bullet, then an optional checkbox and the text.
_ITEM = (
    r"^(?P<indent>[ \t]*)[-*+]"
    r"(?: (?:\[(?P<mark>[ xX])\](?: (?P<boxed>.*))?$|(?P<plain>.*)))?$"
)


def _outline_links(level: IntArray) -> tuple[IntArray, IntArray]:
    """Depth and parent row of outline items from their indentation levels."""
    # Each item is at most one level below the one before: depth_i = min(level_i,
    # depth_{i-1} + 1), which unrolls to i + min over j <= i of (level_j - j).
    n = len(level)
    steps = np.arange(n, dtype=np.int64)
    if n:
        level[0] = 0
    depth = np.minimum.accumulate(level - steps) + steps if n else level
    # The parent is the closest earlier item one level up.
    parent = np.full(n, -1, np.int64)
    at_depth = [np.flatnonzero(depth == d) for d in range(int(depth.max(initial=-1)) + 1)]
    for d in range(1, len(at_depth)):
        above = at_depth[d - 1]
        parent[at_depth[d]] = above[np.searchsorted(above, at_depth[d]) - 1]
    return depth, parent


def parse_markdown_outline(md: str) -> tuple[str, pd.DataFrame]:
    """Read an outline written by :func:`to_markdown_outline` (or by hand) back into tasks.

    Accepts ``- [ ]``, ``- [x]``/``- [X]`` and plain ``- text`` items with ``-``, ``*`` or
    ``+`` bullets, indented two spaces (or one tab) per level. An item indented deeper than
    one level below the previous item is attached one level below it. Blank lines are
    skipped; a first ``# title`` line (one to six ``#``) gives the title, without the
    spaces and tabs around it ("" if absent). A ``\\r`` ending a line is a line ending.
    The rules, shared with the emulator's parser, are the golden cases in
    ``tests/golden/outlines.json``.

    Returns:
        ``(title, tasks)``; tasks have ``id`` (synthetic ``t0``, ``t1``, ...), ``parent_id``,
        ``text``, ``completed`` and ``depth``, in document order.

    Raises:
        ValueError: a non-blank line is neither the title nor a list item.

    >>> title, tasks = parse_markdown_outline("# Q2\\n\\n- [ ] Plan\\n  - [x] Draft")
    >>> title, tasks["parent_id"].tolist(), tasks["completed"].tolist()
    ('Q2', [<NA>, 't0'], [False, True])
    """
    lines = md.split("\n")
    numbers = np.array([k for k, line in enumerate(lines, start=1) if line.strip()], np.int64)
    kept = [lines[k - 1].removesuffix("\r") for k in numbers]
    title = ""
    heading = _HEADING.fullmatch(kept[0].strip(" \t")) if kept else None
    if heading is not None:
        # Only spaces and tabs pad a heading; other whitespace is part of the title.
        title, kept, numbers = _unescape((heading[1] or "").strip(" \t")), kept[1:], numbers[1:]
    parts = pc.extract_regex(pa.array(kept, pa.large_string()), _ITEM)
    bad = np.flatnonzero(np.asarray(parts.is_null(), dtype=np.bool_))
    if len(bad):
        line = kept[bad[0]]
        raise ValueError(f"line {numbers[bad[0]]} is not an outline item: {line!r}")
    indent, mark = parts.field("indent"), parts.field("mark")
    tabs = np.asarray(pc.count_substring(indent, "\t"), dtype=np.int64)
    spaces = np.asarray(pc.utf8_length(indent), dtype=np.int64) - tabs
    level = tabs + spaces // 2
    depth, parent = _outline_links(level)
    steps = np.arange(len(kept), dtype=np.int64)
    boxed = pc.not_equal(mark, "")
    text = _unescape_all(pc.if_else(boxed, parts.field("boxed"), parts.field("plain")))
    numbers_text = pc.cast(pa.array(steps), pa.large_string())
    ids = pc.binary_join_element_wise(pa.scalar("t", pa.large_string()), numbers_text, _EMPTY)
    tasks = pd.DataFrame(
        {
            "id": _strings(ids),
            "parent_id": _strings(ids.take(pa.array(parent, mask=parent < 0))),
            "text": _strings(text),
            "completed": _bools(np.asarray(pc.is_in(mark, pa.array(["x", "X"])), np.bool_)),
            "depth": _ints(depth),
        }
    )
    return title, tasks
