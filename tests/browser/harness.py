"""Serve a notebook with Voila and drive it in headless Chromium, as a person would.

The pieces are small and independent so a test can compose them: `start_voila` runs the
notebook in this interpreter's environment on a free loopback port, `launch_chromium`
opens a fresh headless Chromium (through Playwright) that may only talk to loopback, and
`wait_for_text` / `save_screenshot` make failures readable. Every wait is bounded.

Nothing here imports Playwright at module level, so collecting the tests works (and
skips cleanly) on a machine without the browser tools; see `require_browser_tools`.
"""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page, Playwright, Route

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS_DIR = REPO_ROOT / "test-artifacts"

#: Debian's package puts the browser here; set TASKADE_FRAMES_CHROMIUM to use another.
DEFAULT_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ENV = "TASKADE_FRAMES_CHROMIUM"
#: Set to "1" (CI does) to turn "browser tools missing" from a skip into a failure.
REQUIRE_ENV = "TASKADE_FRAMES_REQUIRE_BROWSER"

#: Voila executes the whole notebook before it sends the page, so this covers kernel start.
VOILA_START_TIMEOUT = 60.0
#: One person-sized step: a click and the kernel's answer.
INTERACTION_TIMEOUT = 20.0

CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    # Chromium still looks up Google hosts in the background (sign-in, updates, autofill)
    # despite the flags above; resolve no name at all, so nothing leaves the machine. The
    # harness only ever browses to 127.0.0.1, which needs no lookup.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
)

#: Requests the page may make to the outside that we knowingly refuse. Voila's `lab`
#: template links Font Awesome from a CDN although the same CSS and fonts are bundled in
#: its own static files, so refusing them changes nothing on screen.
KNOWN_REFUSED_URL_PREFIXES = ("https://cdn.jsdelivr.net/npm/@fortawesome/fontawesome-free@",)

_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}

# Installed in every page before its own scripts: keeps the page's JavaScript errors
# (console.error, uncaught errors, unhandled rejections) where `page_errors` can read
# them, so a widget that failed to render says why in the failure message.
_ERROR_RECORDER = """
(() => {
  if (window.__harnessErrors) return;
  const errors = [];
  Object.defineProperty(window, "__harnessErrors", { value: errors });
  const consoleError = console.error.bind(console);
  console.error = (...args) => {
    errors.push(args.map(String).join(" "));
    consoleError(...args);
  };
  window.addEventListener("error", (event) => errors.push(String(event.message || event)));
  window.addEventListener("unhandledrejection", (event) =>
    errors.push("unhandled rejection: " + String(event.reason)));
})();
"""


def chromium_path() -> str:
    """The Chromium binary the harness launches."""
    return os.environ.get(CHROMIUM_ENV) or DEFAULT_CHROMIUM


def missing_browser_tools() -> list[str]:
    """Name each piece the browser tests need that this machine lacks (empty when ready)."""
    missing = []
    browser = chromium_path()
    if not (os.path.isfile(browser) and os.access(browser, os.X_OK)):
        missing.append(f"Chromium at {browser} (apt-get install chromium)")
    for package in ("playwright", "voila", "ipykernel"):
        if importlib.util.find_spec(package) is None:
            missing.append(f"Python package {package!r} (pip install {package})")
    return missing


def require_browser_tools() -> None:
    """Skip the calling test when a browser tool is missing, or fail when CI requires them.

    Raises:
        pytest.skip.Exception: a piece is missing and TASKADE_FRAMES_REQUIRE_BROWSER != "1".
        pytest.fail.Exception: a piece is missing and TASKADE_FRAMES_REQUIRE_BROWSER == "1".
    """
    missing = missing_browser_tools()
    if not missing:
        return
    reason = "browser test needs: " + "; ".join(missing)
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1 makes this a failure)", pytrace=False)
    pytest.skip(reason)


