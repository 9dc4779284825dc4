"""Awkward data over real HTTP: huge text, Unicode edge cases, missing and odd fields.

Tasks are put straight into the emulator's workspace (``add_task``), served as
JSON (the emulator escapes non-ASCII as ``\\uXXXX``, so lone surrogates arrive
as the escapes a JavaScript server would send), loaded with ``load_tasks`` and
written to parquet with the tasks' declared Arrow schema. "Preserved exactly"
means equal code point for code point: no Unicode normalisation, no newline
translation, no stripping.

Lone surrogates (``"\\ud800"``) are the one thing UTF-8, and so Arrow and
parquet, cannot hold. The documented behaviour: each one becomes U+FFFD and
the listing's report counts the values changed (``replaced_surrogates``);
until the loaders do that they refuse the listing with a typed error, and
never crash or alter text without a record.
"""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from taskade_frames import InvalidResponseError, schemas
from taskade_frames.emulator import TaskTable
from taskade_frames.loaders import load_fields, load_members, load_tasks

# name -> text; each becomes one task's text.
UNICODE = {
    "emoji": "🙂 done ✅",
    "zwj family": "👩\u200d👩\u200d👧\u200d👦",
    "zwj flag and skin tone": "🏳️\u200d🌈 🇵🇹 👍🏽",
    "arabic": "مرحبا بالعالم",
    "hebrew with embedding and marks": "\u202bשלום\u202c \u200fעולם\u200e",
    "bidi override": "abc\u202edcba\u202c",
    "zero width": "a\u200bb\u200cc\u200dd\u2060e\ufeff",
    "combining marks, not normalised": "e\u0301 A\u030a n\u0303",
    "precomposed, not decomposed": "é Å ñ",
    "stacked combining": "Z\u0351\u036b\u0343\u036a\u0302\u036b",
    "astral CJK": "𠀀𪚥",
    "control characters": "\x00\x01\x07\x1b[31m\x1f\x7f\x80\x9f",
    "every newline": "a\nb\r\nc\rd\u2028e\u2029f\x85g\x0bh\x0ci",
    "tabs and edge spaces": "\t lead and trail \t ",
    "empty": "",
    "looks like JSON": '{"ok": false, "items": null}',
    "looks like markdown": "- [ ] not a task\n  # not a heading",
    "quotes and backslashes": "\\\"'`\\n\\u0000",
    "noncharacters and the last code point": "\ufffe\uffff\U0010ffff",
    "replacement character": "\ufffd",
}

LONE_SURROGATES = ["\ud800", "a\udfffb", "\udc00\ud800", "ok 🙂 then \udbff"]

NUMBER_LIKE_IDS = [
    "007",
    "1e3",
    "0x1F",
    "NaN",
    "Infinity",
    "-0",
    "1_000",
    "00",
    "12345678901234567890",
    "3.14",
    "true",
    "null",
]


def parquet_round_trip(df: pd.DataFrame, entity: str, path) -> pd.DataFrame:
    """Write with the entity's declared Arrow schema, read back, cast to its dtypes."""
    table = pa.Table.from_pandas(df, schema=schemas.arrow_schema(entity), preserve_index=False)
    pq.write_table(table, path)
    back = pq.read_table(path)
    assert back.schema.equals(schemas.arrow_schema(entity), check_metadata=False)
    return schemas.coerce(back.to_pandas(), entity)


def assert_same_frame(a: pd.DataFrame, b: pd.DataFrame) -> None:
    a, b = a.reset_index(drop=True), b.reset_index(drop=True)
    a.attrs, b.attrs = {}, {}
    pd.testing.assert_frame_equal(a, b, check_exact=True)


@pytest.fixture
def new_project(emulator):
    ws = emulator.workspace
    return ws.add_project(next(iter(ws.spaces)), "Data drill")


# -- text ---------------------------------------------------------------------------------


