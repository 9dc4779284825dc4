"""The picker and the agent prompt, driven without a browser against the emulator.

Each test sets dropdown values and clicks buttons the way the front end would (a
value change or a click is all a browser sends to the kernel) and reads back what
the widget would show: options, status lines, the reply output and the history.
"""

from __future__ import annotations

import pandas as pd
import pytest

from taskade_frames import TaskadeClient, load_agents, load_projects, load_spaces, load_tasks
from taskade_frames._notebook import session_client, use_client
from taskade_frames.history import PromptReply
from taskade_frames.widgets import (
    ALL_FOLDERS,
    HOME_FOLDER,
    AgentPrompt,
    ProjectChoice,
    ProjectPicker,
    parse_project_ref,
)

from .conftest import FAKE_TOKEN


@pytest.fixture(autouse=True)
def _no_session_client():
    """A token typed into one test's widget must not leak into the next test."""
    use_client(None)
    yield
    use_client(None)


@pytest.fixture
def spaces(client):
    return load_spaces(client)


def _names(options) -> list[str]:
    return [label for label, _ in options]


def _ids(options) -> list[str]:
    return [ident for _, ident in options]


def _text(html_widget) -> str:
    """The visible text of an HTML status line (the widget wraps it in one span)."""
    import re

    return re.sub(r"<[^>]+>", "", html_widget.value).replace("&amp;", "&")


# -- parse_project_ref ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://www.taskade.com/d/Abc123XyZ", "Abc123XyZ"),
        ("https://www.taskade.com/d/Abc123XyZ?view=board#top", "Abc123XyZ"),
        ("https://www.taskade.com/p/Abc123XyZ", "Abc123XyZ"),
        ("https://www.taskade.com/spaces/S1/d/Abc123XyZ/", "Abc123XyZ"),
        ("taskade.com/d/Abc123XyZ", "Abc123XyZ"),
        ("  Abc123XyZ  ", "Abc123XyZ"),
        ("0a1b2c3d-0000-4000-8000-00000000abcd", "0a1b2c3d-0000-4000-8000-00000000abcd"),
        ("https://www.taskade.com/settings/api", None),
        ("https://www.taskade.com/d/", None),
        ("not an id!", None),
        ("", None),
    ],
)
def test_parse_project_ref(text, expected):
    assert parse_project_ref(text) == expected


# -- ProjectPicker ----------------------------------------------------------------------


def test_picker_cascades_space_folder_project(client, spaces):
    picker = ProjectPicker(client)

    assert _ids(picker.space.options) == spaces["id"].tolist()
    first = spaces["id"].iloc[0]
    assert picker.space.value == first  # the first space is chosen at start
    projects = load_projects(first, client)
    assert _names(picker.project.options) == projects["name"].tolist()
    assert picker.project.value is None
    assert picker.folder.options[0] == (ALL_FOLDERS, picker.folder.value)
    assert picker.value == ProjectChoice(first, None, None, None)

    pid = projects["id"].iloc[1]
    picker.project.value = pid

    tasks = load_tasks(pid, client)
    done = int(tasks["completed"].fillna(False).sum())
    assert picker.value == ProjectChoice(first, None, pid, projects["name"].iloc[1])
    assert picker.value.as_dict()["project_id"] == pid
    assert _text(picker.status).startswith(f"{len(tasks)} tasks · {done} done")
    assert picker.tasks()["id"].tolist() == tasks["id"].tolist()


def test_picker_switching_space_reloads_projects_and_clears_the_choice(client, spaces):
    picker = ProjectPicker(client)
    picker.project.value = picker.project.options[0][1]
    second = spaces["id"].iloc[1]

    picker.space.value = second

    assert _names(picker.project.options) == load_projects(second, client)["name"].tolist()
    assert picker.project.value is None
    assert picker.value == ProjectChoice(second, None, None, None)


def test_picker_observers_fire_on_change(client):
    picker = ProjectPicker(client)
    seen, via_on_change = [], []
    picker.observe(lambda change: seen.append(change["new"]), names="value")
    picker.on_change(via_on_change.append)

    pid = picker.project.options[2][1]
    picker.project.value = pid

    assert [c.project_id for c in seen] == [pid]
    assert via_on_change == seen


