"""The HTTP side of the emulator: a real v2 server on loopback, with knobs.

Every request goes through one pipeline: latency, route, bearer token, rate
limit, queued transport fault, JSON body, request schema, forbidden ids, page
faults, the operation, encoding. The response is written in a single
``write`` with ``TCP_NODELAY`` set: two writes on a keep-alive connection
would meet Nagle's algorithm and the peer's delayed ACK and stall ~40 ms.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import socket
import struct
import threading
import time
from collections.abc import Mapping
from datetime import datetime
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from socketserver import TCPServer
from types import MappingProxyType
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from . import _schemas, _v1
from ._faults import Faults, TokenBucket
from ._model import Workspace
from ._ops import (
    HANDLERS,
    Context,
    EmulatorError,
    EncodedItems,
    Handler,
    change_workspace,
    error_envelope,
)
from ._sample_workspace import sample_workspace

DEFAULT_TOKEN = "emulator-token"
SCOPES = ("folder", "space", "both")
ERROR_STYLES = ("envelope", "gateway")
API_PREFIX = "/api/v2/"
JSON_TYPE = "application/json; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"
MAX_BODY = 64 * 1024 * 1024  # far above any v2 request; chunked bodies are held to it too

_PROXY_PAGE = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


def _with_page_faults(payload: dict[str, Any], kinds: set[str]) -> dict[str, Any]:
    """Queued page faults that alter items: unknown fields added (one an object with an
    ``id`` of its own, after the item's), nulls mixed in."""
    items = payload.get("items")
    if isinstance(items, list):
        if "extra_fields" in kinds:
            items = [dict(item, zzExtra=1) if isinstance(item, dict) else item for item in items]
        if "nested_ids" in kinds:
            items = [
                dict(item, zzOwner={"id": f"owner-{at}"}) if isinstance(item, dict) else item
                for at, item in enumerate(items)
            ]
        if "null_items" in kinds and items:
            items = [None, *items[: len(items) // 2], None, *items[len(items) // 2 :]]
        payload["items"] = items
    return payload


class Reply(NamedTuple):
    status: int
    body: bytes
    content_type: str = JSON_TYPE
    headers: Mapping[str, str] = MappingProxyType({})
    transport: str | None = None  # "reset": cut the connection mid-body


def _json(payload: Any) -> bytes:
    items = payload.get("items") if isinstance(payload, dict) else None
    if isinstance(items, EncodedItems):
        rest = {k: v for k, v in payload.items() if k != "items"}
        head = json.dumps(rest, separators=(",", ":"))[:-1]
        return f'{head},"items":{items}}}'.encode()
    return json.dumps(payload, separators=(",", ":")).encode()


def _error(
    status: int,
    code: str,
    message: str,
    headers: Mapping[str, str] | None = None,
    http_status: int | None = None,
) -> Reply:
    return Reply(
        http_status or status, _json(error_envelope(status, code, message)), headers=headers or {}
    )


def _as_gateway(reply: Reply) -> Reply:
    """The same error as a gateway or web framework in front of the API would send it.

    The status and its headers (``Retry-After``) stay; the body stops being
    the v2 envelope: an HTML page for 429 and 5xx, plain text for 401, 402 and
    403, a framework's JSON for 400, 404 and the rest.
    """
    try:
        message = str(json.loads(reply.body).get("message", ""))
    except (ValueError, AttributeError):
        return reply  # already not an envelope (an HTML fault page)
    status, phrase = reply.status, HTTPStatus(reply.status).phrase
    if status == 429 or status >= 500:
        page = (
            f"<html><head><title>{status} {phrase}</title></head><body><center>"
            f"<h1>{status} {phrase}</h1></center><hr><center>nginx</center></body></html>"
        )
        return reply._replace(body=page.encode(), content_type=HTML_TYPE)
    if status in (401, 402, 403):
        return reply._replace(body=f"{phrase}\n".encode(), content_type=TEXT_TYPE)
    framework = {"statusCode": status, "error": phrase, "message": message}
    return reply._replace(body=_json(framework))


class _BadFraming(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    """The request body, from Content-Length or chunked framing, at most MAX_BODY bytes."""
    if "chunked" in handler.headers.get("Transfer-Encoding", "").lower():
        chunks: list[bytes] = []
        total = 0
        while True:
            size_line = handler.rfile.readline(1024)
            try:
                size = int(size_line.split(b";", 1)[0].strip() or b"x", 16)
            except ValueError:
                raise _BadFraming("bad chunk size") from None
            if size == 0:
                while handler.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            total += size
            if total > MAX_BODY:
                raise _BadFraming("request body too large", 413)
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline(1024)
    length = handler.headers.get("Content-Length")
    if not length:
        return b""
    try:
        n = int(length)
    except ValueError:
        raise _BadFraming("bad Content-Length") from None
    if n < 0:
        raise _BadFraming("Content-Length out of range")
    if n > MAX_BODY:
        raise _BadFraming("request body too large", 413)
    return handler.rfile.read(n)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server_version = "taskade-frames-emulator"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr line; ``Emulator.requests`` is the log."""

    def _serve(self) -> None:
        self.server.emulator._serve(self)

    do_POST = do_GET = do_PUT = do_PATCH = do_DELETE = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        self.emulator = emulator
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can hang on DNS.
        TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, addr = super().get_request()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._open_lock:
            self._open.add(conn)
        return conn, addr

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        """Wake handler threads blocked on idle keep-alive connections."""
        with self._open_lock:
            conns = list(self._open)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class Emulator:
    """A local Taskade v2 API over a :class:`Workspace`, on a real socket.

    Knobs (plain attributes, cleared by :meth:`reset`): ``page_cap``,
    ``max_limit``, ``latency``, ``rate_limit``, ``forbidden``, ``credits`` and
    the ``faults`` queue. ``requests`` logs what was asked and answered;
    ``errors`` holds exceptions raised while handling (answered as 500).

    Args:
        workspace: the live model to serve; default the bundled sample.
        token: the bearer token it accepts.
        host, port: where to listen; port 0 picks a free one.
        data: path of a workspace JSON file to serve instead of the sample.

    >>> with Emulator() as emu:  # doctest: +SKIP
    ...     print(emu.base_url)
    http://127.0.0.1:54321/api/v2
    """

    def __init__(
        self,
        workspace: Workspace | None = None,
        *,
        token: str = DEFAULT_TOKEN,
        host: str = "127.0.0.1",
        port: int = 0,
        data: str | Path | None = None,
        scope: str = "folder",
        errors: str = "envelope",
        clamp_pages: bool = False,
    ) -> None:
        # Behaviour profiles: how this server answers what the v2 reference leaves open.
        # scope: "folder" (a space id lists only its home folder, as v1 documents),
        #   "space" (a space id lists the whole space; a folder id is refused) or "both".
        # errors: "envelope" (the v2 error body) or "gateway" (what a proxy in front sends).
        # clamp_pages: a page number past the end answers the last page again.
        if scope not in SCOPES:
            raise ValueError(f"scope must be one of {', '.join(SCOPES)}, not {scope!r}")
        if errors not in ERROR_STYLES:
            raise ValueError(f"errors must be one of {', '.join(ERROR_STYLES)}, not {errors!r}")
        self.scope = scope
        self.error_style = errors
        self.clamp_pages = bool(clamp_pages)
        if workspace is not None and data is not None:
            raise ValueError("pass either workspace or data, not both")
        if workspace is None:
            workspace = Workspace.load(data) if data is not None else sample_workspace()
        self.workspace = workspace
        self._original = workspace.copy()
        self.token = token
        self.host = host
        self._port = port
        self.faults = Faults()
        self.errors: list[BaseException] = []
        self._log: list[dict[str, Any]] = []
        self._log_lock = threading.Lock()
        self._generation = 0
        self._credit_lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._reset_knobs()

    def _reset_knobs(self) -> None:
        self.page_cap: int | None = None
        self.max_limit: int | None = None
        self.latency: float = 0.0
        self.forbidden: set[str] = set()
        self.credits: int | None = None
        self._bucket: TokenBucket | None = None

    def __repr__(self) -> str:
        state = self.base_url if self._server else "stopped"
        return f"<Emulator {state} serving {self.workspace!r}>"

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> Emulator:
        """Bind and serve in a daemon thread; returns ``self``."""
        if self._server is not None:
            return self
        self._server = _Server((self.host, self._port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="taskade-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every connection."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.drop_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the emulator is not running")
        return int(self._server.server_address[1])

    @property
    def exposed(self) -> bool:
        """True when bound beyond loopback: the network can reach it, well-known token and all."""
        return not _is_loopback_host(self.host)

    @property
    def url(self) -> str:
        """The server root, e.g. ``http://127.0.0.1:8765``.

        Bound to every interface (``0.0.0.0``, ``::``), it names the loopback
        address, the one a client on this machine can use.
        """
        host = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(self.host, self.host)
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What a client uses as its base URL: ``{url}/api/v2``."""
        return f"{self.url}/api/v2"

    @property
    def v1_base_url(self) -> str:
        """Where the v1 task-detail routes live: ``{url}/api/v1``."""
        return f"{self.url}/api/v1"

    # -- knobs -----------------------------------------------------------------

    @property
    def rate_limit(self) -> tuple[int, float] | None:
        """``(n, per_seconds)``: a token bucket; over it the answer is 429."""
        return None if self._bucket is None else (self._bucket.n, self._bucket.per)

    @rate_limit.setter
    def rate_limit(self, value: tuple[int, float] | None) -> None:
        self._bucket = None if value is None else TokenBucket(int(value[0]), float(value[1]))

    # -- time ------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        """The workspace's clock (UTC): what "today" and "overdue" mean here. The
        sample's due dates are laid out around its start, so "overdue" means the same
        on every run until :meth:`advance` moves it."""
        return self.workspace.clock

    def advance(self, days: int = 1) -> dict[str, int]:
        """Let ``days`` days of work happen in the served workspace; see
        :meth:`Workspace.advance`. ``reset(workspace=True)`` turns the clock back."""
        return self.workspace.advance(days)

    def reset(self, workspace: bool = False) -> None:
        """Clear faults, knobs, the request log and errors; ``workspace=True`` also
        restores the workspace as it was at construction (as a new object)."""
        self.faults.clear()
        self._reset_knobs()
        with self._log_lock:
            self._generation += 1
            self._log.clear()
        self.errors.clear()
        if workspace:
            self.workspace = self._original.copy()

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Handled requests so far: ``{"operation", "body", "status"}`` dicts."""
        with self._log_lock:
            return list(self._log)

    def request_count(self, operation: str | None = None) -> int:
        with self._log_lock:
            return sum(1 for r in self._log if operation is None or r["operation"] == operation)

    def _spend_credit(self) -> None:
        with self._credit_lock:
            if self.credits is None:
                return
            if self.credits <= 0:
                raise EmulatorError(402, "out_of_credits", "Out of credits")
            self.credits -= 1

    # -- the pipeline ------------------------------------------------------------

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        generation = self._generation
        if not self._authorized(handler.headers):
            # Answer before reading a byte of the body: a stranger's body is
            # never buffered, and the connection is closed on it.
            handler.close_connection = True
            path = urlsplit(handler.path).path
            operation = path[len(API_PREFIX) :] if path.startswith(API_PREFIX) else None
            body = None
            reply = _error(401, "unauthorized", "Missing or invalid bearer token")
        else:
            try:
                raw = _read_body(handler)
            except _BadFraming as exc:
                handler.close_connection = True
                self._write(handler, _error(exc.status, "bad_request", str(exc)))
                return
            operation, body, reply = self._dispatch(
                handler.command, handler.path, handler.headers, raw, generation
            )
        if self.error_style == "gateway" and reply.status >= 400:
            reply = _as_gateway(reply)
        with self._log_lock:
            # A request that straddled reset() (a delay fault, say) belongs to
            # the previous test: keep it out of the fresh log.
            if generation == self._generation:
                self._log.append({"operation": operation, "body": body, "status": reply.status})
        self._write(handler, reply)

    def _authorized(self, headers: Any) -> bool:
        scheme, _, credential = headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and credential.strip() == self.token

    def _dispatch(
        self, method: str, target: str, headers: Any, raw: bytes, generation: int
    ) -> tuple[str | None, Any, Reply]:
        if self.latency:
            time.sleep(self.latency)
        path = urlsplit(target).path
        if path.startswith(_v1.PREFIX):
            op = _v1.operation_name(method, path)
        elif not path.startswith(API_PREFIX):
            return None, None, _error(404, "not_found", f"No route for {path}")
        else:
            op = path[len(API_PREFIX) :]
        try:
            body: Any = json.loads(raw) if raw.strip() else None
            parsed = True
        except (ValueError, RecursionError):  # RecursionError: JSON nested too deeply
            body, parsed = raw.decode("utf-8", "replace"), False

        bucket = self._bucket
        if bucket is not None and (wait := bucket.acquire()) is not None:
            return (
                op,
                body,
                _error(
                    429, "rate_limited", "Too many requests, slow down", {"Retry-After": str(wait)}
                ),
            )

        fault = self.faults.take_transport(op)
        after: str | None = None
        if fault is not None:
            early = self._early_fault(fault.kind, fault.params)
            if early is not None:
                return op, body, early
            if fault.kind == "delay":
                time.sleep(float(fault.params.get("seconds", 1.0)))
            else:
                after = fault.kind
        if generation != self._generation:
            # reset() came while this request waited (a delay fault, latency): it belongs
            # to a test that has ended, and must not touch, or take the faults of, the next.
            return op, body, _error(503, "reset", "The emulator was reset while this waited")

        reply = self._operate(method, path, op, body, parsed)
        if after == "truncated":
            reply = reply._replace(body=reply.body[: len(reply.body) // 2])
        elif after == "reset":
            reply = reply._replace(transport="reset")
        return op, body, reply

    @staticmethod
    def _early_fault(kind: str, params: dict[str, Any]) -> Reply | None:
        """A fault that answers instead of the operation, or ``None``."""
        if kind == "status":
            status = int(params.get("status", 503))
            extra = (
                {}
                if params.get("retry_after") is None
                else {"Retry-After": str(params["retry_after"])}
            )
            code = params.get("code") or HTTPStatus(status).phrase.lower().replace(" ", "_")
            return _error(status, code, params.get("message", f"Emulated {status} fault"), extra)
        if kind == "html":
            return Reply(int(params.get("status", 502)), _PROXY_PAGE, HTML_TYPE)
        if kind == "ok_false":
            return _error(
                int(params.get("error_status", 500)),
                params.get("code", "internal_error"),
                params.get("message", "Emulated failure inside a 200 response"),
                http_status=200,
            )
        return None

    def _operate(self, method: str, path: str, op: str, body: Any, parsed: bool) -> Reply:
        if path.startswith(_v1.PREFIX):
            return self._operate_v1(method, path, body)
        operation = HANDLERS.get(op)
        if method != "POST" or operation is None:
            return self._unrouted(method, path, op, operation)
        refused = self._refuse(op, body, parsed)
        if refused is not None:
            return refused
        body = body or {}
        kinds = (
            self.faults.take_page(op, operation.paging != "none")
            if op.startswith("list")
            else set()
        )
        ctx = Context(
            self.workspace,
            self.page_cap,
            self.max_limit,
            kinds,
            self._spend_credit,
            clamp_pages=self.clamp_pages,
            scope=self.scope,
        )
        changes = (
            self.faults.take_workspace(op, body.get("projectId")) if op.startswith("list") else []
        )
        try:
            with self.workspace.lock:
                for change in changes:
                    change_workspace(self.workspace, change.kind, change.params, op, body)
                payload = operation.handler(ctx, body)
        except EmulatorError as exc:
            return _error(exc.status, exc.code, exc.message, exc.headers)
        except Exception as exc:
            self.errors.append(exc)
            return _error(500, "internal_error", f"{type(exc).__name__}: {exc}")
        body = _json(_with_page_faults(payload, kinds))
        if "pretty" in kinds:  # indented, spaces after colons: JSON as some servers write it
            body = json.dumps(json.loads(body), indent=2, ensure_ascii=False).encode()
        return Reply(200, body)

    def _unrouted(self, method: str, path: str, op: str, operation: Handler | None) -> Reply:
        """A route the spec has but the emulator lacks is 501; a wrong method 405; else 404."""
        known = any(
            m == method and rx.match(path[len(API_PREFIX) - 1 :])
            for m, rx in _schemas.spec_path_patterns()
        )
        if known:
            return _error(
                501, "not_implemented", f"{method} /{op} is not implemented by the emulator"
            )
        if operation is not None:
            return _error(405, "method_not_allowed", f"Use POST for /{op}", {"Allow": "POST"})
        return _error(404, "not_found", f"Unknown operation: {op}")

    def _refuse(self, op: str, body: Any, parsed: bool) -> Reply | None:
        """The answer to a body the spec refuses, or to an id this token may not see."""
        if not parsed:
            return _error(400, "invalid_json", "The request body is not valid JSON")
        schema = _schemas.load()["requests"][op]
        problem = _schemas.check(schema, body)
        if problem is None and body is None:
            # The spec marks some bodies nullable yet requires fields in them
            # (listAgents needs spaceId): an absent body cannot carry those.
            problem = _schemas.check(schema, {})
        if problem is not None:
            return _error(400, "invalid_request", problem[0].upper() + problem[1:])
        for key, value in (body or {}).items():
            if key.endswith("Id") and isinstance(value, str) and value in self.forbidden:
                return _error(403, "forbidden", f"You do not have access to {value}")
        return None

    def _operate_v1(self, method: str, path: str, body: Any) -> Reply:
        """A v1 task-detail route: same knobs and faults as v2, REST-style routing."""
        try:
            operation, params = _v1.resolve(method, path)
            if body is not None:
                raise EmulatorError(400, "invalid_request", f"{method} takes no request body")
            for value in params.values():
                if value in self.forbidden:
                    raise EmulatorError(403, "forbidden", f"You do not have access to {value}")
            payload = _v1.answer(self.workspace, operation, params)
        except EmulatorError as exc:
            return _error(exc.status, exc.code, exc.message, exc.headers)
        except Exception as exc:
            self.errors.append(exc)
            return _error(500, "internal_error", f"{type(exc).__name__}: {exc}")
        return Reply(200, _json(payload))

    @staticmethod
    def _write(handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        """Send status line, headers and body in one write (see the module doc)."""
        lines = [
            f"HTTP/1.1 {reply.status} {HTTPStatus(reply.status).phrase}",
            f"Content-Type: {reply.content_type}",
            f"Content-Length: {len(reply.body)}",
            f"Date: {formatdate(usegmt=True)}",
            f"Server: {_Handler.server_version}",
        ]
        lines.extend(f"{name}: {value}" for name, value in reply.headers.items())
        if handler.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            if reply.transport == "reset":
                handler.wfile.write(head + reply.body[: len(reply.body) // 2])
                _abort(handler)
            else:
                handler.wfile.write(head + reply.body)
        except OSError:
            handler.close_connection = True


def _is_loopback_host(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _abort(handler: BaseHTTPRequestHandler) -> None:
    """Close with SO_LINGER 0 so the peer gets a RST, not an orderly FIN."""
    handler.close_connection = True
    conn = handler.connection
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    handler.rfile.close()  # drop the makefile reference so close() is immediate
    conn.close()
