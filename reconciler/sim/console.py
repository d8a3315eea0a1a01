"""The simulator's console API: what an operator does in SEPM's console and REST cannot do.

It lives under ``/sim/console/v1/``, clearly outside SEPM's ``/sepm/api/v1``, and is served on every
simulated server's console port and on the simulator's own control listener (``consoleUrl`` in the
endpoints file), which faults never take down. Every request needs HTTP Basic authentication with the
site's admin credentials (401 otherwise; no lockout here: this is the test's control channel, not a
SEPM surface). Bodies are JSON; errors answer ``{"error": "<one sentence>"}``.

- ``GET msls``: 200 ``[{name, protocol, servers: [{server, priority, port}], assignedTo: [...]}]``.
- ``POST msls/copy`` ``{source, name, protocol: "http", httpPorts: {server: port}}``: 201 the new MSL.
- ``DELETE msls/{name}``: 204; 400 while the MSL is assigned anywhere; 404 when unknown.
- ``GET servers``: 200 ``[{name, address, ports, down, sha256, portSha256: {https, console, rest}}]``.
- ``POST servers/{name}/certificate`` with ``{certificate, privateKey[, password]}`` (PEM) or
  ``{pkcs12, password}`` (base64 PKCS#12): 200 ``{server, sha256}``; 400 for an unusable keystore
  (not RSA >= 2048 bits, key not matching, wrong password).
- ``POST replication/break`` and ``POST replication/restore``: 204.
- ``GET report``: 200 the engine's report (cut-off and orphaned clients, insecure windows, events).
- ``GET faults``: 200 the faults in force. ``POST faults`` with one fault, e.g.
  ``{"kind": "errors", "share": 0.5, "status": 503}``: 204 (every kind: `reconciler.sim.faults`).
  ``DELETE faults``: 204, request faults off and every server up.
- ``GET clock``: 200 ``{nowMs, speed}`` (simulated epoch ms). ``POST clock/advance`` ``{"ms": N}``:
  200 ``{nowMs, speed}`` after jumping N simulated milliseconds forward.

Passwords (of the admin account or of a keystore) are never echoed in answers or errors.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any

from reconciler.sim import certs
from reconciler.sim.errors import SimError
from reconciler.sim.http import Request, Response, json_response
from reconciler.sim.views import MslView, ServerView

if TYPE_CHECKING:
    from reconciler.sim.engine import Site
    from reconciler.sim.faults import Faults

CONSOLE_PREFIX = "/sim/console/v1"
# Every path the console serves (any method); "*" is one segment. A known path with an unsupported
# method answers 405, anything else 404.
_PATHS = (
    ("msls",),
    ("msls", "copy"),
    ("msls", "*"),
    ("servers",),
    ("servers", "*", "certificate"),
    ("replication", "break"),
    ("replication", "restore"),
    ("report",),
    ("faults",),
    ("clock",),
    ("clock", "advance"),
)


def _matches(shape: tuple[str, ...], parts: list[str]) -> bool:
    return len(shape) == len(parts) and all(s in ("*", p) for s, p in zip(shape, parts, strict=True))


def _error(status: int, message: str) -> Response:
    headers = [("WWW-Authenticate", 'Basic realm="sepm-simulator"')] if status == 401 else []
    return json_response(status, {"error": message}, headers=headers)


def msl_json(view: MslView) -> dict[str, Any]:
    return {
        "name": view.name,
        "protocol": view.protocol,
        "servers": [{"server": e.server, "priority": e.priority, "port": e.port} for e in view.entries],
        "assignedTo": list(view.assigned_to),
    }


def server_json(view: ServerView) -> dict[str, Any]:
    return {
        "name": view.name,
        "address": view.address,
        "ports": dict(view.ports),
        "down": view.down,
        "sha256": view.fingerprint,
        "portSha256": {kind: certs.fingerprint(pem) for kind, pem in view.port_cert_pem.items()},
    }


class ConsoleApi:
    """Request handler for ``/sim/console/v1/`` (console ports and the control listener)."""

    def __init__(self, site: Site, *, faults: Faults) -> None:
        self.site = site
        self.faults = faults

    def __call__(self, request: Request) -> Response:
        parts = request.segments_after(CONSOLE_PREFIX)
        if parts is None:
            return _error(404, f"not found; the console API lives under {CONSOLE_PREFIX}/")
        try:
            actor = self._authorize(request)
            return self._route(request, parts, actor)
        except certs.CertificateError as exc:
            return _error(400, str(exc))
        except SimError as exc:
            return _error(exc.status, exc.message)
        except ValueError as exc:
            return _error(400, str(exc))

    def _authorize(self, request: Request) -> str:
        scheme, _, encoded = (request.header("Authorization") or "").partition(" ")
        if scheme.lower() != "basic":
            raise SimError(
                "HTTP Basic authentication with the site's admin credentials is required", status=401
            )
        try:
            username, _, password = (
                base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
            )
        except (binascii.Error, UnicodeDecodeError):
            raise SimError("malformed Basic credentials", status=401) from None
        # The engine's constant-time check alone: the REST lockout does not apply to this channel.
        if not self.site.authenticate(username, password):
            raise SimError("invalid console credentials", status=401)
        return f"console:{username}"

    def _route(self, request: Request, parts: list[str], actor: str) -> Response:
        method = request.method
        match method, parts:
            case "GET", ["msls"]:
                return json_response(200, [msl_json(m) for m in self.site.msls()])
            case "POST", ["msls", "copy"]:
                return self._copy_msl(request, actor)
            case "DELETE", ["msls", name]:
                self.site.delete_msl(name, actor=actor)
                return Response(204)
            case "GET", ["servers"]:
                return json_response(200, [server_json(s) for s in self.site.servers()])
            case "POST", ["servers", name, "certificate"]:
                return self._update_certificate(request, name, actor)
            case "POST", ["replication", "break"]:
                self.site.break_replication(actor=actor)
                return Response(204)
            case "POST", ["replication", "restore"]:
                self.site.restore_replication(actor=actor)
                return Response(204)
            case "GET", ["report"]:
                return json_response(200, self.site.report())
            case "GET", ["faults"]:
                return json_response(200, self.faults.describe())
            case "POST", ["faults"]:
                self.faults.apply(_body(request))
                return Response(204)
            case "DELETE", ["faults"]:
                self.faults.clear()
                return Response(204)
            case "GET", ["clock"]:
                return json_response(200, self._clock())
            case "POST", ["clock", "advance"]:
                ms = _body(request).get("ms")
                if isinstance(ms, bool) or not isinstance(ms, int) or ms < 0:
                    raise SimError("clock/advance needs a non-negative integer 'ms'", status=400)
                self.site.clock.advance(ms)
                return json_response(200, self._clock())
        if any(_matches(shape, parts) for shape in _PATHS):
            raise SimError(f"{method} is not supported on {'/'.join(parts)}", status=405)
        raise SimError(f"no console endpoint {'/'.join(parts) or '(root)'}", status=404)

    def _clock(self) -> dict[str, Any]:
        return {"nowMs": self.site.clock.now_ms(), "speed": self.site.clock.speed}

    def _copy_msl(self, request: Request, actor: str) -> Response:
        body = _body(request)
        source, name = body.get("source"), body.get("name")
        protocol = body.get("protocol", "http")
        http_ports = body.get("httpPorts")
        if not isinstance(source, str) or not source or not isinstance(name, str) or not name:
            raise SimError("msls/copy needs 'source' and 'name' (non-empty strings)", status=400)
        if protocol not in ("http", "https"):
            raise SimError("protocol must be 'http' or 'https'", status=400)
        if http_ports is not None and (
            not isinstance(http_ports, dict)
            or not all(
                isinstance(k, str) and isinstance(v, int) and 0 < v < 65536 for k, v in http_ports.items()
            )
        ):
            raise SimError("httpPorts must map server names to port numbers", status=400)
        view = self.site.copy_msl(source, name, protocol=protocol, http_ports=http_ports, actor=actor)
        return json_response(201, msl_json(view))

    def _update_certificate(self, request: Request, server: str, actor: str) -> Response:
        body = _body(request)
        password = body.get("password")
        if password is not None and not isinstance(password, str):
            raise SimError("password must be a string", status=400)
        secret = password.encode("utf-8") if password else None
        if "pkcs12" in body:
            encoded = body["pkcs12"]
            if not isinstance(encoded, str):
                raise SimError("pkcs12 must be base64 text", status=400)
            try:
                data = base64.b64decode(encoded, validate=True)
            except binascii.Error:
                raise SimError("pkcs12 is not valid base64", status=400) from None
        else:
            cert, key = body.get("certificate"), body.get("privateKey")
            if not isinstance(cert, str) or not isinstance(key, str):
                raise SimError(
                    "send either 'pkcs12' (+ 'password') or 'certificate' and 'privateKey' (PEM)", status=400
                )
            data = cert.encode("ascii") + b"\n" + key.encode("ascii")
        cert_pem, key_pem = certs.load_keystore(data, secret)
        sha256 = self.site.update_certificate(server, cert_pem=cert_pem, key_pem=key_pem, actor=actor)
        return json_response(200, {"server": server, "sha256": sha256})


def _body(request: Request) -> dict[str, Any]:
    try:
        body = request.json()
    except (ValueError, UnicodeDecodeError):
        raise SimError("the request body is not valid JSON", status=400) from None
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise SimError("the request body must be a JSON object", status=400)
    return body