def test_picker_folder_step_filters_projects(profile_client, profile_emulator):
    """Under every profile: a folder lists its projects, the home folder the rest."""
    ws = profile_emulator.workspace
    picker = ProjectPicker(profile_client, stats=False)
    space_id = picker.space.value
    every_project = list(picker.project.options)
    assert {i for _, i in every_project} == {
        p.id for p in ws.projects.values() if p.space_id == space_id
    }
    assert picker.folder.options[1] == (HOME_FOLDER, space_id)
    space_wide = profile_emulator.scope == "space"  # folder ids refused: all found at home
    for label, folder_id in picker.folder.options[1:]:
        picker.folder.value = folder_id
        if folder_id == space_id:
            wanted = {
                p.id
                for p in ws.projects.values()
                if p.space_id == space_id and (space_wide or p.folder_id is None)
            }
        else:
            wanted = (
                set()
                if space_wide
                else {p.id for p in ws.projects.values() if p.folder_id == folder_id}
            )
        assert {i for _, i in picker.project.options} == wanted, label
        assert picker.value.folder_id == folder_id
    # Going back to "(all folders)" lists every project and clears the folder.
    picker.folder.value = picker.folder.options[0][1]
    assert list(picker.project.options) == every_project
    assert picker.value.folder_id is None


def test_picker_keeps_the_project_when_its_folder_is_chosen(client, emulator):
    ws = emulator.workspace
    picker = ProjectPicker(client, stats=False)
    project = next(
        p for p in ws.projects.values() if p.space_id == picker.space.value and p.folder_id
    )
    picker.project.value = project.id
    picker.folder.value = project.folder_id
    assert picker.value.project_id == project.id
    other = next(
        f
        for f in ws.folders.values()
        if f.space_id == picker.space.value and f.id != project.folder_id
    )
    picker.folder.value = other.id
    assert picker.value.project_id is None
    # A pasted link still finds it, showing every folder again.
    picker.select(f"https://www.taskade.com/d/{project.id}")
    assert picker.value.project_id == project.id
    assert picker.folder.value == picker.folder.options[0][1]


def test_picker_accepts_a_pasted_link_from_another_space(client, spaces):
    picker = ProjectPicker(client)
    other = spaces["id"].iloc[1]
    target = load_projects(other, client).iloc[0]

    picker.link.value = f"https://www.taskade.com/d/{target['id']}?view=list"

    assert picker.space.value == other
    assert picker.project.value == target["id"]
    assert picker.value == ProjectChoice(other, None, target["id"], target["name"])
    assert " tasks · " in _text(picker.status)


def test_picker_accepts_a_bare_id_and_reports_a_bad_one(client, spaces):
    picker = ProjectPicker(client)
    pid = picker.project.options[0][1]

    assert picker.select(pid).project_id == pid
    assert " tasks · " in _text(picker.status)

    assert picker.select("https://www.taskade.com/d/NoSuchProject0") is None
    assert _text(picker.status).startswith("Not found")
    assert picker.value.project_id == pid  # a bad link does not lose the choice

    picker.link.value = "https://www.taskade.com/settings"
    assert _text(picker.status).startswith("Not a Taskade project link or id")


def test_picker_shows_403_as_a_message_not_a_traceback(client, emulator):
    picker = ProjectPicker(client)
    pid = picker.project.options[0][1]
    emulator.forbidden = {pid}

    picker.project.value = pid

    assert _text(picker.status).startswith("No access")
    assert "HTTP 403" in _text(picker.status)
    assert picker.value.project_id == pid


def test_picker_shows_a_failing_space_listing_in_the_widget(client, emulator, spaces):
    emulator.forbidden = {spaces["id"].iloc[0]}

    picker = ProjectPicker(client)

    assert _text(picker.status).startswith("No access")
    assert picker.project.options == ()


