"""Properties: any page cap and page size give the full listing; parquet round trips losslessly.

Tree columns against a reference implementation on random forests with
orphans, cycles and duplicate ids are property-tested in ``test_trees.py``
(``test_corrupt_forests_match_the_reference``); they are not repeated here.
"""

from __future__ import annotations

import io
from datetime import UTC

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taskade_frames import TaskadeClient, schemas
from taskade_frames._http import Hooks
from taskade_frames.entities import ENTITIES

from .conftest import FAKE_TOKEN

# -- any page cap and page size yield the full listing, over real HTTP -------------------

N_TASKS = 137  # prime, so no cap divides it
N_MEMBERS = 41


@pytest.fixture
def listing_project(emulator):
    """A project with a few levels of tasks and a crowd of members."""
    ws = emulator.workspace
    pid = ws.add_project(next(iter(ws.spaces)), "Property listing")
    parents: list[str | None] = [None]
    for i in range(N_TASKS):
        parent = parents[(i * 7) % len(parents)]
        parents.append(ws.add_task(pid, f"task {i} ✓", parent_id=parent, completed=i % 3 == 0))
    for k in range(N_MEMBERS):
        ws.add_member(pid, f"handle-{k:03d}", f"Member {k}")
    return pid


EXPECTED = {
    "listTasks": lambda ws, pid: [t["id"] for t in ws.tasks(pid)],
    "listProjectMembers": lambda ws, pid: [m["handle"] for m in ws.projects[pid].members],
}

LISTING_SETTINGS = settings(
    max_examples=40,
    deadline=None,  # real HTTP: a page cap of 1 is a hundred requests
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@LISTING_SETTINGS
@given(
    operation=st.sampled_from(sorted(EXPECTED)),
    cap=st.none() | st.integers(1, 60),
    page_size=st.none() | st.integers(1, 1200),
    duplicate=st.booleans(),
    nulls=st.booleans(),
    clamp=st.booleans(),
)
def test_any_page_cap_and_page_size_yield_the_full_listing(
    emulator, listing_project, operation, cap, page_size, duplicate, nulls, clamp
):
    """Also when the server clamps page numbers (past the end: the last page again)."""
    emulator.faults.clear()
    emulator.page_cap = cap
    emulator.clamp_pages = clamp
    if duplicate:
        emulator.faults.always("duplicate", operation=operation)
    if nulls:
        emulator.faults.always("null_items", operation=operation)
    key = "handle" if operation == "listProjectMembers" else "id"

    try:
        with TaskadeClient(
            FAKE_TOKEN,
            base_url=emulator.base_url,
            page_size=page_size,
            _hooks=Hooks(sleep=lambda s: None),
        ) as c:
            listing = c.fetch_all(operation, projectId=listing_project)
    finally:
        emulator.clamp_pages = False

    expected = EXPECTED[operation](emulator.workspace, listing_project)
    assert [item[key] for item in listing.items] == expected
    report = listing.report
    assert report.complete and report.rows == len(expected)
    clamped = clamp and operation == "listProjectMembers"
    if clamped:
        assert report.stop_reason.startswith("clamped: page")
    else:
        assert report.stop_reason == "empty page"
        if not duplicate:
            assert report.duplicates_dropped == 0
    if not nulls:
        assert report.null_items == 0


# -- parquet round trip of random frames --------------------------------------------------

# Any Unicode scalar value: UTF-8 cannot hold surrogates (see test_reliability_data.py).
TEXT = st.text(st.characters(codec="utf-8"), max_size=12)
INT64 = st.integers(-(2**63), 2**63 - 1)
FLOAT = st.floats(allow_nan=False, width=64)
TIME = st.datetimes(
    min_value=pd.Timestamp("1678-01-01").to_pydatetime(),
    max_value=pd.Timestamp("2261-12-31").to_pydatetime(),
    timezones=st.just(UTC),
).map(lambda t: pd.Timestamp(t).floor("us"))

VALUES = {
    "string": TEXT,
    "bool": st.booleans(),
    "int": INT64,
    "float": FLOAT,
    "timestamp": TIME,
    "date": st.dates(),
}


@st.composite
def frames(draw: st.DrawFn) -> tuple[str, pd.DataFrame]:
    """A random entity and a frame of it: every column its declared dtype, NA anywhere."""
    entity = draw(st.sampled_from(sorted(ENTITIES)))
    n = draw(st.integers(0, 8))
    data = {}
    for column in ENTITIES[entity].columns:
        values = st.none() | VALUES[column.kind]
        data[column.name] = draw(st.lists(values, min_size=n, max_size=n))
    return entity, schemas.frame(entity, data) if n else schemas.empty_frame(entity)


@settings(max_examples=60, deadline=None)
@given(frames())
def test_parquet_round_trip_of_random_frames_is_lossless(drawn):
    entity, df = drawn
    schema = schemas.arrow_schema(entity)
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(df, schema=schema, preserve_index=False), buffer)
    buffer.seek(0)
    table = pq.read_table(buffer)

    assert table.schema.equals(schema, check_metadata=False)
    back = schemas.coerce(table.to_pandas(), entity)
    assert list(back.columns) == schemas.columns(entity)
    assert back.dtypes.to_dict() == schemas.dtypes(entity)
    pd.testing.assert_frame_equal(back, df, check_exact=True)
