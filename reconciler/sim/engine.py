"""The simulated SEPM site: the engine API the REST, console and TLS layers call.

`Site` is assembled from one module per concept, so that each piece is found by its file name:
- ``site_state``: what a site is made of, its lock and the change protocol; the contract every part
  keeps (locking, simulated times, when serials are bumped) is stated there;
- ``site_config``: changes an administrator makes (location settings, groups, MSLs, replication);
- ``site_servers``: what each server presents and whether it answers (certificate updates, outages,
  corrupted ports) and the certificate-change callbacks the listeners follow;
- this module: the site built from a scenario, its reads and its report.

Reads (``computers``, ``report``) first play every client's check-ins up to now; views are copies
(``reconciler.sim.views``). Errors: ``NotFound`` (404) and ``Refused`` (400), both ``SimError``;
messages never carry secrets. Validation happens before anything changes (``reconciler.sim.edits``).
"""

from __future__ import annotations

import hmac
from typing import Any, Literal

from reconciler.sim.clock import SimClock
from reconciler.sim.computers import computer_views
from reconciler.sim.errors import NotFound, Refused, SimError
from reconciler.sim.report import build_report
from reconciler.sim.scenario import Scenario
from reconciler.sim.site_config import SiteConfig
from reconciler.sim.site_servers import SiteServers
from reconciler.sim.site_views import msl_view, replication_status, server_view
from reconciler.sim.views import (
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


class Site(SiteConfig, SiteServers):
    """A simulated SEPM site: servers, MSLs, groups, locations and clients on a simulated clock."""

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

    # -- report --------------------------------------------------------------------------------
    def report(self) -> dict[str, Any]:
        """What happened so far: cut-offs, orphans, insecure windows, events (``reconciler.sim.report``)."""
        with self._lock:
            now = self.clock.now_ms()
            self._population.advance_all(now)
            return build_report(
                now=now, topology=self._topology, population=self._population, history=self._history
            )
