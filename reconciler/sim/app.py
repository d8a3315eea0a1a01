"""`Simulator`: a whole simulated SEPM site on loopback, the way tests, the demo and the CLI run it.

Contract:
- ``Simulator(scenario, speed=, seed=, host=)`` loads the scenario (a `Scenario`, a shipped name such
  as ``"single-server"``, or a path) and builds the site at once, so ``site`` and ``faults`` can be
  used before ``start()``. Only loopback hosts are accepted.
- ``start()`` binds, for every server, one TLS listener per port kind (``https`` client port,
  ``console``, ``rest``) presenting that port's current certificate, and a plain listener on the
  ``http`` port answering 200 to ``/``; plus one control listener (``consoleUrl``) with a certificate
  of its own that serves the console API and that faults never take down. Ports are the scenario's
  fixed ``listen`` ports when given, free ports otherwise.
- Certificates: the engine calls back on every certificate change; the matching listeners swap their
  TLS context by reference (new connections see the new certificate, open ones finish on the old).
  A corrupted-certificate fault refreshes the same way.
- Outages: take a server down with ``faults.server_down`` (or the console), not with
  ``site.set_server_down`` alone: the listeners follow the switchboard, which also tells the engine.
- ``endpoints`` is the JSON-able description published by ``sepm-reconciler simulate``::

      {"site", "restUrl", "consoleUrl", "consoleCertificate" (PEM of the control listener),
       "username", "password", "domain", "speed",
       "servers": {name: {"address", "https", "http", "console", "rest" (bound ports), "sha256",
                          "nominalPorts": {...} (what MSL entries carry)}}}

  It holds the admin password: whoever writes it to disk must keep it private (the CLI writes 0600).
- ``stop()`` closes every listener and open connection; it is idempotent. The object is a context
  manager (start on enter, stop on exit).
"""

from __future__ import annotations

import functools
import ipaddress
import threading
from pathlib import Path
from typing import Any

from reconciler.sim.clock import SimClock
from reconciler.sim.console import CONSOLE_PREFIX, ConsoleApi
from reconciler.sim.engine import Site
from reconciler.sim.faults import Faults
from reconciler.sim.http import Handler, Listener, Request, Response, json_response
from reconciler.sim.rest import API_PREFIX, RestApi
from reconciler.sim.rest_auth import Sessions
from reconciler.sim.scenario import Scenario
from reconciler.sim.scenario_files import load_scenario
from reconciler.sim.tls import CertificateSlot, control_certificate
from reconciler.sim.views import TLS_PORT_KINDS, ServerView

PORT_KINDS = ("https", "http", "console", "rest")


def _client_port(request: Request) -> Response:
    """The client communication port (443 / 8014): reachable, nothing more to simulate over HTTP."""
    if request.path in ("", "/"):
        return Response(200, b"SEPM simulator: client communication port\n", content_type="text/plain")
    return json_response(404, {"error": "the simulator serves only / on the client ports"})


