"""Shipped scenarios load, build into the site they describe, and bad scenarios fail with file:line:field."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest

from reconciler.sim.clock import SimClock
from reconciler.sim.engine import Site
from reconciler.sim.scenario_files import ScenarioError, load_scenario, parse_scenario, shipped_scenarios
from tests.sim.helpers import SHIPPED, START, certificate, frozen_site


@functools.cache
def site_of(name: str) -> Site:
    # Pinned certificates: building the large site should not wait on RSA key generation.
    return frozen_site(name, seed=11)


def test_every_required_scenario_is_shipped():
    """The package ships the scenarios the demo, the tests and the benchmarks name."""
    assert set(SHIPPED) <= set(shipped_scenarios())


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_scenario_builds_as_declared(name):
    """Each shipped scenario builds a site with its declared groups and exactly its declared clients."""
    scenario = load_scenario(name)
    site = site_of(name)
    groups = site.groups()
    assert groups[0].full_path == "My Company"
    declared = {g.path for g in scenario.groups}
    assert declared <= {g.full_path for g in groups}
    expected_clients = sum(p.count for p in scenario.clients) + (
        scenario.generate.clients if scenario.generate else 0
    )
    assert sum(g.computers for g in groups) == expected_clients
    assert len(site.computers()) == expected_clients
    assert {s.name for s in site.servers()} == {s.name for s in scenario.servers}


@pytest.mark.parametrize(
    ("name", "clients", "groups", "servers"),
    [
        pytest.param("single-server", (250, 350), 4, 1, id="single-server"),
        pytest.param("two-server-failover", (350, 450), None, 2, id="two-server-failover"),
        pytest.param("mixed-14-2", (450, 550), None, 2, id="mixed-14-2"),
        pytest.param("failover-14-2-ru1", (300, 500), None, 2, id="failover-14-2-ru1"),
        pytest.param("failover-14-2-ru2", (300, 500), None, 2, id="failover-14-2-ru2"),
        pytest.param("large", (100_000, 100_000), 2001, 2, id="large"),
    ],
)
def test_scenario_sizes(name, clients, groups, servers):
    """Scenario sizes match the brief (single-server ~300, failover ~400, mixed ~500, large 100k / 2k)."""
    site = site_of(name)
    assert clients[0] <= len(site.computers()) <= clients[1]
    if groups is not None:
        assert len(site.groups()) == groups
    assert len(site.servers()) == servers


def test_single_server_has_an_inheriting_group():
    """single-server: three groups under the root, one of them inheriting."""
    children = [g for g in site_of("single-server").groups() if g.parent_id is not None]
    assert len(children) == 3
    assert [g.inherits for g in children].count(True) == 1


@pytest.mark.parametrize(
    "name", ["two-server-failover", "mixed-14-2", "failover-14-2-ru1", "failover-14-2-ru2"]
)
def test_failover_scenarios_list_both_servers_by_priority(name):
    """The failover scenarios' default MSL lists sepm01 first and sepm02 second."""
    [msl] = [m for m in site_of(name).msls() if m.name == "Default Management Server List"]
    assert sorted((e.priority, e.server) for e in msl.entries) == [(1, "sepm01"), (2, "sepm02")]


@pytest.mark.parametrize(
    ("name", "version"),
    [
        pytest.param("failover-14-2-ru1", "14.2.3332.1000", id="ru1"),
        pytest.param("failover-14-2-ru2", "14.2.5323.2000", id="ru2"),
    ],
)
def test_14_2_release_update_scenarios_mix_clients_that_do_not_fail_over(name, version):
    """failover-14-2-ru1/ru2: their 14.2 RU clients, stated not to fail over, share groups with newer
    clients, and other groups hold newer clients only."""
    scenario = load_scenario(name)
    assert scenario.fails_over_after_certificate_failure == {version: False}
    by_group: dict[str, set[str]] = {}
    for c in site_of(name).computers():
        by_group.setdefault(c.group_full_path, set()).add(c.agent_version)
    holding = [versions for versions in by_group.values() if version in versions]
    assert len(holding) >= 2
    assert all(len(versions) > 1 for versions in holding)
    assert any(version not in versions for versions in by_group.values())