def test_picker_without_a_token_asks_for_one_and_keeps_it_in_memory_only(emulator, monkeypatch):
    for name in ("TASKADE_API_TOKEN", "TASKADE_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TASKADE_API_URL", emulator.base_url)

    picker = ProjectPicker()

    prompt = picker.token_prompt
    assert prompt is not None and prompt in picker.children
    assert picker.space.disabled and picker.project.disabled
    assert "emulator" in prompt.hint.value.lower()
    assert _text(picker.status) == "Waiting for an API token."

    prompt.token.value = "wrong-token"
    assert prompt.token.value == ""
    assert _text(prompt.message).startswith("Token refused")
    assert picker.space.options == ()

    prompt.token.value = FAKE_TOKEN
    prompt.connect_button.click()  # the click after Enter must not undo the connection

    assert prompt.token.value == ""  # the field is emptied as soon as it is read
    assert FAKE_TOKEN not in prompt.message.value + picker.status.value
    assert not picker.space.disabled
    assert len(picker.space.options) > 0
    assert prompt.layout.display == "none"
    assert isinstance(session_client(), TaskadeClient)
    assert FAKE_TOKEN not in repr(session_client())
    # Widgets made afterwards reuse the session client instead of asking again.
    assert AgentPrompt().token_prompt is None


# -- AgentPrompt ------------------------------------------------------------------------


def test_agent_prompt_dropdowns_follow_the_space(client, spaces):
    box = AgentPrompt(client)

    first, second = spaces["id"].iloc[0], spaces["id"].iloc[1]
    assert _ids(box.space.options) == spaces["id"].tolist()
    assert box.space.value == first
    assert _names(box.agent.options) == load_agents(first, client)["name"].tolist()
    assert box.agent.value == box.agent.options[0][1]

    box.space.value = second
    assert _ids(box.agent.options) == load_agents(second, client)["id"].tolist()


def test_agent_prompt_sends_and_renders_the_reply_as_markdown(client, emulator):
    box = AgentPrompt(client)
    box.prompt.value = "What is still open on the roadmap?"

    box.send_button.click()
    record = box.wait(timeout=10)

    assert record.error is None and record.ok
    assert "[Emulator canned reply]" in record
    assert "What is still open on the roadmap?" in record
    shown = box.reply.outputs[-1]["data"]["text/markdown"]
    assert record.text in shown
    assert "> What is still open on the roadmap?" in shown
    assert _text(box.status).startswith(f"Reply from {box.agent.label}")
    assert box.prompt.value == "What is still open on the roadmap?"  # kept, to tweak and resend
    assert not box.send_button.disabled and not box.busy
    assert box.last_reply == record
    sent = [r for r in emulator.requests if r["operation"] == "promptAgent"]
    assert sent[-1]["body"]["agentId"] == box.agent.value


def test_agent_prompt_history_frame(client, spaces):
    box = AgentPrompt(client)
    for text in ("first question", "second question"):
        box.prompt.value = text
        box.send_button.click()
        box.wait(timeout=10)

    history = box.history_frame()

    assert list(history.columns) == [
        "time",
        "space",
        "space_id",
        "agent",
        "agent_id",
        "prompt",
        "reply",
        "latency_s",
        "error",
    ]
    assert history["prompt"].tolist() == ["first question", "second question"]
    assert history["agent_id"].tolist() == [box.agent.value] * 2
    assert history["space"].tolist() == [spaces["name"].iloc[0]] * 2
    assert history["error"].isna().all()
    assert (history["latency_s"] >= 0).all()
    assert str(history["time"].dtype) == "datetime64[us, UTC]"
    assert history["time"].is_monotonic_increasing
    pd.testing.assert_frame_equal(box.history, history)
    assert len(box.reply.outputs) == 2


def test_agent_prompt_is_busy_while_the_call_runs(client, emulator):
    box = AgentPrompt(client)
    box.prompt.value = "slow one"
    emulator.latency = 0.4

    box.send_button.click()

    assert box.busy
    assert box.send_button.disabled
    assert _text(box.status).startswith("Sending…")
    assert box.send() is None  # a second send while busy is refused, not queued
    box.space.value = box.space.options[1][1]  # other widgets stay usable meanwhile
    box.wait(timeout=10)
    assert not box.busy and not box.send_button.disabled
    assert emulator.request_count("promptAgent") == 1


def test_agent_prompt_out_of_credits_is_shown_and_the_prompt_kept(client, emulator):
    box = AgentPrompt(client)
    box.prompt.value = "Draft the release notes\nwith two sections"
    emulator.credits = 0

    box.send_button.click()
    record = box.wait(timeout=10)

    assert _text(box.status).startswith("Out of credits:")
    assert "HTTP 402" in _text(box.status)
    assert box.prompt.value == "Draft the release notes\nwith two sections"
    assert box.reply.outputs == ()
    assert record == "" and record.reply is None and record.error.startswith("Out of credits:")
    history = box.history_frame()
    assert history["error"].iloc[0].startswith("Out of credits:")
    assert pd.isna(history["reply"].iloc[0])
    assert not box.send_button.disabled
    assert box.last_reply is None


