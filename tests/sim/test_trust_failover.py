"""Whether a client fails over after a certificate failure is the scenario's truth, never its version's.

Each test makes the naive rolling update of a two-server failover site (update sepm01, wait three
heartbeats, update sepm02, wait again; no HTTP copy, secure communications left on) at engine level on a
test clock, and reads the verdict from ``Site.report()``. It orphans exactly the clients the scenario
says do not fail over, whatever their version, and nobody on an all-14.3 site.
"""

from __future__ import annotations

import pytest

from reconciler.sim.scenario import Scenario
from tests.sim.helpers import frozen_site, make_scenario, population
from tests.sim.procedures import (
    disable_secure_communication,
    ids,
    make_site,
    no_failover_clients,
    restore,
    rolling_update,
    wait_heartbeats,
)

RU1, RU2, MODERN = "14.2.3332.1000", "14.2.5323.2000", "14.3.9816.7000"


@pytest.mark.parametrize(
    ("name", "version"),
    [
        pytest.param("failover-14-2-ru1", RU1, id="14.2-RU1"),
        pytest.param("failover-14-2-ru2", RU2, id="14.2-RU2"),
        pytest.param("mixed-14-2", "14.2.1031.0100", id="14.2-MP1"),
    ],
)
def test_naive_rolling_update_orphans_the_14_2_clients(name, version):
    """On a failover site with 14.2 clients that do not fail over, the rolling update alone cuts off and
    orphans exactly those clients, and every newer client keeps checking in."""
    site = make_site(name)
    stops = no_failover_clients(site, name)
    assert stops == {c.id for c in site.computers() if c.agent_version == version}
    assert 0 < len(stops) < len(site.computers())
    rolling_update(site)
    report = site.report()
    assert ids(report["orphaned"]) == stops
    assert ids(report["cutOff"]) == stops
    assert all("does not fail over" in o["reason"] for o in report["orphaned"])


def test_naive_rolling_update_orphans_nobody_on_an_all_14_3_site():
    """The same rolling update on a failover site of newer clients only cuts off and orphans nobody."""
    site = make_site("two-server-failover")
    assert {c.agent_version[:4] for c in site.computers()} == {"14.3"}
    rolling_update(site)
    report = site.report()
    assert report["orphaned"] == []
    assert report["cutOff"] == []


@pytest.mark.parametrize("name", ["failover-14-2-ru1", "failover-14-2-ru2"])
def test_single_server_treatment_of_their_groups_saves_the_14_2_clients(name):
    """HTTP copies with secure communications off for the groups holding 14.2 clients, around the rolling
    update, orphan nobody: the scenario can be rotated safely."""
    site = make_site(name)
    stops = no_failover_clients(site, name)
    groups = {c.group_full_path for c in site.computers() if c.id in stops}
    # Inheriting subgroups follow their parent's settings: treat the group that holds them.
    treated = {g.full_path for g in site.groups() if g.full_path in groups and not g.inherits}
    treated |= {g.full_path.rsplit("\\", 1)[0] for g in site.groups() if g.full_path in groups and g.inherits}
    originals = disable_secure_communication(site, treated)
    wait_heartbeats(site)
    rolling_update(site)
    restore(site, originals)
    wait_heartbeats(site)
    report = site.report()
    assert report["orphaned"] == []
    assert report["cutOff"] == []


def two_server_site(versions: dict[str, float], fails_over: dict[str, bool]) -> Scenario:
    return make_scenario(
        "truth",
        password="Truth-Pa55",
        groups=[{"path": "My Company\\Plant", "settings": {"heartbeat_seconds": 300}}],
        clients=[
            population("My Company", 10, {"14.3.8259.5000": 1.0}),
            population("My Company\\Plant", 10, versions),
        ],
        fails_over_after_certificate_failure=fails_over,
    )


@pytest.mark.parametrize(
    ("versions", "fails_over", "orphaned"),
    [
        pytest.param({RU1: 1.0}, {}, 0, id="14.2-RU1-unstated-fails-over"),
        pytest.param({RU1: 1.0}, {RU1: True}, 0, id="14.2-RU1-stated-fails-over"),
        pytest.param({RU1: 1.0}, {RU1: False}, 10, id="14.2-RU1-stated-stops"),
        pytest.param({"14.2.1031.0100": 1.0}, {}, 0, id="14.2-MP1-unstated-fails-over"),
        pytest.param({MODERN: 1.0}, {MODERN: False}, 10, id="14.3-stated-stops"),
        pytest.param({RU1: 0.5, RU2: 0.5}, {RU2: False}, 5, id="per-version"),
    ],
)
def test_the_simulator_takes_failover_from_the_scenario_alone(versions, fails_over, orphaned):
    """Only the scenario's statement decides who stops at a certificate failure; a version alone never
    does (the default is to fail over), so a test can give the simulator a truth the controller lacks."""
    scenario = two_server_site(versions, fails_over)
    site = frozen_site(scenario, seed=5, pinned=False)
    stops = no_failover_clients(site, scenario)
    assert len(stops) == orphaned
    rolling_update(site)
    assert ids(site.report()["orphaned"]) == stops