def artifact_path(name: str, suffix: str) -> Path:
    """test-artifacts/<name><suffix>, with `name` made safe for a file name (e.g. a test id).

    >>> artifact_path("test_x[a/b]", ".png").name
    'test_x_a_b_.png'
    """
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return ARTIFACTS_DIR / f"{safe}{suffix}"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago.

    >>> 1024 <= free_port() <= 65535
    True
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class VoilaServer:
    """A running Voila process serving one notebook at `url`."""

    process: subprocess.Popen[bytes]
    url: str
    log_path: Path
    _log: IO[bytes] = field(repr=False)
    _scratch: Path = field(repr=False)
    _stopped: bool = field(default=False, repr=False)

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the server's (and kernel's) output, for failure messages."""
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return text[-chars:]


def _voila_environment(extra: Mapping[str, str] | None, scratch: Path) -> dict[str, str]:
    """Environment for the server and its kernel: ours, made hermetic, then `extra` on top."""
    # Pin the `python3` kernel to this interpreter: a kernelspec found elsewhere on
    # JUPYTER_PATH (a user's ~/.local, a system one) could point at another Python.
    kernel_dir = scratch / "data" / "kernels" / "python3"
    kernel_dir.mkdir(parents=True)
    kernel = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (browser tests)",
        "language": "python",
    }
    (kernel_dir / "kernel.json").write_text(json.dumps(kernel), encoding="utf-8")
    env = dict(os.environ)
    env.update(
        {
            "JUPYTER_PATH": os.pathsep.join(
                p for p in (str(scratch / "data"), env.get("JUPYTER_PATH", "")) if p
            ),
            # A developer's own Jupyter/IPython config must not change what the test sees.
            "JUPYTER_CONFIG_DIR": str(scratch / "config"),
            "JUPYTER_RUNTIME_DIR": str(scratch / "runtime"),
            "IPYTHONDIR": str(scratch / "ipython"),
            "JUPYTER_PLATFORM_DIRS": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if extra:
        env.update(extra)
    # The kernel starts in the notebook's folder; the working tree's package must win
    # over nothing (not installed) or over an older installed copy.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def _serves_voila(url: str) -> bool:
    """Whether Voila answers at `url`: its front-end script loads, and no kernel starts.

    A bare port check is not enough: another process may hold the port we picked.
    """
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # ignore *_proxy
    try:
        with direct.open(url + "voila/static/voila.js", timeout=2.0) as response:
            return bool(response.status == 200)
    except (OSError, http.client.HTTPException):  # URLError is an OSError
        return False


def start_voila(
    notebook: str | os.PathLike[str],
    env: Mapping[str, str] | None = None,
    *,
    timeout: float = VOILA_START_TIMEOUT,
    log_path: str | os.PathLike[str] | None = None,
) -> VoilaServer:
    """Serve `notebook` with Voila on a free 127.0.0.1 port and wait until it answers.

    The server runs `python -m voila` from this interpreter, so its kernel imports what
    this environment has (and the working tree's `taskade_frames`). It opens no browser.

    Args:
        notebook: the .ipynb to serve at the server's root URL.
        env: variables added to (or overriding) the current environment for the server
            and its kernel, e.g. the emulator's URL for the real notebook.
        timeout: seconds to wait for the server to answer (not for the kernel: Voila
            starts that when the page is requested).
        log_path: where the server's output goes; default test-artifacts/voila-<port>.log.

    Returns:
        The running server; pass it to `stop_voila` (or use `serve_voila`).

    Raises:
        RuntimeError: the server exited or did not answer within `timeout`; the message
            carries the end of its log.

    >>> server = start_voila("tests/browser/standin.ipynb")  # doctest: +SKIP
    >>> server.url  # doctest: +SKIP
    'http://127.0.0.1:40123/'
    """
    notebook = Path(notebook).resolve()
    if not notebook.is_file():
        raise FileNotFoundError(notebook)
    port = free_port()
    log_file = Path(log_path) if log_path else artifact_path(f"voila-{port}", ".log")
    scratch = Path(tempfile.mkdtemp(prefix="taskade-frames-voila-"))
    command = [
        sys.executable,
        "-m",
        "voila",
        str(notebook),
        "--no-browser",
        f"--port={port}",
        # Fail loudly instead of silently moving to another port if ours was taken.
        "--Voila.port_retries=0",
        "--Voila.ip=127.0.0.1",
        "--show_tracebacks=True",
    ]
    log = log_file.open("wb")
    process = subprocess.Popen(
        command,
        cwd=notebook.parent,
        env=_voila_environment(env, scratch),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = VoilaServer(process, f"http://127.0.0.1:{port}/", log_file, log, scratch)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            stop_voila(server)
            raise RuntimeError(
                f"voila exited with code {process.returncode} before answering on "
                f"port {port}; log:\n{server.log_tail()}"
            )
        if _serves_voila(server.url):
            return server
        if time.monotonic() > deadline:
            stop_voila(server)
            raise RuntimeError(
                f"voila did not answer on port {port} within {timeout:.0f} s; log:\n"
                f"{server.log_tail()}"
            )
        time.sleep(0.1)  # poll interval of a bounded wait, not a wait for an effect


def stop_voila(server: VoilaServer, timeout: float = 10.0) -> None:
    """Stop the server and its kernels, politely first, then by force; idempotent.

    Kernels run in their own sessions, so they are found as the server's descendants
    before it goes and any that outlive Voila's own shutdown are killed by pid.
    """
    import psutil  # a dependency of ipykernel; imported here so collection needs nothing

    if server._stopped:
        return
    server._stopped = True
    process = server.process
    try:
        descendants = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        descendants = []
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # Voila shuts its kernels down on SIGTERM
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)
    _, alive = psutil.wait_procs(descendants, timeout=timeout)
    for child in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()
    psutil.wait_procs(alive, timeout=timeout)
    server._log.close()
    shutil.rmtree(server._scratch, ignore_errors=True)


@contextlib.contextmanager
def serve_voila(
    notebook: str | os.PathLike[str],
    env: Mapping[str, str] | None = None,
    *,
    timeout: float = VOILA_START_TIMEOUT,
    log_path: str | os.PathLike[str] | None = None,
) -> Iterator[VoilaServer]:
    """`start_voila` as a context manager that always stops the server."""
    server = start_voila(notebook, env, timeout=timeout, log_path=log_path)
    try:
        yield server
    finally:
        stop_voila(server)


@dataclass
class BrowserSession:
    """A headless Chromium with one page. Requests off loopback are refused and recorded."""

    context: BrowserContext
    page: Page
    refused_urls: list[str] = field(default_factory=list)

    def unexpected_requests(self) -> list[str]:
        """Refused off-machine URLs other than the known, harmless ones."""
        return [u for u in self.refused_urls if not u.startswith(KNOWN_REFUSED_URL_PREFIXES)]


def _is_loopback(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    host = parts.hostname or ""
    return host in _LOOPBACK_HOSTS or host.startswith("127.")


@contextlib.contextmanager
def launch_chromium(
    playwright: Playwright,
    *,
    timeout: float = INTERACTION_TIMEOUT,
    viewport: tuple[int, int] = (1280, 800),
) -> Iterator[BrowserSession]:
    """Open headless Chromium with a fresh profile; close it and remove the profile after.

    Args:
        playwright: from `playwright.sync_api.sync_playwright()`.
        timeout: default bound, in seconds, for every Playwright action on the page.
        viewport: page size in CSS pixels (also the screenshot width).

    >>> from playwright.sync_api import sync_playwright  # doctest: +SKIP
    >>> with sync_playwright() as pw, launch_chromium(pw) as browser:  # doctest: +SKIP
    ...     browser.page.goto(server.url)
    """
    profile = tempfile.mkdtemp(prefix="taskade-frames-chromium-")
    refused: list[str] = []

    def loopback_only(route: Route) -> None:
        if _is_loopback(route.request.url):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort("blockedbyclient")

    try:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=chromium_path(),
            headless=True,
            args=list(CHROMIUM_ARGS),
            viewport={"width": viewport[0], "height": viewport[1]},
        )
        try:
            context.set_default_timeout(timeout * 1000)
            context.add_init_script(_ERROR_RECORDER)
            context.route("**/*", loopback_only)
            page = context.pages[0] if context.pages else context.new_page()
            yield BrowserSession(context, page, refused)
        finally:
            context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def visible_text(page: Page) -> str:
    """The text a person sees on the page (the body's innerText)."""
    try:
        return str(page.evaluate("() => document.body ? document.body.innerText : ''"))
    except Exception as error:  # the page may be gone; the message must still be useful
        return f"<could not read the page: {error}>"


def page_errors(page: Page) -> list[str]:
    """JavaScript errors the page has reported so far (empty if it cannot be read)."""
    try:
        return [str(e) for e in page.evaluate("() => window.__harnessErrors || []")]
    except Exception:
        return []


def wait_for_text(page: Page, text: str, timeout: float = INTERACTION_TIMEOUT) -> None:
    """Wait until the page's visible text contains `text`.

    Args:
        page: the page to watch.
        text: substring to find in the body's innerText (what a person can read).
        timeout: seconds before giving up.

    Raises:
        AssertionError: `text` did not appear in time; the message holds the page's
            visible text at that moment and its latest JavaScript errors.

    >>> wait_for_text(browser.page, "Reply: hello")  # doctest: +SKIP
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    try:
        page.wait_for_function(
            "needle => document.body !== null && document.body.innerText.includes(needle)",
            arg=text,
            timeout=timeout * 1000,
            polling=100,
        )
    except PlaywrightTimeoutError:
        message = (
            f"{text!r} not visible within {timeout:g} s; the page shows:\n"
            f"---\n{visible_text(page)}\n---"
        )
        errors = page_errors(page)
        if errors:
            shown = "\n".join(e[:500] for e in errors[-10:])
            message += f"\nJavaScript errors (last {min(len(errors), 10)}):\n{shown}"
        raise AssertionError(message) from None


def save_screenshot(page: Page, name: str) -> Path | None:
    """Save a full-page PNG as test-artifacts/<name>.png; None if the page is unusable."""
    path = artifact_path(name, ".png")
    try:
        page.screenshot(path=str(path), full_page=True, timeout=INTERACTION_TIMEOUT * 1000)
    except Exception:  # a screenshot must never hide the failure that asked for it
        return None
    return path
