"""The metrics port: ``/metrics``, ``/healthz``, ``/readyz`` and ``/status``, in a thread of its own.

Contract:
- ``/metrics`` is Prometheus' text format from `reconciler.telemetry.metrics` (built at scrape time).
- ``/healthz`` answers 200 while the process serves; ``/readyz`` answers 200 once every managed site has
  been reconciled at least once (503 before); ``/status`` is the JSON list of site statuses.
- It runs in its own thread and reads only the `StatusBoard`, so a busy or blocked event loop never
  delays a scrape or a health check. Nothing it serves holds a secret: statuses hold none.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import generate_latest

from reconciler.telemetry.board import StatusBoard
from reconciler.telemetry.metrics import registry_for


class TelemetryServer:
    """``/metrics``, ``/healthz``, ``/readyz`` and ``/status`` on one port, in a thread of its own."""

    def __init__(self, board: StatusBoard, *, host: str, port: int) -> None:
        registry = registry_for(board)

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._answer(200, generate_latest(registry), "text/plain; version=0.0.4; charset=utf-8")
                elif path == "/healthz":
                    self._answer(200, b"ok\n", "text/plain")
                elif path == "/readyz":
                    ok = board.ready()
                    self._answer(
                        200 if ok else 503, b"ready\n" if ok else b"not yet reconciled\n", "text/plain"
                    )
                elif path == "/status":
                    body = json.dumps([s.model_dump(mode="json") for s in board.statuses()], indent=2)
                    self._answer(200, body.encode(), "application/json")
                else:
                    self._answer(404, b"not found\n", "text/plain")

            def _answer(self, code: int, body: bytes, content_type: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return  # scrapes every few seconds would drown the controller's own log

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="telemetry", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
