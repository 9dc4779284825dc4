"""The entity table: every row is used, a new row is enough, one conversion rule."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import taskade_frames as tf
from taskade_frames import InvalidResponseError, entities, export, loaders, schemas, space
from taskade_frames.emulator._schemas import load as request_schemas
from taskade_frames.entities import ENTITIES, Entity, to_columns
from taskade_frames.operations import OPERATIONS

# -- the table is consistent and every row is used ----------------------------------------


@pytest.mark.parametrize("name", sorted(ENTITIES))
def test_each_row_is_consistent(name):
    ent = ENTITIES[name]
    columns = [c.name for c in ent.columns]
    assert len(set(columns)) == len(columns), "a column declared twice"
    assert set(ent.fields) <= set(columns)
    assert ent.key is None or ent.key in columns
    assert ent.parent is None or ent.parent in columns
    if ent.operation is None:
        assert not ent.fields
        return
    op = OPERATIONS[ent.operation]
    assert op.paging != "none", f"{ent.operation} is not a listing"
    assert ent.fields.get(ent.key) == op.key, "the de-duplication key is the entity's key"
    if ent.scope == "none":
        assert ent.param is None
    else:
        # The scope id travels in a field the v2 spec declares for this operation.
        body = request_schemas()["requests"][ent.operation]
        shapes = body.get("anyOf", [body])  # a nullable body is anyOf [object, null]
        properties = {k for shape in shapes for k in shape.get("properties", {})}
        assert ent.param in properties, (ent.operation, ent.param)
        assert entities.SCOPE_PARAMS[ent.scope] in columns


def test_every_listed_entity_has_a_loader_and_every_space_frame_is_loaded_and_exported():
    public = {n for n in dir(tf) if n.startswith("load_")}
    for name in entities.LISTED:
        assert f"load_{name}" in public, name
    assert entities.exported() == export.DATASETS
    assert entities.space_frames()[-1] == "errors"
    assert set(entities.space_frames()) == {
        n for n, e in ENTITIES.items() if e.operation and e.scope != "none"
    } | {"errors"}
    # One meaning of ENTITIES: no other module declares its own.
    assert getattr(space, "ENTITIES", ENTITIES) is ENTITIES
    assert not hasattr(schemas, "ENTITIES")
    assert not hasattr(export, "ENTITIES")


def test_the_dtypes_of_trees_and_histories_come_from_the_table():
    from taskade_frames import trees

    assert schemas.column_dtypes(entities.TREE_COLUMNS) == trees.TREE_DTYPES
    assert trees.STRING is schemas.STRING
    tasks = schemas.dtypes("tasks")
    assert all(tasks[c] == d for c, d in trees.TREE_DTYPES.items())
    from taskade_frames import snapshots

    assert list(schemas.dtypes("completion_history")) == list(snapshots.HISTORY_COLUMNS)
    assert list(schemas.dtypes("task_changes")) == list(snapshots.DIFF_COLUMNS)


def test_snapshot_listings_have_the_declared_columns_and_dtypes(client, tmp_path):
    from taskade_frames import snapshots

    export.export_space(next(iter(tf.load_spaces(client)["id"])), tmp_path, client, progress=False)
    listed = snapshots.list_snapshots(tmp_path)
    assert dict(listed.dtypes) == schemas.dtypes("snapshots") and len(listed) == 1


# -- a new row is enough -------------------------------------------------------------------


@pytest.fixture
def extra_rows(monkeypatch):
    """Register rows for this test only."""

    def add(row: Entity) -> None:
        monkeypatch.setitem(ENTITIES, row.name, row)

    return add


def test_a_new_project_scoped_row_is_loaded_alone_and_by_load_space(client, emulator, extra_rows):
    # Custom fields again, under another name and with other columns: nothing
    # but this row tells the loaders and load_space about it.
    extra_rows(
        Entity(
            "field_kinds",
            schemas.parse_columns("project_id:string id:string kind:string"),
            "listFields",
            "project",
            "projectId",
            fields={"id": "id", "kind": ("data", "type")},
            parent="project_id",
        )
    )
    ws = emulator.workspace
    pid = next(p.id for p in ws.projects.values() if p.fields)

    df = loaders.load_listing("field_kinds", pid, client)

    assert df["kind"].tolist() == [f["data"]["type"] for f in ws.projects[pid].fields]
    assert dict(df.dtypes) == schemas.dtypes("field_kinds")
    sid = ws.projects[pid].space_id
    whole = tf.load_space(sid, client, progress=False)
    assert "field_kinds" in whole.frames()
    assert len(whole.field_kinds) == len(whole.fields) > 0
    assert "field_kinds" in entities.exported()


def test_a_new_folder_scoped_row_is_listed_in_every_folder(client, emulator, extra_rows):
    extra_rows(
        Entity(
            "template_names",
            schemas.parse_columns("space_id:string folder_id:string id:string title:string"),
            "listTemplates",
            "folder",
            "folderId",
            fields={"id": "id", "title": "name"},
            parent="folder_id",
        )
    )
    ws = emulator.workspace
    for sid in ws.spaces:
        df = loaders.load_scoped("template_names", sid, client)
        expected = {t.id: t.name for t in ws.templates.values() if t.space_id == sid}
        assert dict(zip(df["id"], df["title"], strict=True)) == expected


# -- one conversion, one rule ----------------------------------------------------------------


def test_non_strings_in_string_columns_become_json_text_in_every_loader_path():
    items = [
        {"id": "a", "text": {"b": [1, "ü"], "a": None}, "completed": True},
        {"id": "b", "text": 5, "completed": None},
    ]
    cols, _ = to_columns("tasks", items)
    assert cols["text"].to_pylist() == ['{"a": null, "b": [1, "ü"]}', "5"]
    cols, _ = to_columns("blocks", items)
    assert cols["text"].to_pylist() == ['{"a": null, "b": [1, "ü"]}', "5"]


@pytest.mark.parametrize(
    "ids,message",
    [
        ([5, "5"], "distinct on the server"),
        ([1, True], "must be a string or an integer"),
        (["a", {"x": 1}], "must be a string or an integer"),
        (["a", [1]], "must be a string or an integer"),
        (["a", 1.5], "must be a string or an integer"),
    ],
)
def test_ids_that_would_merge_or_are_not_ids_are_typed_errors(ids, message):
    with pytest.raises(InvalidResponseError, match=message):
        to_columns("tasks", [{"id": i} for i in ids])


def test_integer_ids_keep_their_text():
    cols, _ = to_columns("tasks", [{"id": 5, "parentId": None}, {"id": "7", "parentId": 5}])
    assert cols["id"].to_pylist() == ["5", "7"]
    assert cols["parent_id"].to_pylist() == [None, "5"]


@pytest.mark.parametrize(
    "item,column",
    [
        ({"id": "f", "data": "a string"}, "type"),
        ({"id": "f", "data": ["a", "list"]}, "type"),
    ],
)
def test_a_field_whose_data_is_not_an_object_is_a_typed_error(item, column):
    with pytest.raises(InvalidResponseError, match=f"fields.{column}"):
        to_columns("fields", [item])


@pytest.mark.parametrize(
    "data,message",
    [
        ({"llm": "gpt"}, "data.llm"),
        ({"endedAt": 10**20}, "outside the years"),
        ({"endedAt": -(10**15)}, "outside the years"),
        ({"endedAt": float("inf")}, "epoch time"),
        ({"endedAt": "yesterday"}, "epoch time"),
        ({"endedAt": True}, "epoch time"),
    ],
)
def test_malformed_conversations_are_typed_errors(data, message):
    with pytest.raises(InvalidResponseError, match=message):
        to_columns("conversations", [{"id": "c", "data": data}])


def test_deeply_nested_values_are_a_typed_error_not_a_recursion_error():
    deep: dict = {}
    node = deep
    for _ in range(5000):
        node["x"] = {}
        node = node["x"]
    with pytest.raises(InvalidResponseError, match="nested too deeply"):
        to_columns("fields", [{"id": "f", "data": {"type": "text", "deep": deep}}])


def test_epoch_seconds_and_milliseconds_are_the_same_instant():
    cols, _ = to_columns(
        "conversations",
        [
            {"id": "a", "data": {"endedAt": 1_700_000_000}},
            {"id": "b", "data": {"endedAt": 1_700_000_000_000}},
        ],
    )
    first, second = cols["ended_at"].to_pylist()
    assert first == second == pd.Timestamp(1_700_000_000, unit="s", tz="UTC")


JSONISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.text(max_size=5)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(st.lists(JSONISH, max_size=6))
def test_a_string_column_keeps_every_value_as_text_or_its_json(values):
    cols, _ = to_columns("blocks", [{"id": str(i), "text": v} for i, v in enumerate(values)])
    for value, text in zip(values, cols["text"].to_pylist(), strict=True):
        if value is None or isinstance(value, str):
            assert text == value or "\ufffd" in text
        else:
            assert json.loads(text) == value
