"""Tree columns, selections and outlines, checked against a slow per-row reference."""

from __future__ import annotations

import contextlib
import doctest
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taskade_frames import trees
from taskade_frames.trees import (
    TREE_DTYPES,
    TaskNotFoundError,
    add_tree_columns,
    ancestors,
    children,
    parse_markdown_outline,
    path_lists,
    subtree,
    to_markdown_outline,
)

STRING = pd.StringDtype("pyarrow")


def frame(ids: list[Any], parents: list[Any], completed: list[Any] | None = None) -> pd.DataFrame:
    n = len(ids)
    return pd.DataFrame(
        {
            "id": pd.array(ids, dtype=STRING),
            "parent_id": pd.array(parents, dtype=STRING),
            "text": pd.array([f"task {i}" for i in range(n)], dtype=STRING),
            "completed": pd.array(completed if completed else [False] * n, dtype="boolean"),
        }
    )


# --------------------------------------------------------------------------------------
# the reference: walk every row up its parent chain, remembering what it has seen
# --------------------------------------------------------------------------------------


def _value(x: Any) -> Any:
    return None if x is None or x is pd.NA else x


def reference(df: pd.DataFrame) -> dict[str, list[Any]]:
    """Every tree column, computed row by row the obvious way."""
    ids = [_value(x) for x in df["id"]]
    wanted = [_value(x) for x in df["parent_id"]]
    done = [bool(_value(x)) for x in df["completed"]]
    n = len(ids)
    first: dict[str, int] = {}
    is_duplicate = [False] * n
    for row, task in enumerate(ids):
        if task is None:
            continue
        if task in first:
            is_duplicate[row] = True
        else:
            first[task] = row
    is_orphan = [p is not None and p not in first for p in wanted]
    linked = [
        -1 if is_duplicate[row] or p is None or p not in first else first[p]
        for row, p in enumerate(wanted)
    ]

    # A walk that comes back to a row it has seen has found a cycle; cut it at its first row.
    parent = list(linked)
    in_cycle = [False] * n
    for row in range(n):
        seen: list[int] = []
        at = row
        while at != -1 and at not in seen:
            seen.append(at)
            at = linked[at]
        if at != -1:
            in_cycle[row] = True
            cycle = seen[seen.index(at) :]
            parent[min(cycle)] = -1

    depth, root, path = [], [], []
    for row in range(n):
        chain = [row]
        while parent[chain[-1]] != -1:
            chain.append(parent[chain[-1]])
            assert len(chain) <= n, "reference failed to cut a cycle"
        depth.append(len(chain) - 1)
        root.append(chain[-1])
        names = [ids[r] for r in reversed(chain)]
        if len(names) > trees.PATH_MAX_IDS:
            names = [*names[: trees.PATH_MAX_IDS - 1], trees.PATH_ELISION, names[-1]]
        path.append(None if None in names else "/".join(names))

    kids: dict[int, list[int]] = {row: [] for row in range(-1, n)}
    for row in range(n):
        kids[parent[row]].append(row)
    sibling_index = [kids[parent[row]].index(row) for row in range(n)]

    def below(row: int) -> list[int]:
        out, todo = [], list(kids[row])
        while todo:
            r = todo.pop()
            out.append(r)
            todo.extend(kids[r])
        return out

    n_desc, leaves_total, leaves_done = [], [], []
    for row in range(n):
        subtree_rows = [row, *below(row)]
        leaves = [r for r in subtree_rows if not kids[r]]
        n_desc.append(len(subtree_rows) - 1)
        leaves_total.append(len(leaves))
        leaves_done.append(sum(done[r] for r in leaves))
    return {
        "position": list(range(n)),
        "depth": depth,
        "root_id": [ids[r] for r in root],
        "path": path,
        "sibling_index": sibling_index,
        "n_children": [len(kids[row]) for row in range(n)],
        "n_descendants": n_desc,
        "is_leaf": [not kids[row] for row in range(n)],
        "leaves_total": leaves_total,
        "leaves_done": leaves_done,
        "share_done": [d / t for d, t in zip(leaves_done, leaves_total, strict=True)],
        "is_orphan": is_orphan,
        "in_cycle": in_cycle,
        "is_duplicate": is_duplicate,
        "_parent": parent,
    }


def reference_preorder(df: pd.DataFrame) -> list[int]:
    parent = reference(df)["_parent"]
    kids: dict[int, list[int]] = {row: [] for row in range(-1, len(parent))}
    for row, p in enumerate(parent):
        kids[p].append(row)
    order: list[int] = []
    todo = list(reversed(kids[-1]))
    while todo:
        row = todo.pop()
        order.append(row)
        todo.extend(reversed(kids[row]))
    return order


def assert_matches_reference(df: pd.DataFrame) -> pd.DataFrame:
    out = add_tree_columns(df)
    expected = reference(df)
    assert list(out.columns) == [*df.columns, *TREE_DTYPES]
    pd.testing.assert_frame_equal(out[list(df.columns)], df)
    for name, dtype in TREE_DTYPES.items():
        assert out[name].dtype == dtype, name
        got = [_value(x) for x in out[name]]
        assert got == expected[name], name
    return out


