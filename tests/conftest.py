"""Shared fixtures: one emulator per test session over real loopback sockets.

Each test gets the emulator with its knobs and request log reset, so tests
can set page caps and faults freely. The token is obviously fake.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from taskade_frames import TaskadeClient
from taskade_frames._http import Hooks
from taskade_frames.emulator import DEFAULT_TOKEN, Emulator
from taskade_frames.errors import registered_secrets

from .secret_scan import FRAGMENT, Scanner, Secret, scan_tree, secrets_in_sources

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
    c = TaskadeClient(
        FAKE_TOKEN, base_url=profile_emulator.base_url, timeout=10, _hooks=recording(sleeps)
    )
    yield c
    c.close()


# -- nothing a test writes holds a secret (#12) -------------------------------------------
# At the end of the session every file under pytest's basetemp and test-artifacts/ is
# searched for the token of each client a test built, each secret the test sources spell out, and
# any piece of one longer than 8 characters; so is each test's captured output and logs.
# A hit fails the session, naming the file and which secret, never the secret itself.

_SCAN_ROOTS: list[Path] = []
_LEAKS: list[str] = []
_CLIENT_TOKENS: set[str] = set()
_SOURCE_SECRETS = secrets_in_sources(Path(__file__).parent)


def session_scanner() -> Scanner:
    """What the session scan looks for: the sources' secrets and every client's token.

    Only tokens a client was built with count: redaction tests register random
    strings by the hundred (hypothesis), and some of those match text by chance.
    A token shorter than 9 characters is plain text, and the emulator's default
    token is public (its piece "emulator-" names the saved workspace format).
    """
    clients = (
        Secret(
            t.encode("utf-8", "surrogatepass"),
            f"the token of a client a test built ({len(t)} characters)",
        )
        for t in sorted(_CLIENT_TOKENS - {DEFAULT_TOKEN})
        if len(t) >= FRAGMENT
    )
    return Scanner([*_SOURCE_SECRETS, *clients])


@pytest.fixture(scope="session", autouse=True)
def _scan_what_tests_write(tmp_path_factory, pytestconfig):
    """Remember where tests write and the token of every client they build, for the scan
    in ``pytest_sessionfinish``."""
    _SCAN_ROOTS[:] = [tmp_path_factory.getbasetemp(), pytestconfig.rootpath / "test-artifacts"]
    original = TaskadeClient.__init__

    @functools.wraps(original)
    def observed(self, *args, **kwargs):
        before = set(registered_secrets())
        token = args[0] if args else kwargs.get("token")
        try:
            original(self, *args, **kwargs)
        finally:  # a refused token is a test's token too
            _CLIENT_TOKENS.update(set(registered_secrets()) - before)
            if isinstance(token, str) and token:
                _CLIENT_TOKENS.add(token)

    TaskadeClient.__init__ = observed
    yield
    TaskadeClient.__init__ = original


def pytest_runtest_logreport(report):
    texts = [(name, text) for name, text in report.sections]
    if report.failed and report.longrepr is not None:
        texts.append((f"failure report ({report.when})", str(report.longrepr)))
    if texts:
        scanner = session_scanner()
        for name, text in texts:
            label = scanner.find(text.encode("utf-8", "surrogatepass"))
            leak = f"{report.nodeid}: {name} holds {label}"
            if label and leak not in _LEAKS:  # later phases' reports repeat earlier sections
                _LEAKS.append(leak)


def pytest_sessionfinish(session, exitstatus):
    if not _SCAN_ROOTS:
        return
    for path, label in scan_tree(_SCAN_ROOTS, session_scanner()):
        _LEAKS.append(f"{path} holds {label}")
    if _LEAKS and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter):
    if _LEAKS:
        terminalreporter.write_sep("=", "secrets in what the tests wrote", red=True)
        for line in _LEAKS:
            terminalreporter.write_line(line)
