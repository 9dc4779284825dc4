"""The wire against servers that misbehave on purpose, over raw loopback sockets.

Each server here is a few lines of socket code in a thread, so it can do what
no well-behaved HTTP server would: drip a body a byte at a time, send a
chunked body that never ends, a gzip bomb, a ``103 Early Hints`` before the
answer, or echo the token back. The client must end each with data or a typed
error, bounded in time and memory, with no piece of the token in any message.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import json
import socket
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable

import pytest

from taskade_frames import (
    ReadTimeoutError,
    ResponseTooLargeError,
    TaskadeClient,
    TaskadeError,
)
from taskade_frames._http import Hooks, RetryPolicy

TOKEN = "tskfake-" + "Wq4Rn7Lm2Xz9Pv5Kc8Hb3Jd6"
NO_RETRY = RetryPolicy(max_retries=0, max_rate_limit_retries=0)


class RawServer:
    """Accepts connections on loopback; ``script(conn, request_bytes)`` writes the answer.

    ``log`` records what each script reported (bytes it managed to send, say), so
    a test can tell the client hung up before the server finished.
    """

    def __init__(self, script: Callable[[socket.socket, bytes], object]):
        self.script = script
        self.requests: list[bytes] = []
        self.log: list[object] = []
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)
        self._sock.settimeout(0.1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}/api/v2"

    def __enter__(self) -> RawServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10)
            try:
                while not self._stop.is_set():
                    request = _read_request(conn)
                    if request is None:
                        return
                    self.requests.append(request)
                    self.log.append(self.script(conn, request))
            except OSError as exc:
                self.log.append(exc)


def _read_request(conn: socket.socket) -> bytes | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        body += conn.recv(65536)
    return head + b"\r\n\r\n" + body


def _head(status: str, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


OK_BODY = json.dumps({"ok": True, "items": [{"id": "s1", "name": "Space"}]}).encode()


def client_for(server: RawServer, **kw) -> TaskadeClient:
    kw.setdefault("retry", NO_RETRY)
    return TaskadeClient(
        TOKEN, base_url=server.base_url, trust_env=False, _hooks=Hooks(sleep=lambda s: None), **kw
    )


def no_token_piece(text: str) -> bool:
    """True when no piece of the token longer than 8 characters is in ``text``."""
    return not any(TOKEN[i : i + 9] in text for i in range(len(TOKEN) - 8))


# -- a deadline for the whole request (#12.9) -------------------------------------------------


def drip(conn: socket.socket, request: bytes) -> int:
    """Announce 60 bytes, then send one every 0.2 s: 12 s in all, each read quick."""
    body = b" " * 59 + b"{"
    conn.sendall(
        _head("200 OK", {"Content-Type": "application/json", "Content-Length": str(len(body))})
    )
    sent = 0
    with contextlib.suppress(OSError):
        for byte in body:
            conn.sendall(bytes([byte]))
            sent += 1
            time.sleep(0.2)
    return sent


def endless_chunks(conn: socket.socket, request: bytes) -> int:
    """A chunked body that never ends (stops after 30 s, or when the client hangs up)."""
    conn.sendall(
        _head("200 OK", {"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
    )
    sent = 0
    with contextlib.suppress(OSError):
        conn.sendall(b"1\r\n[\r\n")
        for _ in range(600):
            conn.sendall(b"2\r\n1,\r\n")
            sent += 1
            time.sleep(0.05)
    return sent


@pytest.mark.parametrize("script", [drip, endless_chunks], ids=["drip", "endless-chunked"])
@pytest.mark.parametrize("operation", ["listSpaces", "promptAgent"])
def test_a_deadline_bounds_the_whole_request(script, operation):
    with RawServer(script) as server, client_for(server, timeout=1) as c:
        with pytest.raises(ReadTimeoutError) as info:
            c.call(operation, agentId="a", spaceId="s", prompt="hi")
        assert info.value.sent is True and "within 1s" in str(info.value)
        deadline = time.monotonic() + 10
        while not server.log and time.monotonic() < deadline:
            time.sleep(0.05)
    # The client hung up long before the server was done.
    sent = server.log[0]
    assert isinstance(sent, int) and sent < (60 if script is drip else 600)
    assert len(server.requests) == 1


def test_a_read_after_the_deadline_is_retried_like_any_timeout():
    policy = RetryPolicy(max_retries=1)
    with (
        RawServer(drip) as server,
        client_for(server, timeout=0.5, retry=policy) as c,
        pytest.raises(ReadTimeoutError),
    ):
        c.call("listSpaces")
    assert len(server.requests) == 2


# -- a cap on the decoded body (#12.10) -----------------------------------------------------


@functools.cache
def bomb() -> bytes:
    """64 MiB of spaces gzipped to ~64 KiB, inside what starts as a JSON envelope."""
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [z.compress(b'{"ok":true,"items":[')]
    parts += [z.compress(b" " * (1024 * 1024)) for _ in range(64)]
    return b"".join([*parts, z.compress(b"]}"), z.flush()])


def gzip_bomb(conn: socket.socket, request: bytes) -> None:
    body = bomb()
    conn.sendall(
        _head(
            "200 OK",
            {
                "Content-Type": "application/json",
                "Content-Encoding": "gzip",
                "Content-Length": str(len(body)),
            },
        )
        + body
    )


def test_a_gzip_bomb_is_refused_at_the_cap_without_the_memory():
    bomb()  # built before memory is traced
    with RawServer(gzip_bomb) as server, client_for(server, max_body=2 * 1024 * 1024) as c:
        tracemalloc.start()
        try:
            with pytest.raises(ResponseTooLargeError) as info:
                c.call("listSpaces")
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert "max_body" in str(info.value) and info.value.status == 200
    assert peak < 16 * 1024 * 1024  # the bomb decodes to 64 MiB
    assert len(server.requests) == 1  # too large is not retried


def test_the_default_cap_is_generous_and_gzip_is_decoded():
    def gzipped(conn, request):
        body = gzip.compress(OK_BODY)
        conn.sendall(
            _head(
                "200 OK",
                {
                    "Content-Type": "application/json",
                    "Content-Encoding": "gzip",
                    "Content-Length": str(len(body)),
                },
            )
            + body
        )

    with RawServer(gzipped) as server, client_for(server) as c:
        assert c.call("listSpaces")["items"] == [{"id": "s1", "name": "Space"}]


def test_a_plain_body_over_the_cap_is_refused():
    def big(conn, request):
        body = b'{"ok":true,"items":[' + b" " * (3 * 1024 * 1024) + b"]}"
        with contextlib.suppress(OSError):
            conn.sendall(
                _head(
                    "200 OK", {"Content-Type": "application/json", "Content-Length": str(len(body))}
                )
                + body
            )

    with (
        RawServer(big) as server,
        client_for(server, max_body=1024 * 1024) as c,
        pytest.raises(ResponseTooLargeError),
    ):
        c.call("listSpaces")


# -- 103 Early Hints (#12.13) --------------------------------------------------------------


def early_hints(conn: socket.socket, request: bytes) -> None:
    conn.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")
    conn.sendall(
        _head("200 OK", {"Content-Type": "application/json", "Content-Length": str(len(OK_BODY))})
        + OK_BODY
    )


def test_103_early_hints_before_the_answer_is_skipped():
    with RawServer(early_hints) as server, client_for(server) as c:
        assert c.call("listSpaces")["items"][0]["id"] == "s1"
        # Keep-alive: the second call on the same connection reads its own answer.
        assert c.call("listSpaces")["items"][0]["id"] == "s1"
    assert len(server.requests) == 2


# -- text from the server never carries the token (#12.2) -----------------------------------


def _echo(kind: str) -> Callable[[socket.socket, bytes], None]:
    def script(conn: socket.socket, request: bytes) -> None:
        auth = next(
            line.split(b":", 1)[1].strip()
            for line in request.split(b"\r\n")
            if line.lower().startswith(b"authorization:")
        ).decode()
        if kind == "content-type":
            body = b"<html>not json</html>"
            head = _head(
                "200 OK",
                {"Content-Type": f"text/html; echo={auth}", "Content-Length": str(len(body))},
            )
        elif kind == "location":
            body = b""
            head = _head(
                "302 Found",
                {"Location": f"http://{auth.split()[1]}.example.com/x", "Content-Length": "0"},
            )
        elif kind == "straddle":
            # The token straddles the cuts: at 160 characters, and at 1280 bytes.
            body = b"x" * 140 + auth.encode() + b" " * (1270 - 180) + auth.encode() * 3
            head = _head("200 OK", {"Content-Type": "text/plain", "Content-Length": str(len(body))})
        else:  # an error status whose framework JSON quotes the header
            body = json.dumps(
                {"statusCode": 400, "error": "Bad Request", "message": f"bad header {auth[:-3]}"}
            ).encode()
            head = _head(
                "400 Bad Request",
                {"Content-Type": "application/json", "Content-Length": str(len(body))},
            )
        conn.sendall(head + body)

    return script


@pytest.mark.parametrize("kind", ["content-type", "location", "straddle", "error-json"])
def test_an_echoed_token_is_masked_before_any_cut(kind):
    with (
        RawServer(_echo(kind)) as server,
        client_for(server) as c,
        pytest.raises(TaskadeError) as info,
    ):
        c.call("listSpaces")
    texts = [
        str(info.value),
        repr(info.value),
        *map(str, info.value.args),
        *(str(v) for v in vars(info.value).values()),
    ]
    assert all(no_token_piece(t) for t in texts), texts
    assert "<re" in " ".join(texts)  # masked, maybe cut after


# -- the emulator, left running, against untrusted requests (#12.14) -------------------------


def _raw_exchange(emulator, head: bytes, body_parts: list[bytes]) -> tuple[bytes, int]:
    """Send ``head`` then the parts, reading the answer as soon as it comes.

    Returns the answer and how many parts were sent before the server hung up.
    """
    with socket.create_connection(("127.0.0.1", emulator.port), timeout=10) as s:
        s.sendall(head)
        sent = 0
        with contextlib.suppress(OSError):
            for part in body_parts:
                s.sendall(part)
                sent += 1
        answer = b""
        with contextlib.suppress(OSError):
            while chunk := s.recv(65536):
                answer += chunk
        return answer, sent


def test_the_emulator_answers_401_before_reading_a_strangers_body(emulator):
    head = (
        b"POST /api/v2/listSpaces HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Type: application/json\r\n\r\n"
    )
    # A body that does not end: 64 KiB chunks, no terminating chunk.
    chunk = b"10000\r\n" + b"a" * 0x10000 + b"\r\n"
    answer, sent = _raw_exchange(emulator, head, [chunk] * 2048)  # 128 MiB offered
    assert answer.startswith(b"HTTP/1.1 401 ")
    assert sent < 2048  # the server closed the connection instead of reading on


def test_the_emulator_refuses_a_chunked_body_over_its_cap(emulator):
    head = (
        f"POST /api/v2/listSpaces HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        f"Authorization: Bearer {emulator.token}\r\n\r\n"
    ).encode()
    answer, _ = _raw_exchange(emulator, head, [b"10000000\r\n" + b"a" * 1024])  # 256 MiB
    assert answer.startswith(b"HTTP/1.1 413 ")


@pytest.mark.parametrize(("token", "status"), [(None, b"401"), ("ok", b"400")])
def test_the_emulator_answers_deeply_nested_json(emulator, token, status):
    body = b"[" * 200_000 + b"]" * 200_000
    auth = f"Authorization: Bearer {emulator.token}\r\n" if token else ""
    head = (
        f"POST /api/v2/listSpaces HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: {len(body)}"
        "\r\nConnection: close\r\n\r\n"
    ).encode()
    answer, _ = _raw_exchange(emulator, head, [body])
    assert answer.startswith(b"HTTP/1.1 " + status + b" ")
    assert emulator.errors == []


def test_the_emulator_bound_beyond_loopback_warns_and_prints_a_usable_url(capsys):
    from taskade_frames._http import check_base_url
    from taskade_frames.emulator._main import main

    ready, stop = threading.Event(), threading.Event()
    worker = threading.Thread(
        target=main,
        args=(["--host", "0.0.0.0", "--port", "0"],),
        kwargs={"ready": ready, "stop": stop},
        daemon=True,
    )
    worker.start()
    try:
        assert ready.wait(10)
    finally:
        stop.set()
        worker.join(10)
    out = capsys.readouterr().out
    assert "WARNING" in out and "0.0.0.0" in out
    url = next(
        line.split("base URL:")[1].strip() for line in out.splitlines() if "base URL:" in line
    )
    assert check_base_url(url) == url and url.startswith("http://127.0.0.1:")


# -- statuses the emulator does not send (#11.2) ----------------------------------------------


def unprocessable(conn: socket.socket, request: bytes) -> None:
    body = json.dumps(
        {
            "statusCode": 422,
            "error": "Unprocessable Entity",
            "message": ["limit must not be greater than 100"],
        }
    ).encode()
    conn.sendall(
        _head(
            "422 Unprocessable Entity",
            {"Content-Type": "application/json", "Content-Length": str(len(body))},
        )
        + body
    )


def test_a_422_is_a_bad_request_error_so_the_page_size_fallback_can_run():
    from taskade_frames import BadRequestError

    with (
        RawServer(unprocessable) as server,
        client_for(server) as c,
        pytest.raises(BadRequestError) as info,
    ):
        c.call("listTasks", projectId="p", limit=1000)
    assert info.value.status == 422 and "greater than 100" in info.value.message
    assert len(server.requests) == 1
