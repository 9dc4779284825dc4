"""Every loader against the emulator: columns, dtypes, completeness, provenance."""

from __future__ import annotations

import time

import pandas as pd
import pytest

import taskade_frames as tf
from taskade_frames import PermissionDeniedError, TaskadeClient, schemas
from taskade_frames.loaders import split_transcript

from .conftest import FAKE_TOKEN


@pytest.fixture(scope="module")
def ids(_emulator):
    """Ids of one of each resource in the sample workspace (looked up once)."""
    _emulator.reset(workspace=True)
    client = TaskadeClient(FAKE_TOKEN, base_url=_emulator.base_url)
    spaces = tf.load_spaces(client)
    space = spaces["id"].iloc[0]
    projects = tf.load_projects(space, client)
    folders = tf.load_folders(space, client)
    agents = tf.load_agents(space, client)
    client.close()
    return {
        "space": space,
        "project": projects["id"].iloc[0],
        "projects": projects["id"].tolist(),
        "folders": folders["id"].tolist(),
        "agent": agents["id"].iloc[0],
        "agents": agents["id"].tolist(),
    }


def loaders_for(ids):
    """(entity, call) for every loader, each bound to a sample id."""
    return [
        ("spaces", lambda c: tf.load_spaces(c)),
        ("folders", lambda c: tf.load_folders(ids["space"], c)),
        ("projects", lambda c: tf.load_projects(ids["space"], c)),
        ("my_projects", lambda c: tf.load_my_projects(c)),
        ("tasks", lambda c: tf.load_tasks(ids["project"], c)),
        ("blocks", lambda c: tf.load_blocks(ids["project"], c)),
        ("fields", lambda c: tf.load_fields(ids["project"], c)),
        ("members", lambda c: tf.load_members(ids["project"], c)),
        ("agents", lambda c: tf.load_agents(ids["space"], c)),
        ("conversations", lambda c: tf.load_conversations(ids["agent"], c, transcripts=True)),
        ("messages", lambda c: tf.load_messages(ids["agent"], c)),
        ("media", lambda c: tf.load_media(ids["space"], c)),
        ("templates", lambda c: tf.load_templates(ids["space"], c)),
    ]


def assert_schema(df: pd.DataFrame, entity: str) -> None:
    assert list(df.columns) == schemas.columns(entity)
    assert dict(df.dtypes) == schemas.dtypes(entity), entity


def test_every_loader_has_its_declared_columns_and_dtypes(profile_client, ids):
    for entity, load in loaders_for(ids):
        df = load(profile_client)
        assert len(df) > 0, f"sample workspace has no {entity} here"
        assert_schema(df, entity)
        assert df.attrs["api_host"] == profile_client.host
        assert FAKE_TOKEN not in repr(df.attrs)


def test_every_loader_is_complete_with_pages_capped_at_3(profile_client, profile_emulator, ids):
    whole = {entity: load(profile_client) for entity, load in loaders_for(ids)}
    profile_emulator.page_cap = 3
    for entity, load in loaders_for(ids):
        capped = load(profile_client)
        pd.testing.assert_frame_equal(capped, whole[entity], obj=entity)


def test_parent_ids_are_columns(client, ids):
    assert (tf.load_tasks(ids["project"], client)["project_id"] == ids["project"]).all()
    assert (tf.load_members(ids["project"], client)["project_id"] == ids["project"]).all()
    assert (tf.load_projects(ids["space"], client)["space_id"] == ids["space"]).all()
    assert (tf.load_agents(ids["space"], client)["space_id"] == ids["space"]).all()
    assert (tf.load_conversations(ids["agent"], client)["agent_id"] == ids["agent"]).all()


def test_empty_results_keep_columns_and_dtypes(client, ids):
    created = client.call(
        "createProject", spaceId=ids["space"], contentType="text/markdown", content="# Empty\n"
    )
    pid = created["item"]["id"]
    for entity, df in [
        ("tasks", tf.load_tasks(pid, client)),
        ("blocks", tf.load_blocks(pid, client)),
        ("fields", tf.load_fields(pid, client)),
        ("members", tf.load_members(pid, client)),
    ]:
        if entity in ("tasks", "blocks"):
            assert len(df) == 0
        assert_schema(df, entity)
    assert_schema(schemas.empty_frame("conversations"), "conversations")


def test_extra_fields_from_the_server_do_not_break_loaders(client, emulator, ids):
    emulator.faults.always("extra_fields")
    for entity, load in loaders_for(ids):
        assert_schema(load(client), entity)


@pytest.mark.parametrize("entity,op", [("media", "listMedia"), ("templates", "listTemplates")])
def test_null_items_are_skipped_and_counted(client, emulator, ids, entity, op):
    load = dict(loaders_for(ids))[entity]
    whole = load(client)
    emulator.faults.always("null_items", operation=op)
    df = load(client)
    pd.testing.assert_frame_equal(df, whole)
    # One report per folder listed (and the home folder): nulls are counted in them.
    assert sum(r["null_items"] for r in df.attrs["reports"]) > 0


def test_tasks_keep_document_order_and_tree_columns(client, ids):
    df = tf.load_tasks(ids["project"], client)
    raw = client.fetch_all("listTasks", projectId=ids["project"]).items
    assert df["id"].tolist() == [t["id"] for t in raw]
    assert df["position"].tolist() == list(range(len(df)))
    roots = df["parent_id"].isna()
    assert (df.loc[roots, "depth"] == 0).all() and (df.loc[~roots, "depth"] > 0).all()
    assert df["leaves_total"].iloc[0] >= 1
    report = df.attrs["reports"][0]
    assert report["complete"] and report["rows"] == len(df)