def test_mixed_site_has_one_group_mixing_legacy_and_newer_clients():
    """mixed-14-2: the clients that do not fail over (14.2 MP1) sit in one group, among newer clients."""
    scenario = load_scenario("mixed-14-2")
    computers = site_of("mixed-14-2").computers()
    stops = [c for c in computers if not scenario.fails_over(c.agent_version)]
    assert {c.group_full_path for c in stops} == {"My Company\\Factory"}
    factory = [c for c in computers if c.group_full_path == "My Company\\Factory"]
    assert 0 < len(stops) < len(factory)
    assert {c.agent_version for c in stops} == {"14.2.1031.0100"}


def test_nested_overrides_has_locations_with_their_own_msl():
    """nested-overrides: some locations carry their own MSL and heartbeat, one follows its group."""
    site = site_of("nested-overrides")
    own, follows = [], []
    for g in site.groups():
        default = site.location_settings(g.id, g.default_location_id)
        for loc in site.locations(g.id):
            s = site.location_settings(g.id, loc.id)
            (follows if s.uses_group_settings else own).append((g.full_path, loc.name, s))
            if loc.id != g.default_location_id and not s.uses_group_settings and not g.inherits:
                assert (s.msl, s.heartbeat_seconds) != (default.msl, default.heartbeat_seconds)
    assert any(msl.msl == "Remote Users List" for _p, _n, msl in own)
    assert follows


def test_custom_http_port_copy_carries_the_port():
    """custom-http-port: an HTTP copy of the MSL carries the server's HTTP port 8015."""
    site = site_of("custom-http-port")
    assert site.servers()[0].ports["http"] == 8015
    copy = site.copy_msl("Default Management Server List", "Scenario test copy", actor="test")
    assert [tuple(e) for e in copy.entries] == [("sepm01", 1, 8015)]
    site.delete_msl("Scenario test copy", actor="test")


def test_already_insecure_has_one_group_with_secure_communications_off():
    """already-insecure: exactly the Lab group starts with secure communications off."""
    site = site_of("already-insecure")
    off = [
        g.full_path
        for g in site.groups()
        if not site.location_settings(g.id, g.default_location_id).secure_communications
    ]
    assert off == ["My Company\\Lab"]


def test_one_server_msl_lists_only_one_of_two_managers():
    """one-server-msl: two managers, but the MSL in use lists only sepm01."""
    site = site_of("one-server-msl")
    assert len(site.servers()) == 2
    assert [[e.server for e in m.entries] for m in site.msls()] == [["sepm01"]]


def test_same_seed_same_site_and_another_seed_another():
    """Ids and client placement come from the seed alone."""
    scenario = load_scenario("single-server")

    def snapshot(seed: int) -> list[tuple[str, str, int]]:
        site = frozen_site(scenario, seed=seed)
        return [(c.id, c.group_id, c.last_update_ms) for c in site.computers()]

    assert snapshot(5) == snapshot(5)
    assert snapshot(5) != snapshot(6)


