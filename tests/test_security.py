"""Token hygiene: a recognisable fake token never shows up anywhere, and never leaves the host.

``SECRET`` looks like a real personal token. It is put where users put theirs
(``TASKADE_API_TOKEN``) and an emulator is started that accepts it; then the
demo, the CLI export, failing calls of every kind and a notebook are run, and
every stdout/stderr, log record (DEBUG), exception text, written file, parquet
metadata and notebook output is searched for the token and for pieces of it.
The other half: redirects to another host are not followed (the second host
receives nothing), proxies from the environment are ignored, and plain http off
this machine is refused before anything is sent.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import nbformat
import pyarrow.parquet as pq
import pytest

from taskade_frames import (
    AuthenticationError,
    ConfigurationError,
    InvalidResponseError,
    TaskadeClient,
    TaskadeError,
)
from taskade_frames._http import Hooks, RetryPolicy
from taskade_frames._notebook import describe_error
from taskade_frames.cli import build_parser, main
from taskade_frames.emulator import Emulator
from taskade_frames.loaders import load_tasks
from taskade_frames.space import load_space

SECRET = "tskfake-" + "Zq7Rk2Wm9Xv4Tn8Lp3Hc6Jd1"
# The token, its random part, and its tail: a truncated copy is a leak too.
NEEDLES = (SECRET, SECRET[len("tskfake-") :], SECRET[-12:])
NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "01_task_completion.ipynb"


def leaks(*texts: str | bytes) -> list[str]:
    """Every needle found in any of ``texts`` (empty when clean)."""
    found = []
    for text in texts:
        raw = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
        found += [n for n in NEEDLES if n.encode() in raw]
    return found


def log_texts(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [f"{r.name} {r.levelname} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records]


def file_texts(root: Path) -> Iterator[tuple[str, bytes]]:
    """Every file under ``root`` as bytes; for parquet also its metadata and values, decoded."""
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        yield str(path), path.read_bytes()
        if path.suffix == ".parquet":
            f = pq.ParquetFile(path)
            meta = f.metadata.metadata or {}
            schema_meta = f.schema_arrow.metadata or {}
            yield f"{path} metadata", repr(sorted({**meta, **schema_meta}.items())).encode()
            yield f"{path} values", repr(f.read().to_pylist()).encode("utf-8", "surrogatepass")


# -- servers ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def secret_server():
    with Emulator(token=SECRET) as emu:
        yield emu


@pytest.fixture
def server(secret_server):
    secret_server.reset(workspace=True)
    yield secret_server
    assert not secret_server.errors, secret_server.errors


@pytest.fixture
def secret_env(server, monkeypatch):
    """The environment of a user with a real token, pointed at the emulator."""
    monkeypatch.setenv("TASKADE_API_TOKEN", SECRET)
    monkeypatch.setenv("TASKADE_API_URL", server.base_url)
    monkeypatch.delenv("TASKADE_TOKEN", raising=False)
    return server


class Recorder:
    """A loopback HTTP server that records every request and answers with ``reply``.

    ``reply(handler)`` returns ``(status, headers, body)``; it sees the request's
    headers, so it can echo them back the way a careless proxy would.
    """

    def __init__(
        self, host: str, reply: Callable[[BaseHTTPRequestHandler], tuple[int, dict, bytes]]
    ):
        self.requests: list[dict] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):  # keep test output clean
                pass

            def _any(self):
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                recorder.requests.append(
                    {"method": self.command, "path": self.path, "headers": dict(self.headers)}
                )
                status, headers, body = reply(self)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_CONNECT = _any

        self._server = ThreadingHTTPServer((host, 0), Handler)
        self._server.daemon_threads = True
        self.host, self.port = host, self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> Recorder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _json_reply(status: int, payload: dict) -> tuple[int, dict, bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(payload).encode()


# -- the demo, the CLI export, a notebook ---------------------------------------------------


def test_the_demo_never_shows_the_token(secret_env, capsys, caplog):
    caplog.set_level(logging.DEBUG)

    code = main(["demo", "--quiet"])

    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"demo against {secret_env.host}:{secret_env.port}" in out  # our emulator, so
    assert secret_env.request_count() > 10  # the token was in every one of these requests
    assert leaks(out, err, *log_texts(caplog)) == []


def test_the_cli_export_never_writes_the_token(secret_env, tmp_path, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    out_dir = tmp_path / "export"

    code = main(["export", "--all", "--out", str(out_dir), "--quiet"])

    out, err = capsys.readouterr()
    assert code == 0, err
    files = list(file_texts(out_dir))
    assert any(name.endswith("metadata") for name, _ in files)  # parquet was written
    assert leaks(out, err, *log_texts(caplog)) == []
    assert [name for name, data in files if leaks(data)] == []


def test_the_cli_export_in_a_process_with_debug_logging(secret_env, tmp_path):
    out_dir = tmp_path / "export"
    program = (
        "import logging, sys; logging.basicConfig(level=logging.DEBUG); "
        "from taskade_frames.cli import main; sys.exit(main(sys.argv[1:]))"
    )

    proc = subprocess.run(
        [sys.executable, "-c", program, "export", "--all", "--out", str(out_dir)],
        capture_output=True,
        timeout=120,
        env=dict(os.environ),
    )

    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    assert b"DEBUG" in proc.stderr  # the logging really was on
    assert leaks(proc.stdout, proc.stderr) == []
    assert [name for name, data in file_texts(out_dir) if leaks(data)] == []


@pytest.mark.slow
def test_a_notebook_with_the_token_in_the_environment(secret_env, tmp_path, monkeypatch):
    """Notebook 01 run with the token set, plus a cell that 'types' it into the widget."""
    from nbclient import NotebookClient

    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    monkeypatch.delenv("PYTHONWARNINGS", raising=False)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nb.cells.append(
        nbformat.v4.new_code_cell(
            "import os\n"
            "from taskade_frames.widgets import TokenPrompt\n"
            "prompt = TokenPrompt()\n"
            "prompt.token.value = os.environ['TASKADE_API_TOKEN']  # as if pasted\n"
            "assert prompt.client is not None and prompt.token.value == ''\n"
            "prompt"
        )
    )

    NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        store_widget_state=True,
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute(env=dict(os.environ))

    text = nbformat.writes(nb)
    assert "image/png" in text and '"output_type": "error"' not in text
    assert f"API: {secret_env.host}:{secret_env.port}" in text
    assert leaks(text) == []
    assert [name for name, data in file_texts(tmp_path) if leaks(data)] == []


# -- failing calls ----------------------------------------------------------------------------


def rendered(fail: Callable[[], object]) -> list[str]:
    """Every way a user may see the error ``fail()`` raises: message, repr, attributes,
    the printed traceback with its causes, and the widgets' one-line description."""
    try:
        fail()
    except TaskadeError as exc:
        attrs = {k: v for k, v in vars(exc).items() if not k.startswith("__")}
        return [
            str(exc),
            repr(exc),
            repr(attrs),
            describe_error(exc),
            "".join(traceback.format_exception(exc)),
        ]
    raise AssertionError("the call did not fail")


