"""Shared fixtures: one emulator per test session over real loopback sockets.

Each test gets the emulator with its knobs and request log reset, so tests
can set page caps and faults freely. The token is obviously fake.
"""

from __future__ import annotations

import pytest

from taskade_frames import TaskadeClient
from taskade_frames._http import Hooks
from taskade_frames.emulator import Emulator

FAKE_TOKEN = "fake-token-for-tests-0000"

# Behaviour profiles: each answers a question the v2 reference leaves open in
# another plausible way. Loader, whole-space, export and picker tests run
# under every one and must give the same frames.
PROFILES = {
    "folder-scoped": {},
    "space-wide": {"scope": "space"},
    "space-and-folder": {"scope": "both"},
    "gateway-errors": {"errors": "gateway"},
    "clamped-pages": {"clamp_pages": True},
}


@pytest.fixture(scope="session")
def _emulator():
    with Emulator(token=FAKE_TOKEN) as emu:
        yield emu


@pytest.fixture
def emulator(_emulator):
    """The session's emulator, reset before each test (workspace restored too)."""
    _emulator.reset(workspace=True)
    yield _emulator
    errors = list(getattr(_emulator, "errors", []))
    assert not errors, f"the emulator raised while handling requests: {errors}"


def recording(sleeps: list[float]) -> Hooks:
    """Client hooks that record each wait in ``sleeps`` instead of sleeping, with fixed jitter."""
    return Hooks(sleep=sleeps.append, jitter=lambda: 0.5)


@pytest.fixture
def sleeps():
    """A list that records the waits a client asked for, instead of sleeping."""
    return []


@pytest.fixture
def client(emulator, sleeps):
    """A client for the emulator whose sleeps are recorded, not slept."""
    c = TaskadeClient(FAKE_TOKEN, base_url=emulator.base_url, timeout=10, _hooks=recording(sleeps))
    yield c
    c.close()


@pytest.fixture(scope="session", params=sorted(PROFILES))
def _profile_emulator(request):
    with Emulator(token=FAKE_TOKEN, **PROFILES[request.param]) as emu:
        emu.profile = request.param
        yield emu


@pytest.fixture
def profile_emulator(_profile_emulator):
    """An emulator under each behaviour profile in turn, reset before each test."""
    _profile_emulator.reset(workspace=True)
    yield _profile_emulator
    errors = list(getattr(_profile_emulator, "errors", []))
    assert not errors, f"the emulator raised while handling requests: {errors}"


@pytest.fixture
def profile_client(profile_emulator, sleeps):
    """A client for ``profile_emulator``, sleeps recorded, not slept."""
    c = TaskadeClient(FAKE_TOKEN, base_url=profile_emulator.base_url, timeout=10,
                      _hooks=recording(sleeps))
    yield c
    c.close()
