"""Tree columns for task frames, computed with array operations.

``listTasks`` returns a project's tasks as a flat list with ``parentId`` links. This module
turns such a frame into tree facts (depth, root, path, rollups of done leaves), selects
subtrees, and renders the Markdown outline that ``createProject`` accepts. Everything that
scales with the number of tasks is vectorised: ids become integer row positions once, and
depth, roots and cycle detection come from pointer jumping, rollups and paths go one depth
level at a time. A million tasks take about a second, and corrupt links (orphans, cycles,
duplicate ids) cannot make it hang: every loop is bounded by the depth or by log2(n).

How corrupt links are resolved (the "effective" forest every function here uses):

* **orphan** -- ``parent_id`` names no row of the frame: the row becomes a root.
* **duplicate id** -- the first row with an id is the node other rows point to; every later
  row with that id is flagged ``is_duplicate`` and becomes a root of its own (it keeps no
  parent, so a task listed twice is not counted twice in its parent's rollups).
* **cycle** -- in each parent cycle the member that comes first in row order loses its
  parent and becomes the root; the rest of the cycle, and everything hanging below it,
  stays attached. All those rows are flagged ``in_cycle``. A self-parent is a cycle of one.
* rows may come in any order; output is always in input row order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "TREE_DTYPES",
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

STRING = pd.StringDtype("pyarrow")
PATH_SEPARATOR = "/"
_SEPARATOR = pa.scalar(PATH_SEPARATOR, pa.large_string())
_EMPTY = pa.scalar("", pa.large_string())

#: Columns added by :func:`add_tree_columns`, in order, with their dtypes.
TREE_DTYPES: dict[str, Any] = {
    "position": pd.Int64Dtype(),
    "depth": pd.Int64Dtype(),
    "root_id": STRING,
    "path": STRING,
    "sibling_index": pd.Int64Dtype(),
    "n_children": pd.Int64Dtype(),
    "n_descendants": pd.Int64Dtype(),
    "is_leaf": pd.BooleanDtype(),
    "leaves_total": pd.Int64Dtype(),
    "leaves_done": pd.Int64Dtype(),
    "share_done": pd.Float64Dtype(),
    "is_orphan": pd.BooleanDtype(),
    "in_cycle": pd.BooleanDtype(),
    "is_duplicate": pd.BooleanDtype(),
}


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


def _string_buffers(arr: pa.LargeStringArray) -> tuple[IntArray, npt.NDArray[np.uint8]]:
    """Offsets and a zero-padded copy of the data buffer (8 spare bytes for wide reads)."""
    _, offsets_buf, data_buf = arr.buffers()
    n = len(arr)
    offsets = np.frombuffer(offsets_buf, dtype=np.int64, count=n + 1, offset=arr.offset * 8)
    start, stop = int(offsets[0]), int(offsets[-1])
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
    offsets, data = _string_buffers(arr)
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
    if same_length and not arr.null_count:  # the usual case: a strided view, no gather
        words = np.ndarray((n, n_words), dtype="<u8", buffer=data, strides=(longest, 8))
        for j in range(n_words):
            h ^= words[:, j] & _low_bytes(longest - 8 * j)
            _mix(h, scratch)
        return h
    unaligned = _byte_view(data, 8).view("<u8")
    begin = offsets[:-1] - offsets[0]
    for j in range(n_words):
        if same_length:  # only null slots differ, and their hashes do not matter
            h ^= unaligned[np.minimum(begin + 8 * j, len(unaligned) - 1)] & _low_bytes(
                longest - 8 * j
            )
            _mix(h, scratch)
            continue
        tail = lengths - 8 * j
        more = np.flatnonzero(tail > 0)  # shorter strings are done and keep their hash
        keep = (np.minimum(tail[more], 8) * 8).astype(np.uint64)
        mask = np.where(keep == 64, _ALL_ONES, (np.uint64(1) << (keep & np.uint64(63))) - 1)
        part = h[more] ^ (unaligned[begin[more] + 8 * j] & mask)
        _mix(part, np.empty_like(part))
        h[more] = part
    return h


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
    """'/'-joined id paths, root first, null where the row's own id is null.

    Built one depth at a time in depth order, where a level's parents are the level before
    it: path = parent's path + "/" + id, with Arrow string kernels, then put in row order.
    """
    if len(ids) == 0:
        return pa.array([], pa.large_string())
    own = ids.take(pa.array(forest.order))
    bounds, above = forest.bounds, forest.parent_in_order
    levels = [own.slice(0, bounds[1])]
    for d in range(1, forest.max_depth + 1):
        lo, hi = bounds[d], bounds[d + 1]
        parents = levels[-1].take(pa.array(above[lo:hi] - bounds[d - 1]))
        levels.append(pc.binary_join_element_wise(parents, own.slice(lo, hi - lo), _SEPARATOR))
    by_depth = pa.concat_arrays(levels)
    levels.clear()  # paths are the biggest arrays here: hold at most two copies at once
    return by_depth.take(pa.array(forest.rank_in_order))


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

    Rows, index and existing columns are kept as they are; columns with the new names are
    replaced. Roots are rows with no parent, orphans, later duplicates and cut cycle
    points (module docstring). Leaves with a missing ``completed`` count as not done.

    Args:
        df: tasks with ``id_col``, ``parent_col`` (NA for roots) and ``completed_col``.
        id_col, parent_col, completed_col: column names.
        path: build the ``path`` column (ids from the root down, joined by "/"). It is the
            costliest column, and its memory grows with depth, so it can be skipped; the
            column is then absent. Use :func:`path_lists` when ids may contain "/".

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
    done = _completed(df, completed_col)
    n = len(df)
    parent = forest.parent
    has_parent = parent >= 0
    n_children = np.bincount(parent[has_parent], minlength=n).astype(np.int64)
    is_leaf = n_children == 0
    size, leaves_total, leaves_done = _roll_up(forest, np.ones(n), is_leaf, is_leaf & done)
    share = leaves_done / np.maximum(leaves_total, 1)
    columns: dict[str, Any] = {
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
    added = pd.DataFrame(
        {name: values for name, values in columns.items() if values is not None},
        index=df.index,
        copy=False,  # setting columns one by one would copy every array once more
    )
    kept = df.drop(columns=[c for c in added.columns if c in df.columns])
    out = pd.concat([kept, added], axis=1)
    out.attrs = dict(df.attrs)  # concat keeps attrs only when every part has the same
    return out


def path_lists(df: pd.DataFrame, *, id_col: str = "id", parent_col: str = "parent_id") -> pd.Series:
    """Each row's path as a list of ids, root first -- safe when ids contain "/".

    Returns:
        A Series of ``list<string>`` (Arrow-backed), aligned with ``df``.

    >>> tasks = pd.DataFrame({"id": ["a", "b/1"], "parent_id": [None, "a"]})
    >>> path_lists(tasks).tolist()
    [['a'], ['a', 'b/1']]
    """
    forest, ids = _forest_of(df, id_col, parent_col)
    n = len(df)
    depth = forest.depth
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(depth + 1, out=offsets[1:])
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


def _row_of(ids: pa.Array, task_id: str, forest: _Forest) -> int:
    hits = np.flatnonzero(
        np.asarray(pc.equal(ids, pa.scalar(task_id, pa.large_string())).fill_null(False))
    )
    hits = hits[~forest.is_duplicate[hits]]
    if len(hits) == 0:
        raise KeyError(task_id)
    return int(hits[0])


def subtree(
    df: pd.DataFrame, task_id: str, *, id_col: str = "id", parent_col: str = "parent_id"
) -> pd.DataFrame:
    """The task and all its descendants, in the frame's row order.

    Raises:
        KeyError: no row has ``task_id``.

    >>> tasks = pd.DataFrame({"id": ["a", "b", "c"], "parent_id": [None, "a", None]})
    >>> subtree(tasks, "a")["id"].tolist()
    ['a', 'b']
    """
    forest, ids = _forest_of(df, id_col, parent_col)
    top = _row_of(ids, task_id, forest)
    inside = np.zeros(len(df), np.bool_)
    inside[top] = True
    for d in range(int(forest.depth[top]) + 1, forest.max_depth + 1):
        rows = forest.level(d)
        inside[rows] = inside[forest.parent[rows]]
    return df.iloc[np.flatnonzero(inside)]


def ancestors(
    df: pd.DataFrame, task_id: str, *, id_col: str = "id", parent_col: str = "parent_id"
) -> pd.DataFrame:
    """The task's ancestors, root first, down to its parent (empty for a root).

    Raises:
        KeyError: no row has ``task_id``.

    >>> tasks = pd.DataFrame({"id": ["a", "b", "c"], "parent_id": [None, "a", "b"]})
    >>> ancestors(tasks, "c")["id"].tolist()
    ['a', 'b']
    """
    forest, ids = _forest_of(df, id_col, parent_col)
    chain: list[int] = []
    row = int(forest.parent[_row_of(ids, task_id, forest)])
    while row >= 0:  # one chain, at most depth steps; cycles are already cut
        chain.append(row)
        row = int(forest.parent[row])
    return df.iloc[chain[::-1]]


def children(
    df: pd.DataFrame, task_id: str, *, id_col: str = "id", parent_col: str = "parent_id"
) -> pd.DataFrame:
    """The task's direct children, in row order.

    Raises:
        KeyError: no row has ``task_id``.

    >>> tasks = pd.DataFrame({"id": ["a", "b", "c"], "parent_id": [None, "a", "b"]})
    >>> children(tasks, "a")["id"].tolist()
    ['b']
    """
    forest, ids = _forest_of(df, id_col, parent_col)
    top = _row_of(ids, task_id, forest)
    return df.iloc[np.flatnonzero(forest.parent == top)]


# --------------------------------------------------------------------------------------
# Markdown outlines
# --------------------------------------------------------------------------------------


def _preorder(forest: _Forest) -> IntArray:
    """Rows in document order: each parent, then its subtrees, siblings in row order."""
    n = len(forest.parent)
    (size,) = _roll_up(forest, np.ones(n))
    # A row's subtree starts after its parent and after the subtrees of its earlier siblings.
    rank = _sibling_offsets(forest, size)
    for d in range(1, forest.max_depth + 1):
        rows = forest.level(d)
        rank[rows] += rank[forest.parent[rows]] + 1
    order = np.empty(n, np.int64)
    order[rank] = np.arange(n)
    return order


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
    order = pa.array(_preorder(forest))
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


# One outline item: indentation, a bullet, then an optional checkbox and the text.
_ITEM = (
    r"^(?P<indent>[ \t]*)[-*+]"
    r"(?: (?:\[(?P<mark>[ xX])\](?: (?P<boxed>.*))?$|(?P<plain>.*)))?$"
)


def parse_markdown_outline(md: str) -> tuple[str, pd.DataFrame]:
    """Read an outline written by :func:`to_markdown_outline` (or by hand) back into tasks.

    Accepts ``- [ ]``, ``- [x]``/``- [X]`` and plain ``- text`` items with ``-``, ``*`` or
    ``+`` bullets, indented two spaces (or one tab) per level. An item indented deeper than
    one level below the previous item is attached one level below it. Blank lines are
    skipped; a first ``# title`` line gives the title ("" if absent).

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
    if kept and kept[0].startswith("# "):
        title, kept, numbers = _unescape(kept[0][2:]), kept[1:], numbers[1:]
    parts = pc.extract_regex(pa.array(kept, pa.large_string()), _ITEM)
    bad = np.flatnonzero(np.asarray(parts.is_null(), dtype=np.bool_))
    if len(bad):
        line = kept[bad[0]]
        raise ValueError(f"line {numbers[bad[0]]} is not an outline item: {line!r}")
    indent, mark = parts.field("indent"), parts.field("mark")
    tabs = np.asarray(pc.count_substring(indent, "\t"), dtype=np.int64)
    spaces = np.asarray(pc.utf8_length(indent), dtype=np.int64) - tabs
    level = tabs + spaces // 2
    # Each item is at most one level below the one before: depth_i = min(level_i,
    # depth_{i-1} + 1), which unrolls to i + min over j <= i of (level_j - j).
    n = len(kept)
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
