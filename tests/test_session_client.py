"""One way to find the client: the session default that loaders, widgets, magic and CLI share.

And the mistakes a newcomer makes with clients, each named by a clear error instead of
an AttributeError from deep inside.
"""

from __future__ import annotations

import pytest

import taskade_frames as tf
from taskade_frames import ConfigurationError, TaskadeClient, widgets
from taskade_frames.cli import main

from .conftest import FAKE_TOKEN

TOKEN_VARS = ("TASKADE_API_TOKEN", "TASKADE_TOKEN", "TASKADE_API_URL")


@pytest.fixture(autouse=True)
def no_token(monkeypatch):
    """No token in the environment and no session client, before and after each test."""
    for name in TOKEN_VARS:
        monkeypatch.delenv(name, raising=False)
    tf.use_client(None)
    yield
    tf.use_client(None)


def test_use_client_makes_every_later_call_work(client):
    assert tf.use_client(client) is client

    assert tf.default_client() is client
    assert len(tf.load_spaces()) > 0
    sid = tf.load_spaces()["id"].iloc[0]
    assert len(tf.load_projects(sid)) > 0
    assert tf.load_space(sid, progress=False).errors.empty


def test_the_widgets_use_client_is_the_same_default(client):
    widgets.use_client(client)  # the name the widgets module has always offered

    assert tf.default_client() is client
    assert len(tf.load_spaces()) > 0


def test_a_token_typed_into_a_widget_serves_the_loaders(emulator, monkeypatch):
    monkeypatch.setenv("TASKADE_API_URL", emulator.base_url)
    picker = widgets.ProjectPicker()
    assert picker.token_prompt is not None

    picker.token_prompt.token.value = FAKE_TOKEN  # what pressing Enter in the field sends

    spaces = tf.load_spaces()
    assert spaces["id"].tolist() == [ident for _, ident in picker.space.options]


def test_the_cli_uses_the_session_client(client, capsys):
    tf.use_client(client)

    assert main(["spaces", "--format", "csv"]) == 0

    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("id,name")
    assert len(out.splitlines()) == 1 + len(tf.load_spaces(client))


@pytest.mark.parametrize(
    "call",
    [
        lambda bad: tf.load_spaces(bad),
        lambda bad: tf.load_projects("some-space", bad),
        lambda bad: tf.load_tasks("some-project", bad),
        lambda bad: tf.prompt_agent("some-space", "some-agent", "hi", bad),
        lambda bad: tf.use_client(bad),
    ],
)
def test_a_token_string_in_the_clients_place_says_what_to_do(call):
    with pytest.raises(TypeError) as info:
        call("a-token-string")
    message = str(info.value)
    assert "expected a TaskadeClient, got str: pass the token with TaskadeClient(token)" in message
    assert "a-token-string" not in message  # it may be the real token: never echoed


def test_an_emulator_in_the_clients_place_says_how_to_connect(emulator):
    with pytest.raises(
        TypeError,
        match=r"got Emulator: connect to an emulator with "
        r"TaskadeClient\(emu.token, base_url=emu.base_url\)",
    ):
        tf.load_spaces(emulator)
    with pytest.raises(TypeError, match="got Emulator"):
        widgets.AgentPrompt(emulator)


def test_a_url_passed_as_the_token_is_refused_without_echoing_it(emulator):
    from . import conftest

    with pytest.raises(ConfigurationError, match="looks like a URL") as info:
        TaskadeClient(emulator.base_url)
    assert emulator.base_url not in str(info.value)
    assert "base_url=" in str(info.value)
    with pytest.raises(ConfigurationError, match="looks like a URL"):
        TaskadeClient("https://www.taskade.com/api/v2")
    # The session's secret scan counts every string a client was built with as a token;
    # these URLs were refused before any request and are printed everywhere as addresses.
    conftest._CLIENT_TOKENS.difference_update({emulator.base_url, "https://www.taskade.com/api/v2"})


def test_no_token_gives_advice_that_works():
    with pytest.raises(ConfigurationError) as info:
        tf.load_spaces()
    message = str(info.value)
    assert "TASKADE_API_TOKEN" in message
    assert "pass token=" not in message  # loaders have no token argument
    assert "use_client" in message and "client=" in message
    assert "taskade-frames demo" in message and "--emulator" in message
    assert "Emulator().start()" in message and "emu.stop()" in message