GOOD = """\
site: t
servers: [{name: s1}]
msls: [{name: M, entries: [{server: s1}]}]
groups:
  - path: My Company
    settings: {msl: M, secure_communications: true, heartbeat_seconds: 300, mode: PULL}
  - path: My Company\\A
clients:
  - {group: My Company\\A, count: 2, versions: {"14.3.9816.7000": 1.0}}
"""


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param(
            "{name: s1}",
            "{name: s1, colour: red}",
            r":2: servers\.0\.colour: Extra inputs",
            id="unknown-field",
        ),
        pytest.param(
            "{msl: M, secure",
            "{msl: Nope, secure",
            r":6: groups\.0\.settings\.msl: unknown MSL 'Nope'",
            id="unknown-msl",
        ),
        pytest.param(
            "{server: s1}",
            "{server: s9}",
            r":3: msls\.0\.entries\.0\.server: unknown server 's9'",
            id="unknown-server",
        ),
        pytest.param(
            "heartbeat_seconds: 300",
            "heartbeat_seconds: 5",
            r":6: groups\.0\.settings\.heartbeat_seconds",
            id="heartbeat-too-short",
        ),
        pytest.param(
            '{"14.3.9816.7000": 1.0}',
            '{"14.3.9816.7000": 0.5}',
            r":9: clients\.0: .*add up to 1",
            id="shares",
        ),
        pytest.param('{"14.3.9816.7000": 1.0}', '{"fourteen": 1.0}', r"not like 14\.3", id="bad-version"),
        pytest.param(
            "group: My Company\\A,",
            "group: My Company\\B,",
            r":9: clients\.0\.group: unknown group",
            id="unknown-group",
        ),
        pytest.param(
            "  - path: My Company\\A",
            "  - path: Elsewhere\\A",
            r":7: groups\.1\.path: .*before its parent",
            id="orphan-group",
        ),
        pytest.param("count: 2", "count: 0", r":9: clients\.0\.count", id="zero-clients"),
        pytest.param(
            "[{name: s1}]",
            "[{name: s1}, {name: s1}]",
            r":2: servers: duplicate names: s1",
            id="duplicate-server",
        ),
        pytest.param(
            "clients:\n",
            'fails_over_after_certificate_failure: {"14.2.3332.1000": false}\nclients:\n',
            r":8: fails_over_after_certificate_failure\.14\.2\.3332\.1000: no client of the site runs",
            id="failover-of-a-version-nobody-runs",
        ),
        pytest.param(
            "clients:\n",
            'fails_over_after_certificate_failure: {"14.2": false}\nclients:\n',
            r":8: fails_over_after_certificate_failure\.14\.2: agent version '14\.2' is not like",
            id="failover-of-a-malformed-version",
        ),
        pytest.param(
            "clients:\n",
            'fails_over_after_certificate_failure: {"14.3.9816.7000": "no"}\nclients:\n',
            r":8: fails_over_after_certificate_failure\.14\.3\.9816\.7000: Input should be a valid boolean",
            id="failover-not-a-boolean",
        ),
        pytest.param(
            "clients:\n",
            "fails_over: {}\nclients:\n",
            r":8: fails_over: Extra inputs",
            id="failover-misspelt",
        ),
    ],
)
def test_invalid_scenarios_name_file_line_and_field(old, new, expected):
    """A broken scenario is refused with the file, the line when known and the field."""
    assert old in GOOD
    with pytest.raises(ScenarioError, match=r"^broken\.yaml") as caught:
        parse_scenario(GOOD.replace(old, new, 1), source="broken.yaml")
    assert re.search(expected, str(caught.value))


def test_valid_base_scenario_parses():
    """The base text of the invalid-scenario table is itself valid (so each case breaks one thing)."""
    assert parse_scenario(GOOD).groups[1].path == "My Company\\A"


def test_load_scenario_from_a_path_and_unknown_names(tmp_path: Path):
    """load_scenario takes a file path too; an unknown name lists the shipped ones."""
    path = tmp_path / "mine.yaml"
    path.write_text(GOOD, encoding="utf-8")
    assert load_scenario(path).site == "t"
    assert load_scenario(str(path)).site == "t"
    with pytest.raises(ScenarioError, match="single-server"):
        load_scenario("no-such-scenario")


def test_admin_password_is_secret_and_generated_when_absent():
    """A scenario password never shows in reprs; without one the site generates a fresh password."""
    scenario = parse_scenario(
        GOOD.replace("site: t", "site: t\nadmin: {username: root, password: hunter2hunter2}")
    )
    assert "hunter2" not in repr(scenario)
    site = Site.from_scenario(
        scenario, clock=SimClock(start_ms=START), seed=1, certificates={"s1": certificate("s1")}
    )
    assert site.authenticate("root", "hunter2hunter2")
    generated = Site.from_scenario(
        parse_scenario(GOOD), clock=SimClock(), certificates={"s1": certificate("s1")}
    )
    assert len(generated.admin_password) >= 16
    assert generated.admin_password not in repr(generated)
