"""What each server of a simulated site presents and whether it answers: certificates and outages.

A certificate update (console) replaces a server's certificate on every port and bumps every group's
policy serial (MSLs carry the certificates). The faults the engine owns change servers too, without a
bump: a server down is skipped by clients (the listeners stop answering on its ports), a corrupted
port presents another certificate than the server's other ports until repaired or the next update.

Whoever serves the ports (``reconciler.sim.app``) follows through ``on_certificate_change``: callbacks
run after every change of what a server's ports present, outside the site lock, so that they may call
back into the site.
"""

from __future__ import annotations

from collections.abc import Callable

from reconciler.sim import edits
from reconciler.sim.certs import fingerprint, generate_self_signed
from reconciler.sim.errors import Refused
from reconciler.sim.site_state import SiteState
from reconciler.sim.views import TLS_PORT_KINDS


class SiteServers(SiteState):
    """Certificate updates, outages and corrupted ports of the site's servers."""

    def update_certificate(self, server: str, *, cert_pem: bytes, key_pem: bytes, actor: str) -> str:
        """Replace a server's certificate on every port; returns the new fingerprint."""
        with self._lock:
            srv = self._topology.server(server)
            new_fp = edits.checked_certificate(srv, cert_pem, key_pem)
            if new_fp == srv.fingerprint and not srv.port_overrides:
                return new_fp
            old_fp = srv.fingerprint
            with self._changing(None, bump=True) as t:
                srv.cert_pem, srv.key_pem, srv.fingerprint = cert_pem, key_pem, new_fp
                srv.port_overrides.clear()
            self._history.record(
                t, actor=actor, action="update-certificate", target=server, before=old_fp, after=new_fp
            )
        self._notify(server)
        return new_fp

    def set_server_down(self, server: str, down: bool) -> None:
        """Clients skip a down server; the TLS/REST layer stops answering on its ports."""
        with self._lock:
            srv = self._topology.server(server)
            if srv.down == down:
                return
            with self._changing(None, bump=False) as t:
                srv.down = down
            self._history.record(
                t, actor="fault", action="server-down", target=server, before=not down, after=down
            )

    def corrupt_certificate(self, server: str, port_kind: str) -> None:
        """Make one TLS port present a different certificate (same name, other key): ports disagree."""
        if port_kind not in TLS_PORT_KINDS:
            raise Refused(f"port kind must be one of {', '.join(TLS_PORT_KINDS)} (got {port_kind!r})")
        with self._lock:
            self._topology.server(server)
        cert_pem, key_pem = generate_self_signed(server)  # slow: outside the lock
        with self._lock:
            srv = self._topology.server(server)
            corrupt_fp = fingerprint(cert_pem)
            with self._changing(None, bump=False) as t:
                srv.port_overrides[port_kind] = (cert_pem, corrupt_fp, key_pem)
            self._history.record(
                t,
                actor="fault",
                action="corrupt-certificate",
                target=f"{server}:{port_kind}",
                before=srv.fingerprint,
                after=corrupt_fp,
            )
        self._notify(server)

    def repair_certificate(self, server: str) -> None:
        """Undo ``corrupt_certificate``: every port presents the current certificate again."""
        with self._lock:
            srv = self._topology.server(server)
            if not srv.port_overrides:
                return
            with self._changing(None, bump=False) as t:
                srv.port_overrides.clear()
            self._history.record(t, actor="fault", action="repair-certificate", target=server)
        self._notify(server)

    def on_certificate_change(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(server name)`` after any change of what a server's ports present."""
        with self._lock:
            self._callbacks.append(callback)

    def _notify(self, server: str) -> None:
        with self._lock:
            callbacks = list(self._callbacks)
        for callback in callbacks:
            callback(server)