@pytest.fixture
def secret_client(server):
    c = TaskadeClient(
        SECRET,
        base_url=server.base_url,
        _hooks=Hooks(sleep=lambda s: None),
        timeout=0.5,
        retry=RetryPolicy(max_retries=1, max_rate_limit_retries=1),
    )
    yield c
    c.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_failing_calls_never_show_the_token(server, secret_client, caplog, emulator):
    caplog.set_level(logging.DEBUG)
    c = secret_client
    project = next(iter(server.workspace.projects))
    space = next(iter(server.workspace.spaces))
    agent = next(iter(server.workspace.agents))
    texts: list[str] = []

    server.faults.push("status", count=2, status=503)
    texts += rendered(lambda: c.call("listSpaces"))
    server.faults.push("status", status=429, retry_after="99999")
    texts += rendered(lambda: c.call("listSpaces"))
    server.faults.push("html", count=2)
    texts += rendered(lambda: c.call("listSpaces"))
    server.faults.push("truncated", count=2)
    texts += rendered(lambda: c.call("listSpaces"))
    server.faults.push("reset", count=2)
    texts += rendered(lambda: c.call("listSpaces"))
    server.faults.push("ok_false")
    texts += rendered(lambda: c.call("listSpaces"))
    server.faults.push("delay", count=2, seconds=2.0)
    texts += rendered(lambda: c.call("listSpaces"))
    # A server that echoes the token in its error message is redacted.
    server.faults.push("status", status=400, message=f"bad header: Bearer {SECRET}")
    texts += rendered(lambda: c.call("listSpaces"))
    server.forbidden = {project}
    texts += rendered(lambda: load_tasks(project, c))
    server.forbidden = set()
    server.credits = 0
    texts += rendered(lambda: c.call("promptAgent", spaceId=space, agentId=agent, prompt="hi"))
    texts += rendered(lambda: c.call("getProject", projectId="no-such-project"))
    server.faults.push("status", count=4, status=503, operation="listTasks")
    frames = load_space(space, c, progress=False, max_workers=1)
    assert len(frames.errors)
    texts.append(frames.errors.to_string())
    # The wrong server for this token, one that is not listening, a bad URL.
    with TaskadeClient(SECRET, base_url=emulator.base_url) as wrong:
        texts += rendered(lambda: wrong.call("listSpaces"))
    with TaskadeClient(
        SECRET,
        base_url=f"http://127.0.0.1:{_closed_port()}/api/v2",
        _hooks=Hooks(sleep=lambda s: None),
    ) as nowhere:
        texts += rendered(lambda: nowhere.call("listSpaces"))
    texts += rendered(lambda: TaskadeClient(SECRET, base_url="http://api.example.com/v2"))
    texts += rendered(lambda: TaskadeClient(SECRET + " \n"))
    texts += [repr(c), str(c), repr(c.stats), repr(c._transport)]

    assert len(texts) > 60
    assert leaks(*texts, *log_texts(caplog)) == []