def test_fields_keep_the_whole_definition(client, ids):
    import json

    for pid in ids["projects"]:
        df = tf.load_fields(pid, client)
        raw = client.call("listFields", projectId=pid)["items"]
        assert [json.loads(d) for d in df["definition"]] == [f["data"] for f in raw]
        assert df["type"].tolist() == [f["data"]["type"] for f in raw]


def test_conversation_transcripts_and_messages(client, ids):
    convos = tf.load_conversations(ids["agent"], client, transcripts=True)
    assert convos["transcript"].notna().all()
    assert convos["ended_at"].dt.tz is not None
    messages = tf.load_messages(ids["agent"], client)
    assert set(messages["conversation_id"]) <= set(convos["id"])
    assert messages["role"].notna().any()
    first = convos["id"].iloc[0]
    assert messages.attrs["transcripts"][first] == convos["transcript"].iloc[0]


def test_split_transcript_keeps_every_character():
    text = "Intro line\nUser: hi there\nAssistant: hello\nsecond line\nuser:again"
    turns = split_transcript(text)
    assert turns == [
        (None, "Intro line"),
        ("user", "hi there"),
        ("assistant", "hello\nsecond line"),
        ("user", "again"),
    ]
    assert split_transcript("") == [] and split_transcript(None) == []


def test_prompt_agent_returns_text(client, ids):
    reply = tf.prompt_agent(ids["space"], ids["agent"], "What is open?", client)
    assert isinstance(reply, str) and reply


def test_prompt_agent_out_of_credits(client, emulator, ids):
    emulator.credits = 0
    with pytest.raises(tf.OutOfCreditsError):
        tf.prompt_agent(ids["space"], ids["agent"], "What is open?", client)


@pytest.mark.parametrize("bad", ["", "  ", None, 42])
def test_bad_ids_are_clear_errors(client, bad):
    with pytest.raises(ValueError, match="project_id"):
        tf.load_tasks(bad, client)


def test_unknown_project_is_not_found(client):
    with pytest.raises(tf.NotFoundError):
        tf.load_tasks("no-such-project", client)


class TestWholeSpace:
    def test_loads_every_frame(self, profile_client, ids):
        space = tf.load_space(ids["space"], profile_client, progress=False)
        assert set(space.tasks["project_id"]) <= set(ids["projects"])
        assert set(space.projects["id"]) == set(ids["projects"])
        for entity, df in space.frames().items():
            assert_schema(df, entity)
        assert len(space.errors) == 0
        summary = space.completion()
        assert summary["tasks"].sum() == len(space.tasks)

    def test_a_forbidden_project_lands_in_errors(self, client, emulator, ids):
        denied = ids["projects"][1]
        emulator.forbidden = {denied}
        space = tf.load_space(ids["space"], client, progress=False)
        assert set(space.errors["id"]) == {denied}
        assert set(space.errors["status"]) == {403}
        loaded = space.tasks["project_id"].value_counts().to_dict()
        assert denied not in loaded
        emulator.forbidden = set()
        for pid in set(ids["projects"]) - {denied}:
            assert loaded.get(pid, 0) == len(tf.load_tasks(pid, client))

    def test_strict_raises(self, client, emulator, ids):
        emulator.forbidden = {ids["projects"][1]}
        with pytest.raises(PermissionDeniedError):
            tf.load_space(ids["space"], client, progress=False, strict=True)

    def test_fan_out_is_concurrent(self, emulator, ids):
        emulator.latency = 0.03
        timings = {}
        for workers in (1, 8):
            with TaskadeClient(FAKE_TOKEN, base_url=emulator.base_url) as c:
                started = time.perf_counter()
                space = tf.load_space(ids["space"], c, progress=False, max_workers=workers)
                timings[workers] = time.perf_counter() - started
                calls = c.stats["requests"]
        assert len(space.errors) == 0
        # Sequential time is at least the latency times the calls; 8 threads
        # must cut it by far more than noise could.
        assert timings[1] >= calls * 0.03
        assert timings[8] < timings[1] / 2.5, timings


@pytest.mark.parametrize("which", [0, 2])
def test_outline_round_trip_through_create_project(client, ids, which):
    """load_tasks -> Markdown outline -> createProject -> load_tasks gives the same tree."""
    original = tf.load_tasks(ids["projects"][which], client)
    outline = tf.to_markdown_outline(original, "Copy of a sample project")
    created = client.call(
        "createProject", spaceId=ids["space"], contentType="text/markdown", content=outline
    )["item"]
    copy = tf.load_tasks(created["id"], client)
    same = [
        "text",
        "completed",
        "depth",
        "sibling_index",
        "n_children",
        "n_descendants",
        "leaves_total",
        "leaves_done",
    ]
    pd.testing.assert_frame_equal(copy[same], original[same])
    # The same parent, by position: ids differ, shape does not.
    assert parent_positions(copy) == parent_positions(original)


def parent_positions(tasks: pd.DataFrame) -> list:
    position_of = dict(zip(tasks["id"], tasks["position"], strict=True))
    # Roots have no parent: -1, so that the lists compare equal (NaN != NaN).
    return tasks["parent_id"].map(position_of).fillna(-1).astype(int).tolist()
