"""Configuration: checked when set, read from the environment in one place, never leaked.

The base URL is judged as the HTTP layer will use it, credentials and
invisible characters are refused without being echoed, settings that would
misbehave later are refused at construction, proxies and CA bundles from the
environment are honoured (``.netrc`` never is), and ``call()`` says no to
operations it cannot send correctly instead of sending them wrong.
"""

from __future__ import annotations

import json
import pydoc
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import urllib3.util
from hypothesis import given
from hypothesis import strategies as st

from taskade_frames import ConfigurationError, TaskadeClient
from taskade_frames._http import Hooks, check_base_url, proxies_for
from taskade_frames.client import read_environment
from taskade_frames.errors import redact, register_secret

from .conftest import FAKE_TOKEN, recording

ENV_VARS = (
    "TASKADE_API_TOKEN",
    "TASKADE_TOKEN",
    "TASKADE_API_URL",
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "SSL_CERT_FILE",
)


@pytest.fixture
def clean_env(monkeypatch):
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


class Recorder:
    """A loopback HTTP server that records requests; as a forward proxy it relays them."""

    def __init__(self, host: str = "127.0.0.1", *, relay: bool = False):
        self.requests: list[dict] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                recorder.requests.append({"path": self.path, "headers": dict(self.headers)})
                status, payload = 200, json.dumps({"ok": True, "items": []}).encode()
                if relay:  # a forward proxy: the request line holds the absolute URL
                    headers = {
                        k: v for k, v in self.headers.items() if not k.lower().startswith("proxy-")
                    }
                    req = urllib.request.Request(self.path, data=body, headers=headers)
                    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
                    with direct.open(req, timeout=10) as answer:
                        status, payload = answer.status, answer.read()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

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


# -- the base URL, judged as the HTTP layer reads it (#12.1, #12.3) -------------------------


@pytest.mark.parametrize(
    "template",
    [
        "http://{remote}\\@127.0.0.1/api/v2",
        "http://{remote}\\\\@localhost/api/v2",
        "http://{remote}%5C@127.0.0.1/api/v2",
        "http://127.0.0.1 @{remote}/api/v2",
        "http://{remote}#@127.0.0.1/api/v2",
        "http://{remote}?@127.0.0.1/api/v2",
        "http://{remote}\t@127.0.0.1/api/v2",
    ],
)
def test_an_ambiguous_authority_is_refused_and_nothing_is_sent(template, clean_env):
    with Recorder("127.0.0.2") as remote:
        url = template.format(remote=f"127.0.0.2:{remote.port}")
        with pytest.raises(ConfigurationError):
            TaskadeClient(FAKE_TOKEN, base_url=url)
        clean_env.setenv("TASKADE_API_URL", url)
        clean_env.setenv("TASKADE_API_TOKEN", FAKE_TOKEN)
        with pytest.raises(ConfigurationError):
            TaskadeClient.from_env()
    assert remote.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "https://user:s3cr3t-pass-word@api.example.com/api/v2",
        "http://user:s3cr3t-pass-word@127.0.0.1:1/api/v2",
        "https://s3cr3t-pass-word@api.example.com/api/v2",
    ],
)
def test_credentials_in_the_base_url_are_refused_without_echoing_them(url):
    with pytest.raises(ConfigurationError) as info:
        TaskadeClient(FAKE_TOKEN, base_url=url)
    assert "credentials" in str(info.value) and "s3cr3t" not in repr(info.value)


HOSTS = st.sampled_from(
    [
        "127.0.0.1",
        "localhost",
        "example.com",
        "10.0.0.5",
        "[::1]",
        "127.0.0.1.example.com",
        "0.0.0.0",
        "[fe80::1]",
        "LOCALHOST",
    ]
)
NOISE = st.text(alphabet="\\@:/%?#[]. \t5Aa", max_size=4)


@given(st.sampled_from(["http", "HTTP", "https"]), HOSTS, NOISE, HOSTS, NOISE)
def test_an_accepted_http_url_connects_where_it_was_judged(scheme, a, noise1, b, noise2):
    """Whatever the URL, if it is accepted over plain http, urllib3 connects to loopback."""
    url = f"{scheme}://{a}{noise1}{b}{noise2}/api/v2"
    try:
        accepted = check_base_url(url)
    except ConfigurationError:
        return
    parsed = urllib3.util.parse_url(accepted)
    assert parsed.auth is None
    if parsed.scheme == "http":
        assert parsed.host in ("localhost", "127.0.0.1", "[::1]", "::1") or parsed.host.startswith(
            "127."
        )