@pytest.mark.parametrize(
    ("status", "content_type", "body"),
    [
        pytest.param(
            401,
            "application/json",
            '{{"ok": false, "code": "unauthorized", "message": "{h}"}}',
            id="401-message",
        ),
        pytest.param(
            401,
            "application/json",
            '{{"ok": false, "code": "unauthorized", "message": "no", "statusMessage": "{h}"}}',
            id="401-statusMessage",
        ),
        pytest.param(
            200,
            "application/json",
            '{{"ok": false, "code": "{h}", "message": "no"}}',
            id="ok-false-code",
        ),
        pytest.param(
            502, "text/html", "<html><body>upstream refused {h}</body></html>", id="html-502"
        ),
        pytest.param(200, "application/json", '{{"ok": true, "items": "{h}', id="truncated"),
    ],
)
def test_a_server_echoing_the_authorization_header_is_redacted(status, content_type, body):
    def reply(handler):
        echo = handler.headers.get("Authorization", "")
        return status, {"Content-Type": content_type}, body.format(h=echo).encode()

    with (
        Recorder("127.0.0.1", reply) as echo,
        TaskadeClient(
            SECRET,
            base_url=f"{echo.url}/api/v2",
            _hooks=Hooks(sleep=lambda s: None),
            retry=RetryPolicy(max_retries=0),
        ) as c,
    ):
        texts = rendered(lambda: c.call("listSpaces"))

    assert echo.requests[0]["headers"]["Authorization"] == f"Bearer {SECRET}"  # it did echo
    assert leaks(*texts) == []


def _locals_of(fail: Callable[[], object]) -> str:
    try:
        fail()
    except TaskadeError as exc:
        return "".join(
            traceback.TracebackException.from_exception(exc, capture_locals=True).format()
        )
    raise AssertionError("the call did not fail")


def test_tracebacks_with_locals_of_api_errors_never_show_the_token(server, secret_client):
    """IPython's ``%xmode Verbose``, rich's ``show_locals`` and error trackers print the
    local variables of every frame of a traceback and of its causes."""
    server.faults.push("html", count=2)
    texts = [
        _locals_of(lambda: secret_client.call("listSpaces")),
        _locals_of(lambda: secret_client.call("getProject", projectId="missing")),
    ]
    assert "secret_client" in texts[0] or "self" in texts[0]  # locals really were captured
    assert leaks(*texts) == []


@pytest.mark.parametrize("fault", ["refused", "reset", "timeout"])
def test_tracebacks_with_locals_of_transport_errors_never_show_the_token(
    server, secret_client, fault
):
    if fault == "refused":
        with TaskadeClient(
            SECRET,
            base_url=f"http://127.0.0.1:{_closed_port()}/api/v2",
            _hooks=Hooks(sleep=lambda s: None),
        ) as nowhere:
            text = _locals_of(lambda: nowhere.call("listSpaces"))
    else:
        server.faults.push("reset" if fault == "reset" else "delay", count=2, seconds=2.0)
        text = _locals_of(lambda: secret_client.call("listSpaces"))
    assert leaks(text) == []


# -- the token never leaves for another host ------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_to_another_host_are_not_followed(status):
    with Recorder("127.0.0.2", lambda h: _json_reply(200, {"ok": True, "items": []})) as other:
        target = f"{other.url}/api/v2/listSpaces"
        with (
            Recorder("127.0.0.1", lambda h: (status, {"Location": target}, b"")) as first,
            TaskadeClient(
                SECRET, base_url=f"{first.url}/api/v2", _hooks=Hooks(sleep=lambda s: None)
            ) as c,
        ):
            texts = rendered(lambda: c.call("listSpaces"))
            with pytest.raises(InvalidResponseError) as info:
                c.call("listSpaces")

    assert info.value.status == status
    assert "not followed" in str(info.value) and f"127.0.0.2:{other.port}" in str(info.value)
    assert len(first.requests) == 2  # one per call: a redirect is not retried either
    assert other.requests == []  # the token never reached the other host
    assert leaks(*texts) == []


