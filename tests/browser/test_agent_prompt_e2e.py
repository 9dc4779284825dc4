"""A person uses the agent prompt and the project picker in the shipped notebooks.

Voila serves `notebooks/03_prompt_agents.ipynb` and `notebooks/01_task_completion.ipynb`
as they are, with no Taskade token in their environment, so each starts its own emulator.
In headless Chromium the test picks a space and an agent, types a prompt, presses Send and
reads the emulator's canned reply; then it picks a project in the picker and reads its
task count. What to expect comes from the sample workspace in this process, never from
the page.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import pytest

from taskade_frames import TaskadeClient
from taskade_frames.loaders import prompt_agent

from .harness import (
    INTERACTION_TIMEOUT,
    REPO_ROOT,
    BrowserSession,
    VoilaServer,
    page_errors,
    save_screenshot,
    visible_text,
    wait_for_text,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [pytest.mark.browser, pytest.mark.slow]

AGENT_NOTEBOOK = REPO_ROOT / "notebooks" / "03_prompt_agents.ipynb"
PICKER_NOTEBOOK = REPO_ROOT / "notebooks" / "01_task_completion.ipynb"
SAMPLE = REPO_ROOT / "data_samples" / "workspace.json"

#: Any of these would send a notebook to Taskade, or to a space of the caller's choosing,
#: instead of its own emulator's first space.
TASKADE_ENV = ("TASKADE_API_TOKEN", "TASKADE_TOKEN", "TASKADE_API_URL", "TASKADE_SPACE_ID")

#: Voila shows a notebook's widgets only once every cell has run; the completion notebook
#: loads a 1,000-task space and draws three figures, while the agent notebook runs beside it.
NOTEBOOK_TIMEOUT = 150.0

AGENT_SPACE, AGENT = "Acme Product", "Marketing Copywriter"
DETOUR_SPACE = "Personal"  # visited first, so choosing AGENT_SPACE is a real change
PROMPT = "Which customer quotes should the new homepage use?"
PICKER_SPACE, PROJECT = "Personal", "Kitchen Renovation"

# The options of the <select> whose <label> reads `label`, and whether one is chosen.
# ipywidgets 8 gives each option the label as its value (its text uses no-break spaces).
_DROPDOWN_STATE = """
label => {
  const tag = [...document.querySelectorAll("label")].find(l => l.textContent === label);
  const select = tag && document.getElementById(tag.htmlFor);
  if (!select || select.tagName !== "SELECT") return null;
  return {options: [...select.options].map(o => o.value), chosen: select.selectedIndex >= 0};
}
"""


def _page_report(page: Page) -> str:
    report = f"the page shows:\n---\n{visible_text(page)}\n---"
    errors = page_errors(page)
    if errors:
        report += "\nJavaScript errors:\n" + "\n".join(e[:500] for e in errors[-10:])
    return report


def wait_for_options(
    page: Page,
    label: str,
    options: Iterable[str],
    *,
    chosen: bool,
    timeout: float = INTERACTION_TIMEOUT,
) -> None:
    """Wait until dropdown `label` offers exactly `options` (any order), with one chosen or not.

    A new space reaches a dropdown as several kernel messages (options emptied, refilled,
    then a default chosen); acting before the last one lands could be undone by it.

    Raises:
        AssertionError: not so within `timeout`; says what the dropdown offered and what
            the page shows.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    want = sorted(options)
    try:
        page.wait_for_function(
            f"""([label, want, chosen]) => {{
              const state = ({_DROPDOWN_STATE})(label);
              return state !== null && state.chosen === chosen &&
                state.options.length === want.length &&
                want.every(option => state.options.includes(option));
            }}""",
            arg=[label, want, chosen],
            timeout=timeout * 1000,
            polling=100,
        )
    except PlaywrightTimeoutError:
        state = page.evaluate(_DROPDOWN_STATE, label)
        raise AssertionError(
            f"dropdown {label!r} did not come to offer {want} with "
            f"{'an' if chosen else 'no'} option chosen within {timeout:g} s; it has {state}; "
            f"{_page_report(page)}"
        ) from None


def bring_widget_into_view(page: Page, label: str) -> None:
    """Scroll the widget holding field `label` to the top of the window.

    Voila scrolls an inner panel, not the document, so a "full page" screenshot shows
    only the window; this puts the widget in the picture. Best effort: it runs before a
    screenshot that may record a failure, which it must not hide.
    """
    with contextlib.suppress(Exception):
        page.get_by_label(label, exact=True).evaluate(
            """el => {
              const widget = el.closest(".widget-vbox") || el;
              widget.style.scrollMarginTop = "4em";  // keep a line of context above it
              widget.scrollIntoView({block: "start"});
            }""",
            timeout=2000,
        )


