"""Scoped listings (issue 11.1): the same complete frames whichever way a server scopes them.

Projects, agents, media and templates belong to a folder, and a space's own id
stands for its home folder. Under every behaviour profile of the emulator
(folder-scoped as v1 documents, space-wide refusing folder ids, space-wide
accepting them, gateway errors, clamped pages) the loaders, ``load_space`` and
the picker must give the same items, each once, and nothing refused may land
in ``errors``.
"""

from __future__ import annotations

import pandas as pd
import pytest

import taskade_frames as tf
from taskade_frames import NotFoundError, loaders
from taskade_frames.emulator import Emulator
from taskade_frames.emulator._model import Workspace

from .conftest import FAKE_TOKEN

SCOPED = {"projects": "projects", "agents": "agents", "media": "media", "templates": "templates"}
LOAD = {
    "projects": tf.load_projects,
    "agents": tf.load_agents,
    "media": tf.load_media,
    "templates": tf.load_templates,
}


def truth(ws: Workspace, entity: str, space_id: str) -> dict[str, str]:
    """``{item id: folder id}`` of a space, the space id standing for its home folder."""
    objects = getattr(ws, SCOPED[entity]).values()
    return {o.id: o.folder_id or space_id for o in objects if o.space_id == space_id}


def space_wide_only(emulator) -> bool:
    return getattr(emulator, "scope", "folder") == "space"


@pytest.mark.parametrize("entity", sorted(SCOPED))
def test_every_item_once_under_every_profile(profile_client, profile_emulator, entity):
    ws = profile_emulator.workspace
    for sid in ws.spaces:
        df = LOAD[entity](sid, profile_client)
        expected = truth(ws, entity, sid)
        assert df["id"].is_unique
        assert set(df["id"]) == set(expected), (profile_emulator.profile, sid)
        assert (df["space_id"] == sid).all()
        found_in = dict(zip(df["id"], df["folder_id"], strict=True))
        if space_wide_only(profile_emulator):
            # Folder ids are refused, so every item was found in the space listing.
            assert set(found_in.values()) == {sid}
        else:
            assert found_in == expected


def test_the_sample_has_items_in_folders_and_in_home_folders(emulator):
    ws = emulator.workspace
    for entity in SCOPED:
        where = [o.folder_id is None for o in getattr(ws, SCOPED[entity]).values()]
        assert any(where) and not all(where), entity


def test_a_refused_folder_listing_is_noted_never_an_error(profile_client, profile_emulator):
    sid = next(iter(profile_emulator.workspace.spaces))
    for entity in SCOPED:
        df = LOAD[entity](sid, profile_client)
        refused = [r for r in df.attrs["reports"] if r.get("refused")]
        if space_wide_only(profile_emulator):
            assert refused and all("whole space" in r["stop_reason"] for r in refused)
            assert all(r["complete"] for r in refused)
        else:
            assert refused == []


@pytest.mark.parametrize("entity", sorted(SCOPED))
def test_one_folder_can_be_listed_alone(profile_client, profile_emulator, entity):
    ws = profile_emulator.workspace
    sid = next(
        s
        for s in ws.spaces
        if any(o.folder_id for o in getattr(ws, SCOPED[entity]).values() if o.space_id == s)
    )
    fid = next(
        o.folder_id
        for o in getattr(ws, SCOPED[entity]).values()
        if o.space_id == sid and o.folder_id
    )
    if space_wide_only(profile_emulator):
        # Such a server cannot list one folder: say so rather than return the space.
        with pytest.raises((NotFoundError, tf.BadRequestError)):
            LOAD[entity](sid, profile_client, folder_id=fid)
        return
    df = LOAD[entity](sid, profile_client, folder_id=fid)
    expected = {i for i, f in truth(ws, entity, sid).items() if f == fid}
    assert set(df["id"]) == expected and (df["folder_id"] == fid).all()


def _sorted(df: pd.DataFrame, key: str = "id") -> pd.DataFrame:
    cols = [c for c in df.columns if c != "folder_id"]
    return (
        df[cols]
        .sort_values([c for c in (key, "project_id", "agent_id", "handle") if c in df.columns])
        .reset_index(drop=True)
    )


@pytest.fixture(scope="module")
def reference():
    """load_space of every sample space against the default emulator, once."""
    with (
        Emulator(token=FAKE_TOKEN) as emu,
        tf.TaskadeClient(FAKE_TOKEN, base_url=emu.base_url) as client,
    ):
        return {sid: tf.load_space(sid, client, progress=False) for sid in emu.workspace.spaces}


def test_load_space_gives_the_same_frames_under_every_profile(
    profile_client, profile_emulator, reference
):
    for sid, expected in reference.items():
        got = tf.load_space(sid, profile_client, progress=False)
        assert len(got.errors) == 0, got.errors.to_dict("records")
        for name, frame in expected.frames().items():
            key = "handle" if name == "members" else "id"
            pd.testing.assert_frame_equal(
                _sorted(got.frames()[name], key), _sorted(frame, key), obj=name
            )
        truth_projects = truth(profile_emulator.workspace, "projects", sid)
        assert set(got.projects["id"]) == set(truth_projects)


def test_load_space_lists_home_folder_items(client, emulator):
    ws = emulator.workspace
    personal = next(s.id for s in ws.spaces.values() if s.name == "Personal")
    got = tf.load_space(personal, client, progress=False)
    for entity in SCOPED:
        home = {i for i, f in truth(ws, entity, personal).items() if f == personal}
        assert home and home <= set(got.frames()[entity]["id"]), entity
        rows = got.frames()[entity].set_index("id").loc[sorted(home)]
        assert (rows["folder_id"] == personal).all()


def test_loaders_check_the_scope_kind():
    with pytest.raises(ValueError, match="listed by folder"):
        loaders.load_listing("projects", "x")