# --------------------------------------------------------------------------------------
# examples
# --------------------------------------------------------------------------------------


def test_simple_tree_values() -> None:
    #  a            b
    #  +- a1 (done)  +- b1
    #  +- a2         +- b2 (done)
    #     +- a21 (done)
    df = frame(
        ["a", "a1", "a2", "a21", "b", "b1", "b2"],
        [None, "a", "a", "a2", None, "b", "b"],
        [False, True, False, True, False, False, True],
    )
    out = assert_matches_reference(df)
    assert out["depth"].tolist() == [0, 1, 1, 2, 0, 1, 1]
    assert out["root_id"].tolist() == ["a", "a", "a", "a", "b", "b", "b"]
    assert out["path"].tolist() == ["a", "a/a1", "a/a2", "a/a2/a21", "b", "b/b1", "b/b2"]
    assert out["sibling_index"].tolist() == [0, 0, 1, 0, 1, 0, 1]
    assert out["n_children"].tolist() == [2, 0, 1, 0, 2, 0, 0]
    assert out["n_descendants"].tolist() == [3, 0, 1, 0, 2, 0, 0]
    assert out["leaves_total"].tolist() == [2, 1, 1, 1, 2, 1, 1]
    assert out["leaves_done"].tolist() == [2, 1, 1, 1, 1, 0, 1]
    assert out["share_done"].tolist() == [1.0, 1.0, 1.0, 1.0, 0.5, 0.0, 1.0]
    assert not out[["is_orphan", "in_cycle", "is_duplicate"]].any().any()


def test_keeps_index_columns_and_attrs_and_does_not_modify_input() -> None:
    df = frame(["a", "b"], [None, "a"]).set_index(pd.Index([10, 5]))
    df["extra"] = [1.5, 2.5]
    df.attrs["source"] = "listTasks"
    before = df.copy()
    out = add_tree_columns(df)
    pd.testing.assert_frame_equal(df, before)
    assert out.index.tolist() == [10, 5]
    assert out["extra"].tolist() == [1.5, 2.5]
    assert out["position"].tolist() == [0, 1]
    assert out.attrs == {"source": "listTasks"}


def test_duplicate_index_labels_are_kept() -> None:
    df = frame(["a", "b", "c"], [None, "a", "a"]).set_index(pd.Index([0, 0, 1]))
    out = add_tree_columns(df)
    assert out.index.tolist() == [0, 0, 1]
    assert out["depth"].tolist() == [0, 1, 1]


def test_running_twice_replaces_the_tree_columns() -> None:
    once = add_tree_columns(frame(["a", "b"], [None, "a"]))
    twice = add_tree_columns(once)
    pd.testing.assert_frame_equal(once, twice)


def test_empty_frame_has_every_column_and_dtype() -> None:
    out = add_tree_columns(frame([], []))
    assert len(out) == 0
    assert {name: out[name].dtype for name in TREE_DTYPES} == TREE_DTYPES


def test_path_can_be_skipped() -> None:
    out = add_tree_columns(frame(["a", "b"], [None, "a"]), path=False)
    assert "path" not in out.columns
    assert out["depth"].tolist() == [0, 1]


def test_plain_object_and_str_columns_are_accepted() -> None:
    df = pd.DataFrame(
        {"id": ["a", "b"], "parent_id": [np.nan, "a"], "completed": [True, None]},
    ).astype({"id": object, "parent_id": object, "completed": object})
    out = add_tree_columns(df)
    assert out["depth"].tolist() == [0, 1]
    assert out["leaves_done"].tolist() == [0, 0]  # a missing `completed` is not done


def test_missing_column_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="parent_id"):
        add_tree_columns(pd.DataFrame({"id": ["a"], "completed": [True]}))


