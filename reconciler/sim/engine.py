"""The simulated SEPM site: the engine API the REST, console and TLS layers call.

Contract:
- Every public method takes the site's one ``threading.RLock``; the HTTP layer may call from many
  threads. Certificate-change callbacks run after the lock is released.
- Times are epoch milliseconds of the simulated clock (``Site.clock``).
- Reads (``computers``, ``report``) first play every client's check-ins up to now. A change first plays
  the check-ins of the clients it can affect up to the change's instant, under the old state, then
  applies itself (``_changing``): check-ins at the very instant of a change see the state before it.
- Policy serials of a group and its inheriting descendants are bumped at every setting change of the
  group; every group's at a certificate change (MSLs carry the servers' certificates). A patch that
  changes nothing saves nothing and bumps nothing.
- Errors: ``NotFound`` (404) and ``Refused`` (400), both ``SimError``; messages never carry secrets.
  Validation happens before anything changes (``reconciler.sim.edits``).

Faults the engine owns (a server down, a port presenting another certificate) are changes like any
other: they take effect for check-ins after the instant they are switched.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal

from reconciler.sim import edits
from reconciler.sim.build import build_site, new_id
from reconciler.sim.certs import fingerprint, generate_self_signed
from reconciler.sim.clock import SimClock
from reconciler.sim.computers import computer_views
from reconciler.sim.errors import NotFound, Refused, SimError
from reconciler.sim.report import History, build_report
from reconciler.sim.scenario import Scenario
from reconciler.sim.serial import format_serial, next_serial_ms
from reconciler.sim.site_views import group_view, msl_view, replication_status, server_view
from reconciler.sim.topology import Group
from reconciler.sim.views import (
    TLS_PORT_KINDS,
    ComputerView,
    GroupView,
    LocationSettingsView,
    LocationView,
    MslEntry,
    MslView,
    ServerView,
)

__all__ = [
    "ComputerView",
    "GroupView",
    "LocationSettingsView",
    "LocationView",
    "MslEntry",
    "MslView",
    "NotFound",
    "Refused",
    "ServerView",
    "SimClock",
    "SimError",
    "Site",
]

API_VERSION = {"API_SEQUENCE": "230504014", "API_VERSION": "14.3.7000"}


class Site:
    """A simulated SEPM site: servers, MSLs, groups, locations and clients on a simulated clock."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        clock: SimClock,
        seed: int = 0,
        certificates: dict[str, tuple[bytes, bytes]] | None = None,
    ) -> None:
        self._lock = threading.RLock()
        self.clock = clock
        self.scenario = scenario
        self.seed = seed
        built = build_site(scenario, start_ms=clock.now_ms(), seed=seed, certificates=certificates)
        self._topology, self._population, self.start_ms = built.topology, built.population, built.start_ms
        self._history = History(topology=self._topology, start_ms=self.start_ms)
        self.name = scenario.site
        self.site_id = new_id(built.rng)
        self.domain_id = new_id(built.rng)
        self.domain_name = scenario.domain
        self.admin_username = scenario.admin.username
        given = scenario.admin.password
        self.admin_password = given.get_secret_value() if given is not None else secrets.token_urlsafe(18)
        self._replication_broken_since: int | None = None
        self._callbacks: list[Callable[[str], None]] = []

    @classmethod
    def from_scenario(
        cls,
        scenario: Scenario,
        *,
        clock: SimClock,
        seed: int = 0,
        certificates: dict[str, tuple[bytes, bytes]] | None = None,
    ) -> Site:
        """A site in the scenario's starting state; ``certificates`` pins servers' initial certificates."""
        return cls(scenario, clock=clock, seed=seed, certificates=certificates)

    def __repr__(self) -> str:
        size = f"servers={len(self._topology.servers)}, clients={len(self._population.clients)}"
        return f"Site(name={self.name!r}, {size})"

    # -- reads ---------------------------------------------------------------------------------
    def version(self) -> dict[str, str]:
        return {**API_VERSION, "version": self.scenario.version}

    def authenticate(self, username: str, password: str) -> bool:
        """The credential check alone (constant time); lockout lives in the REST layer."""
        user_ok = hmac.compare_digest(username.encode(), self.admin_username.encode())
        password_ok = hmac.compare_digest(password.encode(), self.admin_password.encode())
        return user_ok and password_ok

    def servers(self) -> list[ServerView]:
        with self._lock:
            return [server_view(s) for s in self._topology.servers.values()]

    def groups(self) -> list[GroupView]:
        """Every group, root first, in tree order."""
        with self._lock:
            return [self._group_view(g) for g in self._topology.tree_order()]

    def _group_view(self, g: Group) -> GroupView:
        return group_view(g, computers=self._population.group_size(g))

    def locations(self, group_id: str) -> list[LocationView]:
        with self._lock:
            g = self._topology.group(group_id)
            return [LocationView(loc.id, loc.name, g.id) for loc in g.locations]

    def location_settings(self, group_id: str, location_id: str) -> LocationSettingsView:
        """The effective settings (an inheriting group's are its parent's)."""
        with self._lock:
            g = self._topology.group(group_id)
            loc = g.location(location_id)
            s = self._topology.effective(g, loc)
            mode: Literal["PULL", "PUSH"] = "PUSH" if s.mode == "PUSH" else "PULL"
            return LocationSettingsView(
                s.msl, s.secure_communications, s.heartbeat_seconds, mode, loc.own is None
            )

    def computers(self, *, updated_since_ms: int | None = None) -> list[ComputerView]:
        """Every client as of now (``updated_since_ms``: only those whose lastUpdateTime is later, as SEPM's
        ``lastUpdate`` filter)."""
        with self._lock:
            now = self.clock.now_ms()
            self._population.advance_all(now)
            server_ids = {s.name: s.id for s in self._topology.servers.values()}
            return computer_views(
                self._population,
                now,
                updated_since_ms=updated_since_ms,
                site_name=self.name,
                server_ids=server_ids,
            )

    def msls(self) -> list[MslView]:
        with self._lock:
            return [msl_view(self._topology, m) for m in self._topology.msls.values()]

    def replication_status(self) -> dict[str, Any]:
        """SEPM's ReplicationStatusResponse: this site and its replication partners."""
        with self._lock:
            return replication_status(
                site_id=self.site_id,
                site_name=self.name,
                partners=list(self.scenario.replication_partners),
                broken_since=self._replication_broken_since,
                now=self.clock.now_ms(),
            )

    @property
    def replication_broken(self) -> bool:
        return self._replication_broken_since is not None

    # -- changes -------------------------------------------------------------------------------
    @contextmanager
    def _changing(self, groups: list[Group] | None, *, bump: bool) -> Iterator[int]:
        """Play the affected clients up to now, yield the change time, then bump serials and forget
        memos. ``groups`` None means every group (server and certificate changes)."""
        scope = self._topology.groups if groups is None else groups
        t = self.clock.now_ms()
        self._population.advance(scope, t)
        self._population.settle_before_change(scope, t)
        yield t
        if bump:
            for g in scope:
                g.serial_ms = next_serial_ms(g.serial_ms, t)
                g.serial = format_serial(g.id, g.serial_ms)
        self._topology.invalidate()
        self._population.reset()
        self._history.note_security(scope, t)

    def patch_location_settings(
        self,
        group_id: str,
        location_id: str,
        *,
        msl: str | None = None,
        secure_communications: bool | None = None,
        heartbeat_seconds: int | None = None,
        mode: str | None = None,
        actor: str,
    ) -> None:
        """Change a location's own settings; Refused for inheriting groups and unknown MSLs."""
        with self._lock:
            g = self._topology.group(group_id)
            loc = g.location(location_id)
            after = edits.patched_settings(
                self._topology,
                g,
                loc,
                msl=msl,
                secure_communications=secure_communications,
                heartbeat_seconds=heartbeat_seconds,
                mode=mode,
            )
            before = loc.own
            if before is None or after == before:
                return  # nothing to save: SEPM's policy (and its serial) stay as they are
            with self._changing(self._topology.scope(g), bump=True) as t:
                loc.own = after
                g.modified_ms = t
            self._history.record(
                t,
                actor=actor,
                action="patch-location-settings",
                target=g.where(loc),
                before=edits.settings_dict(before),
                after=edits.settings_dict(after),
            )

    def patch_group(
        self,
        group_id: str,
        *,
        inherits: bool | None = None,
        name: str | None = None,
        description: str | None = None,
        actor: str,
    ) -> GroupView:
        """Rename, describe, or switch policy inheritance (which bumps the serials of its scope)."""
        with self._lock:
            g = self._topology.group(group_id)
            edits.check_group_patch(g, inherits=inherits, name=name)
            now = self.clock.now_ms()
            if name is not None and name != g.name:
                path_before, g.name = g.full_path, name
                self._population.forget_views(self._topology.descendants(g))
                self._history.record(now, actor=actor, action="rename-group", target=path_before, after=name)
            if description is not None and description != g.description:
                self._history.record(
                    now,
                    actor=actor,
                    action="describe-group",
                    target=g.full_path,
                    before=g.description,
                    after=description,
                )
                g.description = description
            if inherits is not None and inherits != g.inherits:
                with self._changing(self._topology.scope(g), bump=True) as t:
                    if not inherits:
                        kept = edits.own_settings_after_inheriting(self._topology, g)
                        for loc, own in zip(g.locations, kept, strict=True):
                            loc.own = own
                    g.inherits = inherits
                    g.modified_ms = t
                self._history.record(
                    t,
                    actor=actor,
                    action="set-inheritance",
                    target=g.full_path,
                    before=not inherits,
                    after=inherits,
                )
            return self._group_view(g)

    def copy_msl(
        self,
        source: str,
        new_name: str,
        *,
        protocol: str = "http",
        http_ports: dict[str, int] | None = None,
        actor: str,
    ) -> MslView:
        """Copy an MSL (console: Copy the List, Paste, edit protocol and HTTP ports). Assigning it is a
        location-settings patch; until then no client is affected."""
        with self._lock:
            copy = edits.msl_copy(self._topology, source, new_name, protocol=protocol, http_ports=http_ports)
            self._topology.msls[new_name] = copy
            self._history.record(
                self.clock.now_ms(),
                actor=actor,
                action="copy-msl",
                target=new_name,
                before=source,
                after={"protocol": protocol, "entries": [list(e) for e in copy.entries]},
            )
            return msl_view(self._topology, copy)

    def delete_msl(self, name: str, *, actor: str) -> None:
        """Delete an MSL; Refused while it is assigned to any group or location."""
        with self._lock:
            edits.check_msl_deletable(self._topology, name)
            del self._topology.msls[name]
            self._history.record(self.clock.now_ms(), actor=actor, action="delete-msl", target=name)

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

    def break_replication(self, *, actor: str) -> None:
        with self._lock:
            now = self.clock.now_ms()
            if self._replication_broken_since is None:
                self._replication_broken_since = now
            self._history.record(now, actor=actor, action="break-replication", target=self.name)

    def restore_replication(self, *, actor: str) -> None:
        with self._lock:
            self._replication_broken_since = None
            self._history.record(
                self.clock.now_ms(), actor=actor, action="restore-replication", target=self.name
            )

    # -- faults --------------------------------------------------------------------------------
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

    # -- report --------------------------------------------------------------------------------
    def report(self) -> dict[str, Any]:
        """What happened so far: cut-offs, orphans, insecure windows, events (``reconciler.sim.report``)."""
        with self._lock:
            now = self.clock.now_ms()
            self._population.advance_all(now)
            return build_report(
                now=now, topology=self._topology, population=self._population, history=self._history
            )