class Simulator:
    """A simulated SEPM site served over real HTTPS on loopback."""

    def __init__(
        self, scenario: Scenario | str | Path, *, speed: float = 1.0, seed: int = 0, host: str = "127.0.0.1"
    ) -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"the simulator listens on loopback addresses only, not {host}")
        self.scenario = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
        self.host = host
        self.speed = speed
        self.site = Site.from_scenario(self.scenario, clock=SimClock(speed=speed), seed=seed)
        self.sessions = Sessions(self.site)
        self.faults = Faults(
            self.site,
            seed=seed,
            expire_tokens=self.sessions.revoke_all,
            server_changed=self._refresh_server,
        )
        self.rest = RestApi(self.site, sessions=self.sessions, faults=self.faults)
        self.console = ConsoleApi(self.site, faults=self.faults)
        self._listeners: dict[tuple[str, str], Listener] = {}
        self._slots: dict[tuple[str, str], CertificateSlot] = {}
        self._control: Listener | None = None
        self._control_cert_pem = b""
        self._started = False
        # Registered before any listener exists, so no certificate change can slip between the two.
        self.site.on_certificate_change(self._refresh_server)

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        if self._started:
            return
        try:
            for view in self.site.servers():
                self._start_server(view)
            cert_pem, key_pem = control_certificate(self.host)
            self._control_cert_pem = cert_pem
            self._control = Listener(
                name="control",
                host=self.host,
                port=0,
                handler=self.console,
                slot=CertificateSlot(cert_pem, key_pem),
                now_ms=self.site.clock.now_ms,
            )
            self._control.start()
        except BaseException:
            self.stop()
            raise
        self._started = True

    def _start_server(self, view: ServerView) -> None:
        for kind in PORT_KINDS:
            slot: CertificateSlot | None = None
            if kind in TLS_PORT_KINDS:
                slot = CertificateSlot(*_port_pair(view, kind))
                self._slots[(view.name, kind)] = slot
            handlers: dict[str, Handler] = {"rest": self.rest, "console": self.console}
            handler = handlers.get(kind, _client_port)
            listener = Listener(
                name=f"{view.name}:{kind}",
                host=self.host,
                port=view.listen_ports.get(kind, 0),
                handler=handler,
                slot=slot,
                now_ms=self.site.clock.now_ms,
                is_down=functools.partial(self.faults.is_down, view.name),
            )
            self._listeners[(view.name, kind)] = listener
            listener.start()

    def stop(self) -> None:
        listeners = list(self._listeners.values())
        if self._control is not None:
            listeners.append(self._control)
        # In parallel: each listener's accept loop takes up to its poll interval to notice the stop.
        stoppers = [threading.Thread(target=listener.stop) for listener in listeners]
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join()
        self._listeners.clear()
        self._control = None
        self._started = False

    def __enter__(self) -> Simulator:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- certificates and outages ---------------------------------------------------------------

    def _refresh_server(self, server: str) -> None:
        """Bring one server's listeners in line with the engine: certificates presented, reachability."""
        view = next((v for v in self.site.servers() if v.name == server), None)
        if view is None:
            return
        for kind in TLS_PORT_KINDS:
            slot = self._slots.get((server, kind))
            if slot is not None:
                slot.replace(*_port_pair(view, kind))
        if self.faults.is_down(server):
            for kind in PORT_KINDS:
                listener = self._listeners.get((server, kind))
                if listener is not None:
                    listener.drop_connections()

    # -- what clients of the simulator need -----------------------------------------------------

    def port(self, server: str, kind: str) -> int:
        """The loopback port bound for one server's port kind (after start)."""
        return self._listeners[(server, kind)].port

    @property
    def endpoints(self) -> dict[str, Any]:
        if not self._started or self._control is None:
            raise RuntimeError("the simulator is not running; call start() first")
        views = self.site.servers()
        first = views[0].name
        return {
            "site": self.site.name,
            "restUrl": f"https://{self.host}:{self.port(first, 'rest')}{API_PREFIX}",
            "consoleUrl": f"https://{self.host}:{self._control.port}{CONSOLE_PREFIX}",
            "consoleCertificate": self._control_cert_pem.decode("ascii"),
            "username": self.site.admin_username,
            "password": self.site.admin_password,
            "domain": "",
            "speed": self.site.clock.speed,
            "servers": {
                view.name: {
                    "address": self.host,
                    **{kind: self.port(view.name, kind) for kind in PORT_KINDS},
                    "sha256": view.fingerprint,
                    "nominalPorts": dict(view.ports),
                }
                for view in views
            },
        }


def _port_pair(view: ServerView, kind: str) -> tuple[bytes, bytes]:
    """(certificate, key) one TLS port presents: the server's pair, or another under the
    corrupted-certificate fault (the engine hands the matching key in ``port_key_pem``)."""
    cert_pem = view.port_cert_pem.get(kind, view.cert_pem)
    return cert_pem, view.port_key_pem.get(kind, view.key_pem)