@pytest.mark.parametrize("n", [200, 10_000])
def test_deep_chain_needs_no_recursion(n: int) -> None:
    ids = [f"n{i}" for i in range(n)]
    df = frame(ids, [None, *ids[:-1]], [False] * (n - 1) + [True])
    out = add_tree_columns(df, path=n <= 200)
    assert out["depth"].tolist() == list(range(n))
    assert (out["root_id"] == "n0").all()
    assert out["n_descendants"].tolist() == list(range(n - 1, -1, -1))
    assert (out["leaves_done"] == 1).all()
    assert ancestors(df, ids[-1])["id"].tolist() == ids[:-1]
    assert len(subtree(df, ids[n // 2])) == n - n // 2
    if n <= 200:  # whole path lists of a chain grow quadratically
        assert path_lists(df).iloc[-1] == ids
        assert out["path"].iloc[-1] == "/".join([*ids[:15], "\u2026", ids[-1]])


def test_wide_tree() -> None:
    n = 10_000
    ids = ["root", *(f"c{i}" for i in range(n))]
    done = [False] + [i % 4 == 0 for i in range(n)]
    out = add_tree_columns(frame(ids, [None] + ["root"] * n, done))
    assert out["n_children"].iloc[0] == n
    assert out["sibling_index"].tolist() == [0, *range(n)]
    assert out["leaves_total"].iloc[0] == n
    assert out["share_done"].iloc[0] == 0.25
    assert len(children(frame(ids, [None] + ["root"] * n), "root")) == n


def test_orphan_becomes_a_root() -> None:
    df = frame(["a", "b", "c"], [None, "gone", "b"])
    out = assert_matches_reference(df)
    assert out["is_orphan"].tolist() == [False, True, False]
    assert out["depth"].tolist() == [0, 0, 1]
    assert out["root_id"].tolist() == ["a", "b", "b"]


def test_self_parent_is_a_cycle_of_one() -> None:
    df = frame(["a", "b"], ["a", "a"])
    out = assert_matches_reference(df)
    assert out["in_cycle"].tolist() == [True, True]
    assert out["depth"].tolist() == [0, 1]


def test_two_cycle_with_a_tail_is_cut_at_its_first_row() -> None:
    # x <-> y, z hangs below y, w is an ordinary root with a child
    df = frame(["w", "y", "z", "x", "w1"], [None, "x", "y", "y", "w"])
    out = assert_matches_reference(df)
    assert out["in_cycle"].tolist() == [False, True, True, True, False]
    # y comes first among {x, y}, so y loses its parent and x hangs below it.
    assert out["path"].tolist() == ["w", "y", "y/z", "y/x", "w/w1"]


def test_three_cycle_with_tails() -> None:
    df = frame(
        ["t1", "c", "a", "t2", "b", "ok"],
        ["a", "b", "c", "t1", "a", None],
    )
    out = assert_matches_reference(df)
    assert out["in_cycle"].tolist() == [True, True, True, True, True, False]
    assert out["path"].tolist() == ["c/a/t1", "c", "c/a", "c/a/t1/t2", "c/a/b", "ok"]


def test_big_cycle_does_not_hang() -> None:
    n = 5_000
    ids = [f"n{i}" for i in range(n)]
    df = frame(ids, [ids[(i + 1) % n] for i in range(n)])
    out = add_tree_columns(df, path=False)
    assert out["in_cycle"].all()
    assert out["depth"].iloc[0] == 0  # first row is the cut point
    assert out["depth"].max() == n - 1


def test_duplicate_ids_keep_the_first_and_detach_the_rest() -> None:
    df = frame(["a", "b", "a", "c"], [None, "a", "b", "a"], [False, True, True, False])
    out = assert_matches_reference(df)
    assert out["is_duplicate"].tolist() == [False, False, True, False]
    assert out["parent_id"].tolist() == [pd.NA, "a", "b", "a"]
    assert out["depth"].tolist() == [0, 1, 0, 1]  # the second "a" is its own root
    assert out["n_children"].tolist() == [2, 0, 0, 0]  # b and c hang below the first "a"


def test_children_before_parents() -> None:
    df = frame(["c", "b", "a"], ["b", "a", None], [True, False, False])
    out = assert_matches_reference(df)
    assert out["depth"].tolist() == [2, 1, 0]
    assert out["path"].tolist() == ["a/b/c", "a/b", "a"]
    assert out["leaves_done"].tolist() == [1, 1, 1]


def test_missing_ids() -> None:
    df = frame(["a", None, None, "b"], [None, "a", None, "a"])
    out = assert_matches_reference(df)
    assert out["path"].tolist() == ["a", pd.NA, pd.NA, "a/b"]
    assert not out["is_duplicate"].any()


def test_ids_that_collide_in_the_hash_still_link_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    def by_length(arr: Any) -> np.ndarray:
        return np.asarray(pd.Series(arr.to_pylist(), dtype=object).str.len().fillna(0), "u8")

    monkeypatch.setattr(trees, "_hash_strings", by_length)
    df = frame(["aa", "bb", "cc", "dd", "aa"], [None, "aa", "bb", "zz", "cc"])
    assert_matches_reference(df)
    # Only a parent collides: "xx" hashes like "bb" but names no row, and "q" like itself.
    df = frame(["a", "bb", "ccc", "q"], [None, "a", "xx", "r"])
    out = assert_matches_reference(df)
    assert out["is_orphan"].tolist() == [False, False, True, True]


def test_selections_find_ids_exactly_when_hashes_collide(monkeypatch: pytest.MonkeyPatch) -> None:
    def by_length(arr: Any) -> np.ndarray:
        return np.asarray(pd.Series(arr.to_pylist(), dtype=object).str.len().fillna(0), "u8")

    monkeypatch.setattr(trees, "_hash_strings", by_length)
    df = frame(["aa", "bb", "cc", "dd"], [None, "aa", None, "cc"])
    for _ in range(2):  # the second time through the cached index
        assert subtree(df, "cc")["id"].tolist() == ["cc", "dd"]
        assert subtree(df, ["bb", "dd"])["id"].tolist() == ["bb", "dd"]
        with pytest.raises(TaskNotFoundError, match="'ee'"):
            children(df, "ee")


def test_long_ids_skip_the_fast_hash() -> None:
    long = "x" * 300
    df = frame([long, long + "y", "z"], [None, long, long + "y"])
    assert assert_matches_reference(df)["depth"].tolist() == [0, 1, 2]


# --------------------------------------------------------------------------------------
# selections
# --------------------------------------------------------------------------------------


@pytest.fixture
def project() -> pd.DataFrame:
    return frame(
        ["a", "a1", "a11", "a2", "b", "b1"],
        [None, "a", "a1", "a", None, "b"],
    ).set_index(pd.Index(list("uvwxyz")))


def test_subtree(project: pd.DataFrame) -> None:
    assert subtree(project, "a")["id"].tolist() == ["a", "a1", "a11", "a2"]
    assert subtree(project, "a1").index.tolist() == ["v", "w"]
    assert subtree(project, "b1")["id"].tolist() == ["b1"]


def test_ancestors(project: pd.DataFrame) -> None:
    assert ancestors(project, "a11")["id"].tolist() == ["a", "a1"]
    assert ancestors(project, "a").empty


def test_children(project: pd.DataFrame) -> None:
    assert children(project, "a")["id"].tolist() == ["a1", "a2"]
    assert children(project, "a11").empty


def test_selections_raise_for_unknown_ids(project: pd.DataFrame) -> None:
    for select in (subtree, ancestors, children):
        with pytest.raises(KeyError):
            select(project, "nope")


def test_selections_follow_the_cut_cycle() -> None:
    df = frame(["y", "x", "z"], ["x", "y", "x"])
    assert ancestors(df, "z")["id"].tolist() == ["y", "x"]
    assert subtree(df, "x")["id"].tolist() == ["x", "z"]


# --------------------------------------------------------------------------------------
# outlines
# --------------------------------------------------------------------------------------


def test_outline_layout() -> None:
    df = frame(["b1", "a", "a1", "b"], ["b", None, "a", None], [True, False, True, False])
    df["text"] = pd.array(["B one", "A", "A one", "B"], dtype=STRING)
    assert to_markdown_outline(df, "Plan") == (
        "# Plan\n\n- [ ] A\n  - [x] A one\n- [ ] B\n  - [x] B one"
    )


def test_outline_escapes_newlines_and_backslashes() -> None:
    df = frame(["a"], [None])
    df["text"] = pd.array(["line 1\nline 2\\n\r"], dtype=STRING)
    md = to_markdown_outline(df, "T")
    assert md == "# T\n\n- [ ] line 1\\nline 2\\\\n\\r"
    assert parse_markdown_outline(md)[1]["text"].tolist() == ["line 1\nline 2\\n\r"]


def test_empty_outline() -> None:
    assert to_markdown_outline(frame([], []), "Nothing") == "# Nothing\n"
    title, tasks = parse_markdown_outline("# Nothing\n")
    assert title == "Nothing"
    assert tasks.empty
    assert list(tasks.columns) == ["id", "parent_id", "text", "completed", "depth"]


def test_parse_accepts_hand_written_outlines() -> None:
    md = "# Trip\r\n\r\n* Pack\n\t- [X] socks\n\t\t+ [ ] left\n  - towel\n- [x]\n\n- [ ] x  "
    title, tasks = parse_markdown_outline(md)
    assert title == "Trip"
    assert tasks["text"].tolist() == ["Pack", "socks", "left", "towel", "", "x  "]
    assert tasks["completed"].tolist() == [False, True, False, False, True, False]
    assert tasks["depth"].tolist() == [0, 1, 2, 1, 0, 0]
    assert tasks["parent_id"].tolist() == [pd.NA, "t0", "t1", "t0", pd.NA, pd.NA]
    assert tasks.dtypes.to_dict() == {
        "id": STRING,
        "parent_id": STRING,
        "text": STRING,
        "completed": pd.BooleanDtype(),
        "depth": pd.Int64Dtype(),
    }


def test_parse_attaches_over_indented_items_one_level_down() -> None:
    _, tasks = parse_markdown_outline("- a\n      - b\n  - c")
    assert tasks["depth"].tolist() == [0, 1, 1]


def test_parse_rejects_prose() -> None:
    with pytest.raises(ValueError, match="line 2"):
        parse_markdown_outline("# T\nnot a list item")


UNICODE_TEXTS = [
    "🚀 launch 👩‍👩‍👧",
    "مرحبا بالعالم",
    "e\u0301\u0301 combining",
    "zero\u200bwidth\u200d",
    "tab\there",
    "line\u2028separator\x85next\x0cform",
    "\\",
    "",
    "  leading and trailing  ",
    "[x] not a box",
]


def test_outline_round_trip_with_unicode() -> None:
    ids = [f"t{i}" for i in range(len(UNICODE_TEXTS))]
    parents = [None, "t0", "t1", "t0", None, "t4", "t5", "t6", None, "t8"]
    df = frame(ids, parents, [i % 3 == 0 for i in range(len(ids))])
    df["text"] = pd.array(UNICODE_TEXTS, dtype=STRING)
    title = "Ünïcode ✓ \\ title\nwith newline"
    got_title, tasks = parse_markdown_outline(to_markdown_outline(df, title))
    assert got_title == title.strip(" \t")  # spaces and tabs only pad a heading
    assert_same_outline(df, tasks)


def assert_same_outline(df: pd.DataFrame, tasks: pd.DataFrame) -> None:
    """``tasks`` (parsed) lists ``df``'s tasks in document order with the same shape."""
    order = reference_preorder(df)
    expected = reference(df)
    assert tasks["text"].tolist() == [_value(df["text"].iloc[r]) or "" for r in order]
    assert tasks["completed"].tolist() == [bool(_value(df["completed"].iloc[r])) for r in order]
    assert tasks["depth"].tolist() == [expected["depth"][r] for r in order]
    parsed_row = {f"t{k}": row for k, row in enumerate(order)}
    parents = [None if _value(p) is None else parsed_row[p] for p in tasks["parent_id"]]
    assert parents == [
        None if expected["_parent"][r] < 0 else expected["_parent"][r] for r in order
    ]


# --------------------------------------------------------------------------------------
# properties
# --------------------------------------------------------------------------------------

ID_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=6)


@st.composite
def forests(draw: st.DrawFn, max_size: int = 40) -> pd.DataFrame:
    """Random forests: each task's parent is an earlier task or nothing."""
    n = draw(st.integers(0, max_size))
    if draw(st.booleans()):
        ids = draw(st.lists(ID_TEXT, min_size=n, max_size=n, unique=True))
    else:  # same-length ids, the common case in real data
        ids = [f"{i:08x}" for i in draw(st.permutations(range(n)))]
    parents = [
        None if i == 0 or draw(st.integers(0, 3)) == 0 else ids[draw(st.integers(0, i - 1))]
        for i in range(n)
    ]
    done = draw(st.lists(st.sampled_from([True, False, None]), min_size=n, max_size=n))
    return frame(ids, parents, done)


@st.composite
def corrupt_forests(draw: st.DrawFn) -> pd.DataFrame:
    """Forests with orphans, cycles, duplicate ids, missing ids and shuffled rows."""
    df = draw(forests(max_size=30))
    n = len(df)
    if n == 0:
        return df
    ids = [_value(x) for x in df["id"]]
    parents = [_value(x) for x in df["parent_id"]]
    for _ in range(draw(st.integers(0, 4))):
        row = draw(st.integers(0, n - 1))
        kind = draw(st.sampled_from(["orphan", "relink", "self", "duplicate", "no id"]))
        if kind == "orphan":
            parents[row] = "missing-" + draw(ID_TEXT)
        elif kind == "relink":  # any row, so later rows and cycles too
            parents[row] = ids[draw(st.integers(0, n - 1))]
        elif kind == "self":
            parents[row] = ids[row]
        elif kind == "duplicate":
            ids[row] = ids[draw(st.integers(0, n - 1))]
        else:
            ids[row] = None
    order = draw(st.permutations(range(n)))
    done = [_value(x) for x in df["completed"]]
    return frame([ids[i] for i in order], [parents[i] for i in order], [done[i] for i in order])


@st.composite
def deep_forests(draw: st.DrawFn) -> pd.DataFrame:
    """Mostly chains, so that paths get elided and pointer jumping has work to do."""
    n = draw(st.integers(0, 60))
    ids = [f"d{i}" for i in draw(st.permutations(range(n)))]
    parents = [
        None
        if i == 0 or draw(st.integers(0, 9)) == 0
        else ids[i - 1 if draw(st.integers(0, 5)) else draw(st.integers(0, i - 1))]
        for i in range(n)
    ]
    order = draw(st.permutations(range(n)))
    done = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    return frame([ids[i] for i in order], [parents[i] for i in order], done)


@contextlib.contextmanager
def level_loop_up_to(depth: int) -> Iterator[None]:
    """Force the per-level or the pointer-jumping roll-up (hypothesis forbids monkeypatch)."""
    saved = trees._LEVEL_LOOP_MAX_DEPTH
    trees._LEVEL_LOOP_MAX_DEPTH = depth
    try:
        yield
    finally:
        trees._LEVEL_LOOP_MAX_DEPTH = saved


PROPERTY_SETTINGS = settings(
    max_examples=50, deadline=5000, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY_SETTINGS
@given(forests())
def test_random_forests_match_the_reference(df: pd.DataFrame) -> None:
    out = assert_matches_reference(df)
    assert not out["in_cycle"].any()


@PROPERTY_SETTINGS
@given(corrupt_forests())
def test_corrupt_forests_match_the_reference(df: pd.DataFrame) -> None:
    assert_matches_reference(df)


@PROPERTY_SETTINGS
@given(st.one_of(deep_forests(), corrupt_forests()), st.sampled_from([0, 64]))
def test_deep_and_shallow_roll_ups_match_the_reference(df: pd.DataFrame, level_max: int) -> None:
    with level_loop_up_to(level_max):
        assert_matches_reference(df)


@PROPERTY_SETTINGS
@given(st.one_of(forests(), deep_forests(), corrupt_forests()))
def test_paths_written_as_bytes_equal_the_joined_paths(df: pd.DataFrame) -> None:
    """The byte-buffer path (every id non-null, no elision, few id lengths) gives the
    same array as the level-by-level join it stands in for."""
    forest, ids = trees._forest_of(df, "id", "parent_id")
    written = trees._paths_by_bytes(forest, ids)
    eligible = not ids.null_count and forest.max_depth < trees.PATH_MAX_IDS
    assert (written is not None) == (
        eligible and len(set(len(i.encode()) for i in ids.to_pylist())) <= 8
    )
    if written is not None:
        written.validate(full=True)
        saved = trees._BYTE_PATH_MAX_WIDTHS
        trees._BYTE_PATH_MAX_WIDTHS = -1  # every call takes the join
        try:
            joined = trees._paths(forest, ids)
        finally:
            trees._BYTE_PATH_MAX_WIDTHS = saved
        assert written.equals(joined)


@PROPERTY_SETTINGS
@given(st.one_of(deep_forests(), corrupt_forests()))
def test_path_lists_agree_with_paths(df: pd.DataFrame) -> None:
    lists = path_lists(df)
    expected = reference(df)["path"]
    for got, want, task in zip(lists, expected, df["id"], strict=True):
        if want is not None:
            if len(got) > trees.PATH_MAX_IDS:
                got = [*got[: trees.PATH_MAX_IDS - 1], trees.PATH_ELISION, got[-1]]
            assert "/".join(got) == want
        else:
            assert _value(task) is None


@PROPERTY_SETTINGS
@given(st.one_of(corrupt_forests(), deep_forests()), st.data(), st.sampled_from([0, 64]))
def test_selections_match_the_reference(
    df: pd.DataFrame, data: st.DataObject, level_max: int
) -> None:
    known = [_value(x) for x in df["id"] if _value(x) is not None]
    if not known:
        return
    tasks = data.draw(st.lists(st.sampled_from(known), min_size=1, max_size=3))
    expected = reference(df)
    parent = expected["_parent"]
    tops = [[_value(x) for x in df["id"]].index(task) for task in tasks]
    above = {at for row in tops for at in _chain_above(parent, row)}
    depth = expected["depth"]
    below = [r for r in range(len(df)) if any(r == t or _has_ancestor(parent, r, t) for t in tops)]
    with level_loop_up_to(level_max):
        query = tasks[0] if len(tasks) == 1 else tasks
        got = ancestors(df, query).index.tolist()
        assert got == sorted(above, key=lambda r: (depth[r], r))
        assert children(df, query).index.tolist() == [
            r for r in range(len(df)) if parent[r] in tops
        ]
        assert subtree(df, query).index.tolist() == below
        assert subtree(df, pd.Series(tasks, dtype=STRING)).index.tolist() == below


def _chain_above(parent: list[int], row: int) -> list[int]:
    chain = []
    while parent[row] != -1:
        row = parent[row]
        chain.append(row)
    return chain


def _has_ancestor(parent: list[int], row: int, top: int) -> bool:
    while parent[row] != -1:
        row = parent[row]
        if row == top:
            return True
    return False


TEXTS = st.text(st.characters(codec="utf-8"), max_size=12)


@PROPERTY_SETTINGS
@given(corrupt_forests(), st.data(), TEXTS | st.from_regex(r"\A[ \t]*x[ \t]*\Z"))
def test_outline_round_trips(df: pd.DataFrame, data: st.DataObject, title: str) -> None:
    texts = data.draw(st.lists(st.none() | TEXTS, min_size=len(df), max_size=len(df)))
    df["text"] = pd.array(texts, dtype=STRING)
    got_title, tasks = parse_markdown_outline(to_markdown_outline(df, title))
    assert got_title == title.strip(" \t")  # spaces and tabs only pad a heading
    assert_same_outline(df, tasks)


def test_docstring_examples_run() -> None:
    assert doctest.testmod(trees, optionflags=doctest.NORMALIZE_WHITESPACE).failed == 0


@settings(max_examples=200, deadline=5000)
@given(st.lists(st.none() | st.text(st.sampled_from("\\nrx\n\ue000"), max_size=8), max_size=8))
def test_column_unescape_matches_the_row_by_row_one(texts: list[str | None]) -> None:
    column = pa.array(texts, pa.large_string())
    expected = [None if t is None else trees._unescape(t) for t in texts]
    assert trees._unescape_all(column).to_pylist() == expected


# --------------------------------------------------------------------------------------
# selections: what they accept, what they refuse, and their cache
# --------------------------------------------------------------------------------------


def test_selections_accept_lists_arrays_and_series(project: pd.DataFrame) -> None:
    one = subtree(project, "a1")["id"].tolist()
    for query in (["a1"], ("a1",), np.array(["a1"]), pd.Series(["a1"]), pd.Index(["a1"])):
        assert subtree(project, query)["id"].tolist() == one
    both = subtree(project, project.loc[project["id"].isin(["a1", "b"]), "id"])
    assert both["id"].tolist() == sorted(
        set(one) | set(subtree(project, "b")["id"]), key=project["id"].tolist().index
    )
    assert subtree(project, []).empty


@pytest.mark.parametrize("select", [subtree, ancestors, children])
def test_unknown_ids_are_named_in_a_key_error(project: pd.DataFrame, select: Any) -> None:
    with pytest.raises(TaskNotFoundError, match="'nope'") as caught:
        select(project, "nope")
    assert str(caught.value) == "no task with id 'nope' in this frame"
    with pytest.raises(KeyError) as caught:  # still a KeyError for code that caught one
        select(project, pd.Series(["a", "nope", "gone", "nope"], dtype=STRING))
    assert caught.value.missing == ["nope", "gone"]


@pytest.mark.parametrize(
    ("query", "error"),
    [
        (None, TypeError),
        (5, TypeError),
        (["a", 5], TypeError),
        (["a", None], ValueError),
        (pd.Series(["a", None], dtype=STRING), ValueError),
        (b"a", TypeError),
    ],
)
def test_ids_of_the_wrong_kind_are_plain_argument_errors(
    project: pd.DataFrame, query: Any, error: type[Exception]
) -> None:
    with pytest.raises(error, match="task ids"):
        subtree(project, query)


def test_a_frame_changed_after_a_selection_is_answered_from_the_new_links() -> None:
    df = frame(["a", "b", "c"], [None, "a", "b"])
    assert subtree(df, "a")["id"].tolist() == ["a", "b", "c"]
    assert subtree(df, "a")["id"].tolist() == ["a", "b", "c"]  # from the cache
    df.loc[2, "parent_id"] = pd.NA  # in place: c becomes a root
    assert subtree(df, "a")["id"].tolist() == ["a", "b"]
    assert ancestors(df, "c").empty
    df["parent_id"] = pd.array([None, None, "a"], dtype=STRING)  # a new column
    assert children(df, "a")["id"].tolist() == ["c"]
    df.loc[3] = ["d", "c", "task 3", False]  # a new row
    assert subtree(df, "a")["id"].tolist() == ["a", "c", "d"]


def test_copies_and_object_columns_are_never_answered_from_a_stale_tree() -> None:
    df = frame(["a", "b"], [None, "a"])
    assert children(df, "a")["id"].tolist() == ["b"]
    other = df.copy()
    other.loc[1, "parent_id"] = pd.NA
    assert children(other, "a").empty
    assert children(df, "a")["id"].tolist() == ["b"]
    plain = df.astype({"id": object, "parent_id": object})  # numpy data changes in place
    assert children(plain, "a")["id"].tolist() == ["b"]
    plain.loc[1, "parent_id"] = None
    assert children(plain, "a").empty


def test_the_selection_cache_lets_frames_go() -> None:
    import gc

    for _ in range(3 * trees._CACHE_SIZE):
        subtree(frame(["a"], [None]), "a")
    gc.collect()
    assert len(trees._cache) <= trees._CACHE_SIZE


# --------------------------------------------------------------------------------------
# deep trees stay linear in memory
# --------------------------------------------------------------------------------------

_PEAK_SCRIPT = """
import resource, sys
import numpy as np, pandas as pd, pyarrow as pa
from taskade_frames.trees import add_tree_columns, ancestors, subtree

n, shape = int(sys.argv[1]), sys.argv[2]
ids = pa.array([f"t{i:07d}" for i in range(n)], pa.large_string())
rows = np.arange(n)
if shape == "chain":
    parents = ids.take(pa.array(rows - 1, mask=rows == 0))
else:  # a cycle through every task: each one's parent is the next
    parents = ids.take(pa.array((rows + 1) % n))
df = pd.DataFrame({"id": pd.arrays.ArrowStringArray(ids),
                   "parent_id": pd.arrays.ArrowStringArray(parents),
                   "completed": pd.array(rows % 2 == 0, dtype="boolean")})
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out = add_tree_columns(df)
deepest = int(out["depth"].to_numpy().argmax())
n_ancestors = len(ancestors(df, ids[deepest].as_py()))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"grew_kib": peak - before, "depth": int(out["depth"].max()),
                  "path": out["path"].iloc[deepest], "ancestors": n_ancestors,
                  "leaves_total": int(out["leaves_total"].iloc[0])}))
"""


@pytest.mark.parametrize(("n", "shape"), [(40_000, "chain"), (1_000_000, "cycle")])
def test_deep_trees_build_every_column_in_bounded_memory(n: int, shape: str) -> None:
    """A 40k-deep chain needed 22.6 GiB for its paths; a 1M cycle cut into a chain was
    killed. Peak growth is measured in a fresh process, as a generous bound only."""
    script = "import json\n" + textwrap.dedent(_PEAK_SCRIPT)
    done = subprocess.run(
        [sys.executable, "-c", script, str(n), shape],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    got = json.loads(done.stdout)
    assert got["grew_kib"] < 1024 * 1024, got  # < 1 GiB
    assert got["depth"] == n - 1
    assert got["ancestors"] == n - 1
    assert got["leaves_total"] == 1
    if shape == "chain":
        chain = [0, *range(1, 15)]
        last = n - 1
    else:  # t0 is the cut root; t(n-1) hangs below it, then t(n-2), ... down to t1
        chain = [0, *range(n - 1, n - 15, -1)]
        last = 1
    expected = [f"t{i:07d}" for i in chain] + [trees.PATH_ELISION, f"t{last:07d}"]
    assert got["path"] == "/".join(expected)


def test_path_lists_refuse_rather_than_exhaust_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    ids = [f"n{i}" for i in range(100)]
    df = frame(ids, [None, *ids[:-1]])
    monkeypatch.setattr(trees, "PATH_LISTS_MAX_IDS", 1000)
    with pytest.raises(ValueError, match="PATH_LISTS_MAX_IDS"):
        path_lists(df)


# --------------------------------------------------------------------------------------
# outline golden cases: one set of rules, met by the client and by the emulator
# --------------------------------------------------------------------------------------

GOLDEN = json.loads((Path(__file__).parent / "golden" / "outlines.json").read_text("utf-8"))


def _outline_frame(tasks: list[list[Any]]) -> pd.DataFrame:
    """Tasks given as [depth, text, completed] in document order, linked by id."""
    ids, parents, stack = [f"g{k}" for k in range(len(tasks))], [], []
    for k, (depth, _, _) in enumerate(tasks):
        del stack[depth:]
        parents.append(stack[-1] if stack else None)
        stack.append(ids[k])
    df = frame(ids, parents, [done for _, _, done in tasks])
    df["text"] = pd.array([text for _, text, _ in tasks], dtype=STRING)
    return df


def _client_parse(markdown: str) -> tuple[str, list[list[Any]]]:
    title, tasks = parse_markdown_outline(markdown)
    rows = zip(tasks["depth"], tasks["text"], tasks["completed"], strict=True)
    return title, [[int(d), t, bool(c)] for d, t, c in rows]


def _emulator_parse(markdown: str) -> tuple[str, list[list[Any]]]:
    from taskade_frames.emulator._markdown import parse_outline

    title, tasks = parse_outline(markdown)
    return title, [[t.depth, t.text, t.completed] for t in tasks]


def _ids(cases: list[dict[str, Any]]) -> list[str]:
    return [c["name"] for c in cases]


@pytest.mark.parametrize("case", GOLDEN["round_trips"], ids=_ids(GOLDEN["round_trips"]))
def test_outline_golden_round_trips(case: dict[str, Any]) -> None:
    from taskade_frames.emulator._markdown import render_outline

    markdown, title, tasks = case["markdown"], case["title"], case["tasks"]
    assert to_markdown_outline(_outline_frame(tasks), title) == markdown
    assert render_outline(title, tasks).rstrip("\n") == markdown.rstrip("\n")
    assert _client_parse(markdown) == (title, tasks)
    assert _emulator_parse(markdown) == (title or "Untitled", tasks)


@pytest.mark.parametrize("case", GOLDEN["hand_written"], ids=_ids(GOLDEN["hand_written"]))
def test_outline_golden_hand_written(case: dict[str, Any]) -> None:
    markdown, title, tasks = case["markdown"], case["title"], case["tasks"]
    assert _emulator_parse(markdown) == (title or "Untitled", tasks)
    if case.get("client") == "error":
        with pytest.raises(ValueError, match="not an outline item"):
            parse_markdown_outline(markdown)
    else:
        assert _client_parse(markdown) == (title, tasks)


def test_outline_golden_cases_cover_the_escaping_rules() -> None:
    texts = "".join(t[1] for c in GOLDEN["round_trips"] for t in c["tasks"])
    for needed in ("\n", "\r", "\\", "#", "- ", "[ ]", "\u2028", "🚀", "\t"):
        assert needed in texts, needed
    assert any(t[1] == "" for c in GOLDEN["round_trips"] for t in c["tasks"])
    assert any(t[0] >= 3 for c in GOLDEN["round_trips"] for t in c["tasks"])


@PROPERTY_SETTINGS
@given(st.integers(0, 40), st.data())
def test_string_hashes_agree_across_the_three_ways_they_are_read(
    length: int, data: st.DataObject
) -> None:
    """Same-length strings (strided views), the same with nulls (gathers) and mixed lengths
    (a padded copy) must hash a string alike: parents and ids are often read differently."""
    alphabet = st.sampled_from("abxyz019")
    word = st.text(alphabet, min_size=length, max_size=length)
    values = data.draw(st.lists(word, min_size=1, max_size=20))
    plain = trees._hash_strings(pa.array(values, pa.large_string()))
    with_nulls = trees._hash_strings(pa.array([None, *values, None], pa.large_string()))
    mixed = trees._hash_strings(pa.array([*values, "q" * (length + 1)], pa.large_string()))
    sliced = trees._hash_strings(pa.array(["zz", *values], pa.large_string()).slice(1))
    assert plain is not None and with_nulls is not None and mixed is not None
    assert list(with_nulls[1:-1]) == list(plain) == list(mixed[:-1]) == list(sliced)