# -- the token (#12.4) --------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["\u200b", "\ufeff", "\u00e9", " ", "\x7f", "\n"])
def test_a_token_with_invisible_or_odd_characters_is_refused_unechoed(bad, clean_env):
    token = f"tskfake-{bad}Invisible4Zq7Rk2Wm9"
    with pytest.raises(ConfigurationError) as info:
        TaskadeClient(token)
    assert "Invisible4Zq7" not in str(info.value) and "Invisible4Zq7" not in repr(info.value)
    clean_env.setenv("TASKADE_API_TOKEN", f"tskfake-Invisible4Zq7Rk2Wm9{bad}x")
    with pytest.raises(ConfigurationError):
        TaskadeClient.from_env()


@pytest.mark.parametrize("bad", ["\u200b", "\ufeff"])
def test_the_token_prompt_shows_a_message_for_an_invisible_character(emulator, bad):
    from taskade_frames.widgets import TokenPrompt

    prompt = TokenPrompt(base_url=emulator.base_url)
    prompt.token.value = f"{FAKE_TOKEN}{bad}"  # Enter: connect() runs, must not raise
    assert prompt.client is None and prompt.token.value == ""
    assert "invisible" in prompt.message.value and FAKE_TOKEN not in prompt.message.value


# -- settings (#12.13) --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "value", "error"),
    [
        ("timeout", 0, ValueError),
        ("timeout", -1, ValueError),
        ("timeout", "30", TypeError),
        ("timeout", float("inf"), ValueError),
        ("timeout", float("nan"), ValueError),
        ("rate_limit", float("inf"), ValueError),
        ("rate_limit", 1e-6, ValueError),
        ("rate_limit", 0, ValueError),
        ("rate_limit", "5", TypeError),
        ("page_size", 0, ValueError),
        ("page_size", 2.5, TypeError),
        ("page_size", True, TypeError),
        ("max_pages", 0, ValueError),
        ("max_body", 10, ValueError),
        ("retry", {"max_retries": 3}, TypeError),
    ],
)
def test_a_setting_that_would_misbehave_is_refused_at_construction(setting, value, error):
    with pytest.raises(error, match=setting):
        TaskadeClient(FAKE_TOKEN, base_url="http://127.0.0.1:1/api/v2", **{setting: value})


# -- one place reads the environment (#13.3, #11.5) ---------------------------------------


def test_from_env_reads_token_and_url_and_trust_env_false_reads_nothing(emulator, clean_env):
    clean_env.setenv("TASKADE_API_TOKEN", FAKE_TOKEN)
    clean_env.setenv("TASKADE_API_URL", emulator.base_url)
    with TaskadeClient.from_env() as c:
        assert c.call("listSpaces")["items"] and c.base_url == emulator.base_url
    with TaskadeClient() as c:  # the same, through the one function
        assert c.base_url == emulator.base_url
    with pytest.raises(ConfigurationError, match="No Taskade API token"):
        TaskadeClient(trust_env=False)
    assert FAKE_TOKEN not in repr(read_environment())


def test_proxies_from_the_environment_are_used(emulator, clean_env):
    with Recorder(relay=True) as proxy:
        clean_env.setenv("HTTP_PROXY", proxy.url)
        with TaskadeClient(FAKE_TOKEN, base_url=emulator.base_url) as c:
            assert c.call("listSpaces")["items"]
    assert [r["path"] for r in proxy.requests] == [f"{emulator.base_url}/listSpaces"]
    assert emulator.request_count("listSpaces") == 1


def test_no_proxy_bypasses_the_proxy(emulator, clean_env):
    with Recorder(relay=True) as proxy:
        clean_env.setenv("HTTP_PROXY", proxy.url)
        clean_env.setenv("NO_PROXY", "example.com,127.0.0.1")
        with TaskadeClient(FAKE_TOKEN, base_url=emulator.base_url) as c:
            assert c.call("listSpaces")["items"]
    assert proxy.requests == [] and emulator.request_count("listSpaces") == 1


