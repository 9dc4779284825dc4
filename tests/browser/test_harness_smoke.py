"""Drive the stand-in notebook through Voila in headless Chromium, as a person would.

It proves the harness end to end: a kernel from this environment (which can find
`taskade_frames`), the environment reaching it, ipywidgets rendered offline, and a
Dropdown / Textarea / Button round trip through the kernel.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from .harness import (
    VOILA_START_TIMEOUT,
    BrowserSession,
    VoilaServer,
    page_errors,
    visible_text,
    wait_for_text,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

STANDIN = Path(__file__).with_name("standin.ipynb")


def test_standin_prompt_round_trip(
    serve_notebook: Callable[..., VoilaServer], chromium: BrowserSession
) -> None:
    server = serve_notebook(STANDIN, env={"STANDIN_SPACES": "Roadmap,Support desk"})
    page = chromium.page

    # Voila runs the whole notebook while it streams the page: one bounded wait covers the
    # kernel start, and the widget's own text appears only once ipywidgets has rendered.
    page.goto(server.url, wait_until="commit", timeout=VOILA_START_TIMEOUT * 1000)
    wait_for_text(page, "taskade_frames importable: yes", timeout=VOILA_START_TIMEOUT)

    # ipywidgets 8 renders a Dropdown as a native <select> labelled by its description.
    page.get_by_label("Space").select_option("Support desk")
    page.get_by_label("Prompt").fill("hello agent")
    page.get_by_role("button", name="Send").click()
    wait_for_text(page, "Reply: hello agent (Support desk)")

    page.get_by_label("Space").select_option("Roadmap")
    page.get_by_label("Prompt").fill("and again")
    page.get_by_role("button", name="Send").click()
    wait_for_text(page, "Reply: and again (Roadmap)")

    shown = visible_text(page)
    assert shown.index("Reply: hello agent") < shown.index("Reply: and again"), shown
    assert page_errors(page) == []
    assert chromium.unexpected_requests() == [], "the page tried to leave the machine"
