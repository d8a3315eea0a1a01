"""The trust model against the seed's procedures (PROCEDURE.md), at engine level on a test clock.

Each test drives a shipped scenario through a rotation the way an operator following the seed would,
with ``SimClock.advance`` standing in for the waits, and reads the verdict from ``Site.report()``.
"""

from __future__ import annotations

import pytest

from reconciler.sim.scenario_files import parse_scenario
from tests.sim.helpers import START, frozen_site
from tests.sim.procedures import (
    disable_secure_communication,
    ids,
    make_site,
    no_failover_clients,
    own_settings,
    restore,
    single_server_procedure,
    update,
    wait_heartbeats,
)


def test_naive_rotation_orphans_every_online_client():
    """Updating the only server's certificate with secure communication on orphans every client."""
    site = make_site("single-server")
    everyone = {c.id for c in site.computers()}
    update(site, "sepm01")
    wait_heartbeats(site)
    report = site.report()
    assert ids(report["orphaned"]) == everyone
    assert ids(report["cutOff"]) == everyone
    assert all(run["to"] is None and "tls-certificate-mismatch" in run["reason"] for run in report["cutOff"])
    assert report["missedCheckIns"] >= 2 * len(everyone)


@pytest.mark.parametrize(
    ("scenario", "servers"),
    [
        pytest.param("single-server", ["sepm01"], id="single-server"),
        pytest.param("nested-overrides", ["sepm01"], id="nested-overrides"),
        pytest.param("custom-http-port", ["sepm01"], id="custom-http-port"),
        pytest.param("already-insecure", ["sepm01"], id="already-insecure"),
        pytest.param("one-server-msl", ["sepm01", "sepm02"], id="one-server-msl"),
    ],
)
def test_single_server_procedure_orphans_nobody(scenario, servers):
    """The seed's single-server method rotates without a missed check-in and restores the settings."""
    site = make_site(scenario)
    before = {(gid, lid): s for gid, lid, s in own_settings(site)}
    single_server_procedure(site, servers)
    report = site.report()
    assert report["orphaned"] == []
    assert report["cutOff"] == []
    assert report["missedCheckIns"] == 0
    assert {(gid, lid): s for gid, lid, s in own_settings(site)} == before
    # Every client now holds its group's current policy, signed with the new certificates.
    serials = {g.id: g.policy_serial for g in site.groups()}
    assert all(c.profile_serial == serials[c.group_id] for c in site.computers())


def test_single_server_procedure_opens_and_closes_insecure_windows():
    """Groups switched off for the rotation get a closed window; a group insecure before stays open."""
    site = make_site("already-insecure")
    site.clock.advance(60_000)
    single_server_procedure(site, ["sepm01"])
    windows = site.report()["insecureWindows"]
    assert windows["My Company\\Lab"] == [[START, None]]
    for path in ("My Company", "My Company\\Office", "My Company\\Default Group"):
        [[opened, closed]] = windows[path]
        assert opened == START + 60_000
        assert closed == opened + 2 * 3 * 300_000  # the two waits of three 300 s heartbeats


def test_multi_server_procedure_orphans_no_newer_client():
    """The rolling update of two servers with failover keeps every newer client (none even misses)."""
    site = make_site("two-server-failover")
    update(site, "sepm01")
    wait_heartbeats(site)
    update(site, "sepm02")
    wait_heartbeats(site)
    report = site.report()
    assert report["orphaned"] == []
    assert report["cutOff"] == []
    assert {c.last_server_name for c in site.computers()} == {"sepm01"}


def test_multi_server_procedure_orphans_legacy_clients():
    """On the mixed site the rolling update alone orphans exactly the 14.2 clients."""
    site = make_site("mixed-14-2")
    legacy = no_failover_clients(site, "mixed-14-2")
    assert legacy
    update(site, "sepm01")
    wait_heartbeats(site)
    update(site, "sepm02")
    wait_heartbeats(site)
    report = site.report()
    assert ids(report["orphaned"]) == legacy
    assert all("does not fail over" in o["reason"] for o in report["orphaned"])


def test_mixed_procedure_wraps_legacy_groups_and_orphans_nobody():
    """Single-server treatment of the groups holding 14.2 clients around the rolling update saves them."""
    site = make_site("mixed-14-2")
    legacy = no_failover_clients(site, "mixed-14-2")
    legacy_groups = {c.group_full_path for c in site.computers() if c.id in legacy}
    assert legacy_groups == {"My Company\\Factory"}
    originals = disable_secure_communication(site, legacy_groups)
    wait_heartbeats(site)
    update(site, "sepm01")
    wait_heartbeats(site)
    update(site, "sepm02")
    wait_heartbeats(site)
    restore(site, originals)
    wait_heartbeats(site)
    report = site.report()
    assert report["orphaned"] == []
    assert report["cutOff"] == []


ABSENT = """
site: absent
admin: {username: admin}
servers: [{name: sepm01}]
msls: [{name: Default, entries: [{server: sepm01}]}]
groups:
  - path: My Company
    settings: {msl: Default, secure_communications: true, heartbeat_seconds: 300, mode: PULL}
clients:
  - {group: My Company, count: 20, versions: {"14.3.9816.7000": 1.0}}
  - {group: My Company, count: 5, versions: {"14.3.9816.7000": 1.0}, name_prefix: AWAY,
     schedule: {offline: {from_seconds: 60, to_seconds: 20000}}}
  - {group: My Company, count: 3, versions: {"14.3.9816.7000": 1.0}, name_prefix: DORMANT,
     schedule: {dormant_days: 30}}
"""


def test_clients_absent_during_the_whole_rotation_are_orphaned_and_reported():
    """Offline-throughout and dormant clients miss the procedure; report() names them, nobody else."""
    site = frozen_site(parse_scenario(ABSENT), seed=3, pinned=False)
    names = {c.id: c.name for c in site.computers()}
    site.clock.advance(120_000)  # the AWAY clients are gone now
    single_server_procedure(site, ["sepm01"])
    assert site.clock.now_ms() < START + 20_000_000
    site.clock.advance(START + 21_000_000 - site.clock.now_ms())  # back online, one check-in later
    report = site.report()
    orphaned = {names[o["id"]].split("-")[0] for o in report["orphaned"]}
    assert len(report["orphaned"]) == 8
    assert orphaned == {"AWAY", "DORMANT"}
    returned = [run for run in report["cutOff"] if names[run["id"]].startswith("AWAY")]
    assert len(returned) == 5
    assert all(run["from"] == START + 20_000_000 and run["to"] is None for run in returned)
    online = {names[o["id"]].split("-")[0]: o["online"] for o in report["orphaned"]}
    assert online == {"AWAY": True, "DORMANT": False}
