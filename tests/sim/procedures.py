"""The seed's procedures (PROCEDURE.md) done by hand on an engine Site, for the trust-model tests.

A site on a frozen clock (`make_site`), waits as simulated time (`wait_heartbeats`), and the steps an
operator following the seed takes: HTTP copies assigned with secure communications off
(`disable_secure_communication`), certificate updates (`update`), the rolling update of two servers
(`rolling_update`), the originals restored (`restore`). Setup only: the tests keep what they check.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from reconciler.sim.engine import LocationSettingsView, Site
from reconciler.sim.scenario import Scenario
from reconciler.sim.scenario_files import load_scenario
from tests.sim.helpers import certificate, frozen_site

ACTOR = "operator"


def make_site(scenario: str, *, seed: int = 7) -> Site:
    # A clock that only moves when the test advances it: the waits below are simulated. Fresh
    # certificates: a rotation below installs `certificate(server)`, which must differ from today's.
    return frozen_site(scenario, seed=seed, pinned=False)


def wait_heartbeats(site: Site, cycles: int = 3) -> None:
    """Wait ``cycles`` times the longest heartbeat in force anywhere on the site."""
    longest = max(
        site.location_settings(g.id, loc.id).heartbeat_seconds
        for g in site.groups()
        for loc in site.locations(g.id)
    )
    site.clock.advance(cycles * longest * 1000)


def own_settings(
    site: Site, paths: Iterable[str] | None = None
) -> list[tuple[str, str, LocationSettingsView]]:
    """(group id, location id, settings) of every location with settings of its own in a
    non-inheriting group: what the seed says to change ("every group, and every location")."""
    wanted = set(paths) if paths is not None else None
    out = []
    for g in site.groups():
        if g.inherits or (wanted is not None and g.full_path not in wanted):
            continue
        for loc in site.locations(g.id):
            settings = site.location_settings(g.id, loc.id)
            if not settings.uses_group_settings:
                out.append((g.id, loc.id, settings))
    return out


def disable_secure_communication(site: Site, paths: Iterable[str] | None = None) -> list[Any]:
    """Seed steps 1-7 for these groups: HTTP copies of the MSLs in use, assigned, secure off."""
    originals = own_settings(site, paths)
    existing = {m.name for m in site.msls()}
    for name in sorted({s.msl for _g, _l, s in originals}):
        if f"{name} (HTTP)" not in existing:
            site.copy_msl(name, f"{name} (HTTP)", protocol="http", actor=ACTOR)
    for gid, lid, s in originals:
        site.patch_location_settings(
            gid, lid, msl=f"{s.msl} (HTTP)", secure_communications=False, actor=ACTOR
        )
    return originals


def restore(site: Site, originals: list[Any]) -> None:
    """Seed step 9: secure communication back on and the original MSLs, exactly as they were."""
    for gid, lid, s in originals:
        site.patch_location_settings(
            gid, lid, msl=s.msl, secure_communications=s.secure_communications, actor=ACTOR
        )


def update(site: Site, server: str) -> str:
    cert, key = certificate(server)
    return site.update_certificate(server, cert_pem=cert, key_pem=key, actor=ACTOR)


def single_server_procedure(site: Site, servers: list[str]) -> None:
    originals = disable_secure_communication(site)
    wait_heartbeats(site)
    for server in servers:
        update(site, server)
    wait_heartbeats(site)
    restore(site, originals)
    wait_heartbeats(site)


def ids(entries: list[dict[str, Any]]) -> set[str]:
    return {e["id"] for e in entries}


def no_failover_clients(site: Site, scenario: str | Scenario) -> set[str]:
    """Ids of the clients whose agent version the scenario says does not fail over."""
    truth = load_scenario(scenario) if isinstance(scenario, str) else scenario
    return {c.id for c in site.computers() if not truth.fails_over(c.agent_version)}


def rolling_update(site: Site) -> None:
    """The multi-server method alone: sepm01, three heartbeats, sepm02, three heartbeats."""
    update(site, "sepm01")
    wait_heartbeats(site)
    update(site, "sepm02")
    wait_heartbeats(site)