def test_a_10_mb_task_text_survives_the_loader_and_parquet(client, emulator, new_project, tmp_path):
    chunk = "ascii, é, 🙂, עברית, \u200d, \x00, \n; "
    big = chunk * (10_000_000 // len(chunk.encode("utf-8")) + 1)
    assert len(big.encode("utf-8")) >= 10_000_000
    ws = emulator.workspace
    root = ws.add_task(new_project, "before")
    ws.add_task(new_project, big, parent_id=root)
    ws.add_task(new_project, "after")

    df = load_tasks(new_project, client)

    assert df["text"].tolist() == ["before", big, "after"]
    assert df.attrs["reports"][0]["complete"]
    back = parquet_round_trip(df, "tasks", tmp_path / "big.parquet")
    assert back["text"].iloc[1] == big
    assert_same_frame(back, df)


def test_unicode_edge_cases_are_preserved_exactly(client, emulator, new_project, tmp_path):
    ws = emulator.workspace
    ids = {name: ws.add_task(new_project, text) for name, text in UNICODE.items()}
    emulator.page_cap = 3  # cursors after tasks with odd text too

    df = load_tasks(new_project, client)

    got = dict(zip(df["id"], df["text"], strict=True))
    for name, text in UNICODE.items():
        assert got[ids[name]] == text, name
    back = parquet_round_trip(df, "tasks", tmp_path / "unicode.parquet")
    assert_same_frame(back, df)


def test_unicode_in_names_and_markdown_created_projects(client, emulator, tmp_path):
    """Through the API's own write path: createProject from Markdown, then the loaders."""
    space = client.call("listSpaces")["items"][0]["id"]
    # One task per line: texts with line breaks of any kind stay out (the outline
    # format escapes only "\n"); backslashes are escaped as the format says.
    lines = [
        t.strip()
        for t in UNICODE.values()
        if t.strip() and not any(c in t for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
    ]
    content = "# Ünïcødé 👩\u200d👩\u200d👧 مشروع\n" + "".join(
        "- [ ] " + t.replace("\\", "\\\\") + "\n" for t in lines
    )
    created = client.call(
        "createProject", spaceId=space, contentType="text/markdown", content=content
    )["item"]

    df = load_tasks(created["id"], client)

    assert created["name"] == "Ünïcødé 👩\u200d👩\u200d👧 مشروع"
    assert df["text"].tolist() == lines
    assert_same_frame(parquet_round_trip(df, "tasks", tmp_path / "md.parquet"), df)


@pytest.mark.parametrize("text", LONE_SURROGATES, ids=repr)
def test_lone_surrogates_never_crash_nor_change_silently(client, emulator, new_project, text):
    emulator.workspace.add_task(new_project, "fine")
    emulator.workspace.add_task(new_project, text)

    try:
        df = load_tasks(new_project, client)
    except InvalidResponseError as exc:  # the behaviour until replacement lands
        assert exc.operation == "listTasks"
        return
    fixed = "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)
    assert df["text"].tolist() == ["fine", fixed]
    assert df.attrs["reports"][0]["replaced_surrogates"] == 1


def test_lone_surrogates_become_replacement_characters_and_are_counted(
    client, emulator, new_project, tmp_path
):
    ws = emulator.workspace
    for text in ["fine", *LONE_SURROGATES]:
        ws.add_task(new_project, text)

    df = load_tasks(new_project, client)

    assert df["text"].tolist() == [
        "fine",
        "\ufffd",
        "a\ufffdb",
        "\ufffd\ufffd",
        "ok 🙂 then \ufffd",
    ]
    assert df.attrs["reports"][0]["replaced_surrogates"] == len(LONE_SURROGATES)
    assert_same_frame(parquet_round_trip(df, "tasks", tmp_path / "s.parquet"), df)


# -- ids ----------------------------------------------------------------------------------


def test_ids_that_look_like_numbers_stay_strings(client, emulator, new_project, tmp_path):
    ws = emulator.workspace
    for task_id in NUMBER_LIKE_IDS:
        ws.add_task(new_project, f"task {task_id}", id=task_id)
    ws.add_task(new_project, "child of 007", parent_id="007", id="0070")
    ws.add_task(new_project, "grandchild", parent_id="0070", id="7")
    emulator.page_cap = 2  # so that "1e3", "NaN"... travel as `after` cursors too

    df = load_tasks(new_project, client)

    expected = [t["id"] for t in ws.tasks(new_project)]
    assert df["id"].tolist() == expected
    assert all(isinstance(i, str) for i in df["id"])
    by_id = df.set_index("id")
    assert by_id.loc["7", "parent_id"] == "0070" and by_id.loc["7", "depth"] == 2
    assert by_id.loc["7", "root_id"] == "007"
    back = parquet_round_trip(df, "tasks", tmp_path / "ids.parquet")
    assert back["id"].tolist() == expected
    assert_same_frame(back, df)


# -- missing, null, unknown and wrongly typed fields --------------------------------------


@pytest.fixture
def tampered(monkeypatch):
    """Rewrite task records as the emulator serves them: ``{task_id: edit(record)}``.

    The emulator always sends every field the spec requires; a real server may not.
    """
    edits: dict = {}
    original = TaskTable.records

    def records(self, start=0, stop=None):
        out = original(self, start, stop)
        return [edits[r["id"]](dict(r)) if r["id"] in edits else r for r in out]

    def encode(self, start=0, stop=None):  # the emulator's pre-encoded fast path
        return json.dumps(records(self, start, stop))

    monkeypatch.setattr(TaskTable, "records", records)
    if hasattr(TaskTable, "encode"):
        monkeypatch.setattr(TaskTable, "encode", encode)
    return edits


def _without(*keys):
    return lambda r: {k: v for k, v in r.items() if k not in keys}


def test_missing_optional_task_fields_become_na(client, emulator, new_project, tampered):
    ws = emulator.workspace
    root = ws.add_task(new_project, "root", completed=True)
    no_text = ws.add_task(new_project, "gone", parent_id=root)
    null_text = ws.add_task(new_project, "gone too", parent_id=root)
    no_done = ws.add_task(new_project, "no completed", parent_id=root)
    tampered[no_text] = _without("text")
    tampered[null_text] = lambda r: dict(r, text=None)
    tampered[no_done] = _without("completed")

    df = load_tasks(new_project, client).set_index("id")

    assert pd.isna(df.loc[root, "parent_id"])
    assert pd.isna(df.loc[no_text, "text"]) and pd.isna(df.loc[null_text, "text"])
    assert pd.isna(df.loc[no_done, "completed"])
    assert df.loc[no_text, "parent_id"] == root and df.loc[no_text, "depth"] == 1
    assert df.loc[root, "n_children"] == 3


def test_unknown_fields_are_ignored(client, emulator, new_project, tampered):
    task = emulator.workspace.add_task(new_project, "plain")
    tampered[task] = lambda r: dict(
        r, assignees=[{"handle": "ana"}], dueDate=None, zzExtra={"nested": ["ü", 1]}
    )

    df = load_tasks(new_project, client)

    assert df["text"].tolist() == ["plain"]
    assert list(df.columns) == schemas.columns("tasks")


def test_a_wrongly_typed_value_is_a_typed_error(client, emulator, new_project, tampered):
    task = emulator.workspace.add_task(new_project, "typed wrong")
    tampered[task] = lambda r: dict(r, completed="yes")

    with pytest.raises(InvalidResponseError, match="listTasks"):
        load_tasks(new_project, client)


def test_an_item_without_an_id_is_a_typed_error(client, emulator, new_project, tampered):
    task = emulator.workspace.add_task(new_project, "anonymous")
    tampered[task] = _without("id")

    with pytest.raises(InvalidResponseError, match="without 'id'"):
        load_tasks(new_project, client)


def test_members_and_fields_without_display_names(client, emulator, new_project):
    ws = emulator.workspace
    ws.add_member(new_project, "ana")
    ws.add_member(new_project, "bo", "Bo 🙂")
    ws.add_field(new_project, {"type": "text"})

    members = load_members(new_project, client)
    fields = load_fields(new_project, client)

    assert members["handle"].tolist() == ["ana", "bo"]
    assert pd.isna(members["display_name"].iloc[0])
    assert members["display_name"].iloc[1] == "Bo 🙂"
    assert fields["type"].tolist() == ["text"] and pd.isna(fields["display_name"].iloc[0])