def wait_until_ready(page: Page, space_names: Iterable[str]) -> None:
    """The notebook ran against a loopback API (its emulator) and its widget is drawn."""
    wait_for_text(page, "API: 127.0.0.1:", timeout=NOTEBOOK_TIMEOUT)
    wait_for_options(page, "Space", space_names, chosen=True)


def _by_name(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in items}


def _names_in(items: list[dict[str, Any]], space: dict[str, Any]) -> list[str]:
    return [item["name"] for item in items if item["space_id"] == space["id"]]


def _first_assignees(projects: list[dict[str, Any]], space: dict[str, Any]) -> set[str]:
    """Display names assigned to the first ten tasks of any project of `space`: the
    notebook's task table shows one of these projects, whichever it picks first."""
    names = set()
    for project in projects:
        if project["space_id"] != space["id"]:
            continue
        people = {m["handle"]: m.get("displayName", m["handle"]) for m in project["members"]}
        for task in project["tasks"][:10]:
            details = project.get("details", {}).get(task["id"], {})
            names.update(people.get(h, h) for h in details.get("assignees", []))
    return names


def test_prompt_an_agent_then_pick_a_project(
    serve_notebook: Callable[..., VoilaServer],
    chromium: BrowserSession,
    client: TaskadeClient,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    sample = json.loads(SAMPLE.read_text(encoding="utf-8"))
    spaces, agents = _by_name(sample["spaces"]), _by_name(sample["agents"])
    agent_space, detour_space = spaces[AGENT_SPACE], spaces[DETOUR_SPACE]
    picker_space = spaces[PICKER_SPACE]
    # The emulator's reply is canned: ask the one in this process the same question. Its
    # first sentences name the agent, echo the prompt and count open tasks; the "Next up"
    # tail quotes task texts, which Markdown may restyle, so it is left out.
    reply = prompt_agent(agent_space["id"], agents[AGENT]["id"], PROMPT, client)
    expected_reply = reply.split(" Next up:")[0]
    assert PROMPT in expected_reply and AGENT in expected_reply, reply
    tasks = _by_name(sample["projects"])[PROJECT]["tasks"]
    n, done = len(tasks), sum(1 for task in tasks if task["completed"])
    expected_status = f"{n} tasks · {done} done ({done / n:.0%})"

    for name in TASKADE_ENV:  # Voila and its kernels inherit this process's environment
        monkeypatch.delenv(name, raising=False)
    agent_server = serve_notebook(AGENT_NOTEBOOK)
    picker_server = serve_notebook(PICKER_NOTEBOOK)
    agent_page = chromium.context.new_page()
    picker_page = chromium.page  # the fixture photographs this one last: the final state
    # Voila runs a notebook when its page is asked for: ask for both, so they run side by side.
    for page, server in ((agent_page, agent_server), (picker_page, picker_server)):
        page.goto(server.url, wait_until="commit", timeout=NOTEBOOK_TIMEOUT * 1000)

    # -- the agent prompt ------------------------------------------------------------------
    page = agent_page
    try:
        wait_until_ready(page, spaces)
        assert expected_reply not in visible_text(page)
        space, agent = page.get_by_label("Space", exact=True), page.get_by_label("Agent")
        space.select_option(DETOUR_SPACE)
        wait_for_options(page, "Agent", _names_in(sample["agents"], detour_space), chosen=True)
        space.select_option(AGENT_SPACE)
        wait_for_options(page, "Agent", _names_in(sample["agents"], agent_space), chosen=True)
        agent.select_option(AGENT)
        page.get_by_label("Prompt").fill(PROMPT)
        page.get_by_role("button", name="Send").click()
        wait_for_text(page, expected_reply)
        wait_for_text(page, f"Reply from {AGENT} in ")
    finally:
        bring_widget_into_view(page, "Agent")
        save_screenshot(page, f"{request.node.name}-agent")

    # -- the project picker ----------------------------------------------------------------
    page = picker_page
    wait_until_ready(page, spaces)
    assert expected_status not in visible_text(page)
    # The task table of the project chosen on the way through shows who owns each task.
    shown = visible_text(page)
    owners = _first_assignees(sample["projects"], spaces[AGENT_SPACE])
    assert "assignees" in shown and any(name in shown for name in owners), _page_report(page)
    page.get_by_label("Space", exact=True).select_option(PICKER_SPACE)
    wait_for_options(page, "Project", _names_in(sample["projects"], picker_space), chosen=False)
    page.get_by_label("Project").select_option(PROJECT)
    wait_for_text(page, expected_status)
    bring_widget_into_view(page, "Project")

    for page in (agent_page, picker_page):
        assert page_errors(page) == [], _page_report(page)
    assert chromium.unexpected_requests() == [], "the page tried to leave the machine"
