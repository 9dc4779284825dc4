"""Fixtures for the browser tests: a Playwright session, a fresh Chromium, served notebooks.

Teardown order matters for a useful screenshot: `chromium` depends on `_voila_servers`, so
the page is photographed while its kernel is still alive, and servers stop afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING

import pytest

from .harness import (
    BrowserSession,
    VoilaServer,
    artifact_path,
    launch_chromium,
    require_browser_tools,
    save_screenshot,
    start_voila,
    stop_voila,
)

if TYPE_CHECKING:
    from playwright.sync_api import Playwright


@pytest.fixture(scope="session")
def browser_tools() -> None:
    """Skip (or, with TASKADE_FRAMES_REQUIRE_BROWSER=1, fail) without Chromium/Playwright/Voila."""
    require_browser_tools()


@pytest.fixture(scope="session")
def playwright_driver(browser_tools: None) -> Iterator[Playwright]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


@pytest.fixture
def _voila_servers() -> Iterator[list[VoilaServer]]:
    servers: list[VoilaServer] = []
    yield servers
    for server in servers:
        stop_voila(server)


@pytest.fixture
def chromium(
    playwright_driver: Playwright, _voila_servers: list[VoilaServer], request: pytest.FixtureRequest
) -> Iterator[BrowserSession]:
    """A fresh headless Chromium page; test-artifacts/<test name>.png is saved at teardown,
    whether the test passed or failed."""
    with launch_chromium(playwright_driver) as session:
        try:
            yield session
        finally:
            save_screenshot(session.page, request.node.name)


@pytest.fixture
def serve_notebook(
    browser_tools: None, _voila_servers: list[VoilaServer], request: pytest.FixtureRequest
) -> Callable[..., VoilaServer]:
    """Factory: `serve_notebook(path, env=None)` starts Voila; it is stopped after the test.

    The server log goes to test-artifacts/<test name>-voila.log.
    """

    def serve(
        notebook: str | os.PathLike[str], env: Mapping[str, str] | None = None
    ) -> VoilaServer:
        index = len(_voila_servers)
        suffix = f"-{index}" if index else ""
        log_path = artifact_path(f"{request.node.name}-voila{suffix}", ".log")
        server = start_voila(notebook, env, log_path=log_path)
        _voila_servers.append(server)
        return server

    return serve