@pytest.mark.parametrize(
    ("status", "retry_after", "shown"),
    [
        (429, "120", "Rate limited"),  # longer than the client will wait: raised at once
        (503, None, "Taskade server error"),  # promptAgent is a write: never repeated
        (500, None, "Taskade server error"),
    ],
)
def test_agent_prompt_shows_rate_limits_and_server_errors(
    client, emulator, status, retry_after, shown
):
    box = AgentPrompt(client)
    box.prompt.value = "anything"
    emulator.faults.push("status", status=status, retry_after=retry_after, operation="promptAgent")

    box.send_button.click()
    box.wait(timeout=10)

    assert _text(box.status).startswith(shown)
    assert f"HTTP {status}" in _text(box.status)
    assert box.prompt.value == "anything"
    # The next send goes through: a failure does not leave the widget stuck.
    box.send_button.click()
    assert box.wait(timeout=10).error is None


def test_agent_prompt_refuses_an_empty_prompt_without_calling(client, emulator):
    box = AgentPrompt(client)
    box.prompt.value = "   "

    box.send_button.click()

    assert box.last_future is None and box.wait() is None
    assert _text(box.status) == "Type a prompt first."
    assert emulator.request_count("promptAgent") == 0


def test_agent_prompt_in_the_callers_thread(client, spaces):
    second = spaces["id"].iloc[1]
    agent = load_agents(second, client)["id"].iloc[0]
    box = AgentPrompt(client, space_id=second, agent_id=agent, background=False)

    reply = box.send("Plan my week")

    assert isinstance(reply, PromptReply)  # the reply itself, not a Future
    assert reply.agent_id == agent and reply.space_id == second and reply.ok
    assert "Plan my week" in reply
    assert box.wait() is reply
    assert box.space.value == second


def test_importing_the_package_imports_no_notebook_libraries():
    import subprocess
    import sys

    code = (
        "import sys, taskade_frames; taskade_frames.load_tasks; taskade_frames.load_space;"
        "print(sorted(m for m in ('ipywidgets', 'matplotlib', 'IPython') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_new_agent_prompt_can_show_the_sessions_earlier_exchanges(client, spaces):
    from taskade_frames import history, prompt_agent, prompt_history

    history.clear_prompt_history()
    space = spaces["id"].iloc[0]
    agent = load_agents(space, client)["id"].iloc[0]
    earlier = prompt_agent(space, agent, "asked from code", client)
    first = AgentPrompt(client, background=False)
    first.send("asked in a widget")

    fresh = AgentPrompt(client)
    shown = AgentPrompt(client, show_history=True)

    assert fresh.history_frame().empty and fresh.reply.outputs == ()
    assert shown.history_frame()["prompt"].tolist() == ["asked from code", "asked in a widget"]
    assert len(shown.reply.outputs) == 2
    assert earlier.text in shown.reply.outputs[0]["data"]["text/markdown"]
    # The widget's send is in the one session history, labelled with the names it showed.
    session = prompt_history()
    assert session["prompt"].tolist() == ["asked from code", "asked in a widget"]
    assert session["space"].iloc[1] == spaces["name"].iloc[0]
    history.clear_prompt_history()


def test_picker_selects_through_its_own_api_for_notebooks_nobody_clicks(client, spaces):
    picker = ProjectPicker(client, space_id=spaces["id"].iloc[1])
    projects = load_projects(spaces["id"].iloc[1], client)

    first = picker.select_first()

    assert first == ProjectChoice(
        spaces["id"].iloc[1], None, projects["id"].iloc[0], projects["name"].iloc[0]
    )
    assert picker.value == first and " done (" in _text(picker.status)
    assert picker.select_first() == first  # again: the same choice, status refreshed
    other = projects["id"].iloc[-1]
    assert picker.select(other).project_id == other  # an id (or a link) from code
    empty = ProjectPicker(client)
    empty.project.options = []
    assert empty.select_first() is None
    assert _text(empty.status) == "No project to select here."
