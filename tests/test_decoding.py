"""Typed page decoding gives exactly what the plain path gives, or steps aside.

The plain path is the reference: ``json.loads`` of the page, then the loaders'
conversion of the items. For any page, the typed decoder either returns the
same columns and keys, or None (the page then takes the plain path). Pages are
drawn with extra fields, nulls, missing fields, wrong types, lone surrogates,
duplicate ids and duplicate keys inside one object, and are encoded both the
way a JavaScript server does (``\\uXXXX`` escapes) and as raw UTF-8.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taskade_frames.decoding import PageDecoder, TypedPage, concat_columns

FIELDS = {
    "id": ("id", "string"),
    "text": ("text", "string"),
    "parent_id": ("parentId", "string"),
    "completed": ("completed", "bool"),
}
ARROW = {"string": pa.large_string(), "bool": pa.bool_(), "int": pa.int64()}
DECODE = PageDecoder(FIELDS, key="id")


def plain(content: bytes) -> tuple[dict[str, pa.Array], list[Any]] | None:
    """The reference: decode to dicts, then one Arrow array per column; None if it cannot."""
    try:
        payload = json.loads(content)
        items = payload["items"]
        if payload.get("ok") is not True or not isinstance(items, list):
            return None
        if not all(isinstance(it, dict) and isinstance(it.get("id"), str) for it in items):
            return None
        columns = {
            column: pa.array([it.get(api) for it in items], type=ARROW[kind])
            for column, (api, kind) in FIELDS.items()
        }
    except (ValueError, KeyError, TypeError, UnicodeEncodeError, pa.ArrowException):
        return None
    return columns, [it["id"] for it in items]


# -- random pages ------------------------------------------------------------------------

texts = st.text(max_size=12) | st.sampled_from(["\ud800", "a\udfffb", "🙂", "", "\x00"])
scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | texts
values = st.recursive(
    scalars,
    lambda kids: (
        st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=4), kids, max_size=3)
    ),
    max_leaves=6,
)
ids = st.sampled_from(["t1", "t2", "t3", "007", "\ud800"]) | st.text(min_size=1, max_size=8)


@st.composite
def items(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 19)) == 0:  # now and then not an object at all
        return draw(scalars)
    item: dict[str, Any] = {}
    wrong = draw(st.integers(0, 7)) == 0  # now and then a value of another type
    for api, kind in [
        ("id", "string"),
        ("text", "string"),
        ("parentId", "string"),
        ("completed", "bool"),
    ]:
        if draw(st.integers(0, 4)) == 0 and api != "id":
            continue  # missing
        if wrong and draw(st.booleans()):
            item[api] = draw(values)
        elif kind == "bool":
            item[api] = draw(st.none() | st.booleans())
        else:
            item[api] = draw(ids if api != "text" else st.none() | texts)
    for name in draw(st.lists(st.text(max_size=6), max_size=2)):
        item.setdefault(name, draw(values))  # extra fields, of any shape
    return item


@st.composite
def pages(draw: st.DrawFn) -> bytes:
    body = {
        "ok": draw(st.sampled_from([True, True, True, False, 1])),
        "items": draw(st.lists(items(), max_size=8)),
    }
    if draw(st.integers(0, 9)) == 0:
        body["nextCursor"] = draw(values)
    # \uXXXX escapes as the emulator and JavaScript servers send, or raw UTF-8.
    text = json.dumps(body, ensure_ascii=draw(st.booleans()))
    if draw(st.integers(0, 9)) == 0 and body["items"] and isinstance(body["items"][0], dict):
        # The same key twice in one object: JSON decoders keep the last one.
        text = text.replace('"items": [{', '"items": [{"id": "shadowed", ', 1)
    return text.encode("utf-8", "surrogatepass")


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(content=pages())
def test_typed_decoding_gives_the_plain_result_or_steps_aside(content):
    reference = plain(content)
    typed = DECODE(content)
    if typed is None:
        return  # the plain path takes the page: equal by construction
    assert reference is not None, f"typed decoding took a page the plain path refuses: {content!r}"
    page = typed["items"]
    assert isinstance(page, TypedPage)
    columns, keys = reference
    assert page.keys == keys
    assert list(page.columns) == list(columns)
    for name, arr in columns.items():
        assert page.columns[name].equals(arr), name


def test_a_clean_page_takes_the_typed_path():
    content = json.dumps(
        {
            "ok": True,
            "items": [
                {"id": "a", "text": "x", "completed": False, "extra": {"deep": [1, None]}},
                {"id": "b", "text": None, "parentId": "a", "completed": True, "more": 1e308},
                {"id": "c"},
            ],
        }
    ).encode()
    page = DECODE(content)["items"]
    assert page.keys == ["a", "b", "c"]
    assert page.columns["parent_id"].to_pylist() == [None, "a", None]
    assert page.columns["completed"].to_pylist() == [False, True, None]


@pytest.mark.parametrize(
    "content",
    [
        b'{"ok":true,"items":[{"id":"a","text":"x\\ud800"}]}',  # lone surrogate
        b'{"ok":true,"items":[null]}',  # null item: counted by the plain path
        b'{"ok":true,"items":[{"id":5}]}',  # an id sent as a number
        b'{"ok":true,"items":[{"text":"no id"}]}',
        b'{"ok":true,"items":[{"id":"a","completed":1}]}',
        b'{"ok":false,"code":"not_found","message":"gone"}',
        b'{"ok":true,"items":[{"id":"a","x":NaN}]}',  # Python's json reads NaN
        b'\xef\xbb\xbf{"ok":true,"items":[]}',  # a byte-order mark
        b'{"ok":true,"items":[{"id":"a"}]',  # cut short
        b"<html>502</html>",
    ],
)
def test_pages_outside_the_typed_shape_take_the_plain_path(content):
    assert DECODE(content) is None


def test_take_keeps_the_rows_asked_for_in_order():
    content = b'{"ok":true,"items":[{"id":"a"},{"id":"b","completed":true},{"id":"c"}]}'
    page = DECODE(content)["items"].take([2, 1])
    assert page.keys == ["c", "b"]
    assert page.columns["completed"].to_pylist() == [None, True]
    assert len(page.take([])) == 0
    tail = DECODE(content)["items"].take(range(1, 3))  # a slice, no copy
    assert tail.keys == ["b", "c"] and tail.columns["completed"].to_pylist() == [True, None]
    assert len(DECODE(content)["items"].take(range(2, 1))) == 0


def test_rows_read_the_decoded_fields_by_api_name():
    page = DECODE(b'{"ok":true,"items":[{"id":"a","x":1},{"id":"b","parentId":"a"}]}')["items"]
    last = page[-1]
    assert last["id"] == "b" and last.get("parentId") == "a"
    assert page[0].get("parentId") is None and page[0].get("x") is None  # not decoded
    assert [row["id"] for row in page] == ["a", "b"]
    assert dict(page[1]) == {"id": "b", "text": None, "parentId": "a", "completed": None}
    with pytest.raises(IndexError):
        page[2]


def test_concat_columns_joins_pages_and_types_an_empty_listing():
    pages_ = [
        DECODE(b'{"ok":true,"items":[{"id":"a"}]}')["items"].columns,
        DECODE(b'{"ok":true,"items":[{"id":"b","completed":false}]}')["items"].columns,
    ]
    kinds = {name: kind for name, (_, kind) in FIELDS.items()}
    joined = concat_columns(pages_, kinds)
    assert pages_ == []  # consumed, so the chunks can go as soon as they are joined
    assert joined["id"].to_pylist() == ["a", "b"]
    assert joined["completed"].to_pylist() == [None, False]
    empty = concat_columns([], kinds)
    assert len(empty["id"]) == 0 and empty["completed"].type == pa.bool_()


def test_kinds_without_a_typed_decoding_are_refused():
    with pytest.raises(ValueError, match="timestamp"):
        PageDecoder({"at": ("at", "timestamp")})
    with pytest.raises(ValueError, match="key"):
        PageDecoder({"name": ("name", "string")}, key="id")


# -- the same frames over real HTTP, typed path on and off ---------------------------------


def _plain_paginate(monkeypatch):
    """Switch the typed path off: ``paginate`` drops the decoder, every page goes plain."""
    from taskade_frames import TaskadeClient

    original = TaskadeClient.paginate

    def paginate(self, operation_name, /, *, decode=None, **body):
        return original(self, operation_name, **body)

    monkeypatch.setattr(TaskadeClient, "paginate", paginate)


def _both_ways(monkeypatch, project_id, client):
    from taskade_frames import load_tasks

    typed = load_tasks(project_id, client)
    with monkeypatch.context() as m:
        _plain_paginate(m)
        plain_ = load_tasks(project_id, client)
    return typed, plain_


def _same(typed, plain_):
    import pandas as pd

    reports = [df.attrs["reports"][0] for df in (typed, plain_)]
    for r in reports:
        r.pop("started_at"), r.pop("seconds")
    assert reports[0] == reports[1]
    a, b = typed.copy(), plain_.copy()
    a.attrs, b.attrs = {}, {}
    pd.testing.assert_frame_equal(a, b, check_exact=True)


@pytest.fixture
def odd_project(emulator):
    """Tasks with awkward text (lone surrogates included) over several pages."""
    ws = emulator.workspace
    pid = ws.add_project(next(iter(ws.spaces)), "Typed or plain")
    texts = ["plain", "🙂 ✅", "\ud800", "a\udfffb", "", "\x00\x1f", 'quote " and \\', "é"]
    parent = None
    for i in range(40):
        tid = ws.add_task(pid, texts[i % len(texts)], parent_id=parent, completed=i % 3 == 0)
        parent = tid if i % 4 == 0 else parent
    emulator.page_cap = 7  # six pages and a bit
    return pid


@pytest.mark.parametrize("fault", [None, "duplicate", "null_items", "extra_fields"])
def test_typed_and_plain_loads_give_the_same_frame_and_report(
    monkeypatch, emulator, client, odd_project, fault
):
    if fault is not None:
        emulator.faults.always(fault, operation="listTasks")
    typed, plain_ = _both_ways(monkeypatch, odd_project, client)
    _same(typed, plain_)
    report = typed.attrs["reports"][0]
    assert report["complete"] and report["replaced_surrogates"] == 10  # 2 texts x 5 rounds
    if fault == "duplicate":
        assert report["duplicates_dropped"] > 0
    if fault == "null_items":
        assert report["null_items"] > 0


def test_a_sample_project_takes_the_typed_path(monkeypatch, emulator, client):
    """The emulator's own pages are clean: the typed path must take them (else it is dead)."""
    from taskade_frames import decoding

    taken = []
    original = decoding.PageDecoder.__call__

    def spy(self, content):
        out = original(self, content)
        taken.append(out is not None)
        return out

    monkeypatch.setattr(decoding.PageDecoder, "__call__", spy)
    ws = emulator.workspace
    pid = max(ws.projects, key=lambda p: len(ws.tasks(p)))
    typed, plain_ = _both_ways(monkeypatch, pid, client)
    assert taken and all(taken)
    _same(typed, plain_)
