"""Threaded HTTP and HTTPS listeners for the simulated SEPM ports (standard library only).

Contract:
- A `Listener` binds one loopback port and answers every request through one `Handler`
  (`Request -> Response`); each connection runs on its own daemon thread, HTTP/1.1 with keep-alive.
- TLS: an accepted socket is wrapped with `slot.context` as read *at accept time*, so a certificate
  swap (`CertificateSlot.replace`) applies to the next connection and never to a half-done one. The
  handshake itself runs on the connection's thread: a silent peer never blocks the accept loop.
- Down: while `is_down()` is true the listener keeps its port but resets every new connection at
  once (SO_LINGER 0: the peer sees a reset, as from a dead service), and a request arriving on a
  connection opened earlier is dropped unanswered. `drop_connections()` closes the open ones
  immediately, which the app calls when a server goes down.
- Time: the `Date` header follows the simulated clock (`now_ms`), like every timestamp of the site.
- Robustness: a handler that raises produces a 500 with a SEPM-shaped error body and no traceback
  text; request bodies above `MAX_BODY` answer 413. Nothing is logged (request lines could carry
  names an operator considers private, and bodies carry passwords).
"""

from __future__ import annotations

import contextlib
import email.utils
import http.server
import json
import socket
import socketserver
import ssl
import struct
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from reconciler.sim.tls import CertificateSlot

MAX_BODY = 16 * 1024 * 1024
HANDSHAKE_TIMEOUT_S = 10.0
IDLE_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Request:
    """One HTTP request as the handlers see it. `path` is still percent-encoded."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    listener: str

    def segments_after(self, prefix: str) -> list[str] | None:
        """The decoded path segments after `prefix` (``/a/b`` -> ``["a", "b"]``), or None if outside it."""
        if self.path != prefix and not self.path.startswith(prefix.rstrip("/") + "/"):
            return None
        rest = self.path[len(prefix.rstrip("/")) :].strip("/")
        return [unquote(part) for part in rest.split("/")] if rest else []

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)

    def json(self) -> Any:
        """The body parsed as JSON; ValueError when it is not JSON."""
        return json.loads(self.body.decode("utf-8")) if self.body else None


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str = "application/json;charset=UTF-8"


Handler = Callable[[Request], Response]


def json_response(status: int, payload: Any, *, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, json.dumps(payload, separators=(",", ":")).encode("utf-8"), headers or [])


def sepm_error(status: int, message: str, *, headers: list[tuple[str, str]] | None = None) -> Response:
    """SEPM's error body: ``{"errorCode": "<status>", "appErrorCode": "", "errorMessage": ...}``."""
    body = {"errorCode": str(status), "appErrorCode": "", "errorMessage": message}
    return json_response(status, body, headers=headers)


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset (SO_LINGER 0): the peer sees what a dead service looks like."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class Listener:
    """One port of one simulated server (or of the simulator's control endpoint)."""

    def __init__(
        self,
        *,
        name: str,
        host: str,
        port: int,
        handler: Handler,
        slot: CertificateSlot | None,
        now_ms: Callable[[], int],
        is_down: Callable[[], bool] = lambda: False,
    ) -> None:
        self.name = name
        self.handler = handler
        self.slot = slot
        self.now_ms = now_ms
        self.is_down = is_down
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._server = _Server((host, port), _RequestHandler, listener=self)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def scheme(self) -> str:
        return "https" if self.slot is not None else "http"

    def start(self) -> None:
        # The poll interval bounds how long stop() waits for the accept loop; 50 ms keeps test
        # teardown quick and costs an idle listener only 20 cheap wake-ups a second.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"sim-{self.name}"
        )
        self._thread.daemon = True
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()
        self.drop_connections()

    def drop_connections(self) -> None:
        """Reset every open connection of this listener (a server that went down answers nothing)."""
        with self._connections_lock:
            open_now = list(self._connections)
            self._connections.clear()
        for sock in open_now:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            _reset(sock)

    def _track(self, sock: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(sock)

    def _untrack(self, sock: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(sock)


class _Server(socketserver.ThreadingTCPServer):
    # TCPServer rather than HTTPServer: HTTPServer.server_bind does a reverse DNS lookup we never need.
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], handler_class: type[_RequestHandler], *, listener: Listener
    ) -> None:
        self.listener = listener
        super().__init__(address, handler_class)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = self.socket.accept()
        # Small JSON answers: without NODELAY, Nagle and delayed ACKs add ~40 ms to each exchange.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.listener.is_down():
            _reset(sock)
            raise OSError("simulated server is down")  # socketserver skips the connection
        slot = self.listener.slot
        if slot is not None:
            # The context is read here, at accept time; the handshake waits for the worker thread.
            sock = slot.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        self.listener._track(sock)
        return sock, address

    def finish_request(self, request: Any, client_address: Any) -> None:
        if isinstance(request, ssl.SSLSocket):
            request.settimeout(HANDSHAKE_TIMEOUT_S)
            try:
                request.do_handshake()
            except (OSError, ssl.SSLError):
                return
        super().finish_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.listener._untrack(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A peer that vanished mid-request is normal traffic for a simulator; say nothing.
        return


class _RequestHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "SEPM-Simulator"
    sys_version = ""
    timeout = IDLE_TIMEOUT_S
    wbufsize = 64 * 1024  # headers and body leave in one write (flushed after each request)
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def date_time_string(self, timestamp: float | None = None) -> str:
        return email.utils.formatdate(self.server.listener.now_ms() / 1000, usegmt=True)

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_OPTIONS(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        listener = self.server.listener
        if listener.is_down():
            self.close_connection = True
            return
        length_text = self.headers.get("Content-Length") or "0"
        try:
            length = int(length_text)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self.close_connection = True
            self._send(sepm_error(413, "request body too large or unreadable"))
            return
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=url.path,
            query=parse_qs(url.query, keep_blank_values=True),
            headers=dict(self.headers.items()),
            body=body,
            listener=listener.name,
        )
        try:
            response = listener.handler(request)
        except Exception:
            response = sepm_error(500, "the simulator failed to process the request")
        if listener.is_down():
            # The server went down while this request was in flight: no answer at all.
            self.close_connection = True
            return
        self._send(response)

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        if response.status != 204:
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if response.status != 204 and self.command != "HEAD":
            self.wfile.write(response.body)
