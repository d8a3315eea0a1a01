"""A client on an HTTP management server list reaches a server only on that server's real HTTP port.

Each test copies the site's MSL to HTTP with some port, assigns the copy with secure communications
off to one group (seed steps 1-7 for that group alone), waits three heartbeats on a frozen clock and
reads ``Site.report()``: the right port (8014, or the ``custom-http-port`` site's 8015) cuts nobody
off; a wrong one cuts off, and orphans, exactly the group's clients, which took the broken list at the
check-in that worked and can reach no server since.
"""

from __future__ import annotations

import pytest

from reconciler.sim.engine import Site
from tests.sim.procedures import ACTOR, ids, make_site, wait_heartbeats

COPY = "Default Management Server List (HTTP)"


def assign_http_copy(site: Site, group_path: str, http_ports: dict[str, int] | None) -> set[str]:
    """Copy the default MSL to HTTP with ``http_ports`` and assign it, secure communications off, to the
    group's default location; the ids of the group's clients."""
    site.copy_msl("Default Management Server List", COPY, protocol="http", http_ports=http_ports, actor=ACTOR)
    [group] = [g for g in site.groups() if g.full_path == group_path]
    site.patch_location_settings(
        group.id, group.default_location_id, msl=COPY, secure_communications=False, actor=ACTOR
    )
    return {c.id for c in site.computers() if c.group_id == group.id}


@pytest.mark.parametrize(
    ("scenario", "group", "http_ports", "cut_off"),
    [
        pytest.param("single-server", "My Company\\Sales", {"sepm01": 8014}, False, id="8014-right"),
        pytest.param("single-server", "My Company\\Sales", None, False, id="default-port-right"),
        pytest.param("single-server", "My Company\\Sales", {"sepm01": 8015}, True, id="8015-wrong"),
        pytest.param(
            "custom-http-port", "My Company\\Office", {"sepm01": 8015}, False, id="custom-8015-right"
        ),
        pytest.param("custom-http-port", "My Company\\Office", None, False, id="custom-default-port-right"),
        pytest.param(
            "custom-http-port", "My Company\\Office", {"sepm01": 8014}, True, id="custom-8014-wrong"
        ),
        pytest.param(
            "two-server-failover",
            "My Company\\Branches",
            {"sepm01": 8080, "sepm02": 8081},
            True,
            id="failover-both-wrong",
        ),
        pytest.param(
            "two-server-failover", "My Company\\Branches", {"sepm01": 8080}, False, id="failover-one-wrong"
        ),
    ],
)
def test_an_http_copy_works_only_with_the_servers_http_port(scenario, group, http_ports, cut_off):
    """An HTTP copy carrying a port a server does not listen on cuts the group's clients off and orphans
    them; one carrying the server's HTTP port (or the copy's default, the server's port) does not."""
    site = make_site(scenario)
    members = assign_http_copy(site, group, http_ports)
    assert members
    wait_heartbeats(site)
    report = site.report()
    if cut_off:
        assert ids(report["cutOff"]) == members
        assert ids(report["orphaned"]) == members
        assert all("port-unreachable" in run["reason"] for run in report["cutOff"])
    else:
        assert report["cutOff"] == []
        assert report["orphaned"] == []


def test_clients_on_a_wrong_port_stay_cut_off_after_the_original_list_is_restored():
    """Restoring the original MSL does not bring back clients that can no longer reach any server: they
    never download the restored policy."""
    site = make_site("custom-http-port")
    members = assign_http_copy(site, "My Company\\Office", {"sepm01": 8014})
    wait_heartbeats(site)
    [office] = [g for g in site.groups() if g.full_path == "My Company\\Office"]
    site.patch_location_settings(
        office.id,
        office.default_location_id,
        msl="Default Management Server List",
        secure_communications=True,
        actor=ACTOR,
    )
    wait_heartbeats(site)
    report = site.report()
    assert ids(report["orphaned"]) == members
    stuck = [run for run in report["cutOff"] if run["id"] in members]
    assert len(stuck) == len(members)
    assert all(run["to"] is None and "port-unreachable" in run["reason"] for run in stuck)