def test_proxies_from_the_environment_are_ignored_with_trust_env_false(server, monkeypatch):
    """The opt-out: nothing from the environment, the proxy variables included."""
    with Recorder("127.0.0.2", lambda h: _json_reply(200, {"ok": True, "items": []})) as proxy:
        for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
            monkeypatch.setenv(name, proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        with TaskadeClient(SECRET, base_url=server.base_url, trust_env=False) as c:
            assert c.call("listSpaces")["items"]
    assert proxy.requests == []
    assert server.request_count("listSpaces") == 1


@pytest.mark.parametrize(
    "url",
    [
        "http://api.example.com/v2",
        "http://localhost.example.com/api/v2",  # not localhost
        "http://127.0.0.1.example.com/api/v2",  # not loopback
        "http://127.0.0.1@example.com/api/v2",  # userinfo, the host is example.com
        "http://0.0.0.0:8765/api/v2",  # every interface, not loopback
        "http://10.0.0.5/api/v2",
        "http://[fe80::1]/api/v2",
        "HTTP://EXAMPLE.COM/api/v2",
    ],
)
def test_plain_http_off_this_machine_is_refused_before_sending(url, monkeypatch):
    with pytest.raises(ConfigurationError, match=r"plain http|http\(s\)|credentials") as info:
        TaskadeClient(SECRET, base_url=url)
    assert leaks(str(info.value)) == []
    monkeypatch.setenv("TASKADE_API_TOKEN", SECRET)
    monkeypatch.setenv("TASKADE_API_URL", url)
    with pytest.raises(ConfigurationError):
        TaskadeClient()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:1/api/v2",
        "http://localhost:1/api/v2",
        "http://[::1]:1/api/v2",
        "http://127.8.9.10:1/api/v2",
        "https://api.example.com/v2",
    ],
)
def test_loopback_http_and_https_are_allowed(url):
    with TaskadeClient(SECRET, base_url=url) as c:
        assert c.base_url == url


# -- the command line -------------------------------------------------------------------------


def _helps() -> dict[str, str]:
    parser = build_parser()
    helps = {"taskade-frames": parser.format_help()}
    for action in parser._subparsers._group_actions:  # argparse keeps them here
        for name, sub in action.choices.items():
            helps[name] = sub.format_help()
    return helps


def test_help_sends_the_token_to_the_environment_not_the_command_line():
    helps = _helps()
    top = " ".join(helps["taskade-frames"].split())
    assert "TASKADE_API_TOKEN" in top and "never pass it on the command line" in top
    # Only the emulator takes a --token, and that is the fake one it accepts.
    assert [name for name, text in helps.items() if "--token" in text] == ["emulator"]


def test_emulator_help_prefers_the_environment_to_token_on_the_command_line():
    from taskade_frames.emulator._main import _parser

    for text in (_helps()["emulator"], _parser().format_help()):
        assert "environment" in text.lower() or "TASKADE_API_TOKEN" in text, text


def test_the_cli_prints_no_token_when_the_token_is_wrong(server, monkeypatch, capsys):
    monkeypatch.setenv("TASKADE_API_TOKEN", SECRET[:-1] + "X")  # close, but wrong
    monkeypatch.setenv("TASKADE_API_URL", server.base_url)

    code = main(["spaces"])

    out, err = capsys.readouterr()
    assert code == 1 and "401" in err
    assert leaks(out, err) == [] and SECRET[:-1] not in out + err


def test_a_token_in_the_environment_is_never_printed_by_a_plain_listing(secret_env, capsys):
    with contextlib.redirect_stderr(sys.stdout):
        assert main(["spaces"]) == 0
    out, err = capsys.readouterr()
    assert "Acme" in out or len(out.splitlines()) > 1
    assert leaks(out, err) == []


def test_authentication_errors_name_the_variable_not_the_value(emulator, monkeypatch):
    monkeypatch.setenv("TASKADE_API_TOKEN", SECRET)
    monkeypatch.setenv("TASKADE_API_URL", emulator.base_url)  # expects another token
    with TaskadeClient() as c, pytest.raises(AuthenticationError) as info:
        c.call("listSpaces")
    assert leaks(*rendered(lambda: c.call("listSpaces")), str(info.value)) == []