def test_a_netrc_never_replaces_the_bearer_token(clean_env, tmp_path):
    with Recorder() as server:
        netrc = tmp_path / ".netrc"
        netrc.write_text(
            "machine 127.0.0.1 login someone password netrc-password\n"
            "default login someone password netrc-password\n"
        )
        netrc.chmod(0o600)
        clean_env.setenv("HOME", str(tmp_path))
        clean_env.setenv("NETRC", str(netrc))
        with TaskadeClient(FAKE_TOKEN, base_url=f"{server.url}/api/v2") as c:
            c.call("listSpaces")
    assert [r["headers"]["Authorization"] for r in server.requests] == [f"Bearer {FAKE_TOKEN}"]


def test_the_ca_bundle_comes_from_the_environment(clean_env, tmp_path):
    bundle = tmp_path / "corporate-ca.pem"
    clean_env.setenv("SSL_CERT_FILE", str(bundle))
    assert read_environment().ca_bundle == str(bundle)
    clean_env.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "other.pem"))
    assert read_environment().ca_bundle == str(tmp_path / "other.pem")


@pytest.mark.parametrize(
    ("no_proxy", "used"),
    [
        ("", True),
        ("*", False),
        ("example.com", False),
        (".example.com", False),
        ("api.example.com:443", False),
        ("api.example.com:8443", True),
        ("other.com", True),
        ("10.0.0.0/8", True),
    ],
)
def test_proxy_selection(no_proxy, used):
    env = {"https": "http://proxy.local:3128", "no": no_proxy}
    assert bool(proxies_for("https://api.example.com/api/v2", env)) is used


def test_help_shows_no_test_hooks():
    text = pydoc.render_doc(TaskadeClient, renderer=pydoc.plaintext)
    assert "sleep" not in text and "jitter" not in text and "built-in" not in text


def test_hooks_record_sleeps(emulator, sleeps):
    emulator.faults.push("status", count=1, status=503, operation="listSpaces")
    with TaskadeClient(FAKE_TOKEN, base_url=emulator.base_url, _hooks=recording(sleeps)) as c:
        c.call("listSpaces")
    assert sleeps == [0.5 * 0.75]  # backoff 0.5 with the pinned jitter 0.5


def test_a_transport_can_be_injected():
    sent = []

    class Canned:
        base_url, host = "memory://", "memory"

        def post(self, operation, body):
            sent.append((operation, body))
            return {"ok": True, "items": [{"id": "x"}]}

        def close(self):
            pass

    with TaskadeClient(transport=Canned(), _hooks=Hooks()) as c:
        assert c.fetch_all("listSpaces").items == [{"id": "x"}]
        assert c.host == "memory"
    assert sent == [("listSpaces", {})]


# -- operations call() cannot send (#11.6) ------------------------------------------------


@pytest.mark.parametrize("name", ["uploadMedia", "importBundleZip", "webhooks", "media", "bundles"])
def test_call_refuses_what_it_cannot_send(client, emulator, name):
    with pytest.raises(ValueError, match=name):
        client.call(name, spaceId="x")
    assert emulator.requests == []


def test_every_route_the_spec_does_not_send_as_json_post_is_refused():
    from pathlib import Path

    from taskade_frames.operations import operation

    spec = Path(__file__).resolve().parents[1] / "taskade_frames/emulator/spec"
    doc = json.loads((spec / "taskade-api-v2.openapi.json").read_text())
    for path, methods in doc["paths"].items():
        name = path.strip("/").split("/")[0]
        for method, op in methods.items():
            content = op.get("requestBody", {}).get("content", {"application/json": {}})
            if method != "post" or set(content) != {"application/json"}:
                assert operation(name).unsendable, f"{method.upper()} {path}"


# -- redaction of pieces (#12.2) ----------------------------------------------------------


TOKENS = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=12, max_size=48
)


@given(TOKENS, st.data())
def test_redact_masks_every_piece_longer_than_8(token, data):
    register_secret(token)
    start = data.draw(st.integers(0, len(token) - 9))
    end = data.draw(st.integers(start + 9, len(token)))
    before, after = data.draw(st.text(max_size=30)), data.draw(st.text(max_size=30))
    out = redact(before + token[start:end] + after)
    assert not any(token[i : i + 9] in out for i in range(len(token) - 8))
