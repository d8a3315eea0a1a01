"""The Site API: groups and serials, location settings and refusals, MSLs, certificates, faults, events."""

from __future__ import annotations

import re
import threading

import pytest

from reconciler.sim.certs import fingerprint
from reconciler.sim.engine import GroupView, NotFound, Refused, SimError, Site
from tests.sim.helpers import START, frozen_site, weak_pair
from tests.sim.helpers import certificate as cert

SERIAL = re.compile(r"^[0-9A-F]{4}-\d\d/\d\d/\d{4} \d\d:\d\d:\d\d \d{3}$")


def make_site(name: str = "nested-overrides") -> Site:
    return frozen_site(name, seed=2)


def group(site: Site, path: str) -> GroupView:
    return next(g for g in site.groups() if g.full_path == path)


def serials(site: Site) -> dict[str, str]:
    return {g.full_path: g.policy_serial for g in site.groups()}


def test_groups_are_in_tree_order_with_sepm_ids_and_serials():
    """Root first, parents before children; ids are 32 upper hex; serials have SEPM's format."""
    groups = make_site().groups()
    assert groups[0].full_path == "My Company"
    seen: set[str] = set()
    for g in groups:
        assert re.fullmatch(r"[0-9A-F]{32}", g.id)
        assert SERIAL.match(g.policy_serial)
        assert g.policy_serial.startswith(g.id[:4])
        assert g.parent_id is None or g.parent_id in seen
        seen.add(g.id)
    assert groups[0].policy_serial.endswith("11/14/2023 22:13:20 000")


def test_patching_a_group_bumps_it_and_its_inheriting_descendants_only():
    """A setting change bumps the group's serial and its inheriting descendants', nobody else's."""
    site = make_site()
    before = serials(site)
    site.clock.advance(1234)
    europe = group(site, "My Company\\Europe")
    site.patch_location_settings(europe.id, europe.default_location_id, heartbeat_seconds=120, actor="t")
    after = serials(site)
    changed = {path for path in before if before[path] != after[path]}
    assert changed == {"My Company\\Europe", "My Company\\Europe\\Paris"}
    assert after["My Company\\Europe"].endswith(" 234")  # stamped with the change's millisecond


def test_serials_change_at_every_bump_even_within_one_millisecond():
    """Three bumps at the same simulated instant give three different, increasing serials."""
    site = make_site()
    office = group(site, "My Company\\Americas")
    seen = [office.policy_serial]
    for heartbeat in (100, 200, 300):
        site.patch_location_settings(
            office.id, office.default_location_id, heartbeat_seconds=heartbeat, actor="t"
        )
        seen.append(group(site, "My Company\\Americas").policy_serial)
    assert len(set(seen)) == 4
    assert [group(site, "My Company\\Americas").policy_date_ms] == [START + 3]


def test_certificate_change_bumps_every_group():
    """MSLs carry certificates: a certificate change bumps every group's serial."""
    site = make_site()
    before = serials(site)
    new_cert, new_key = cert("replacement")
    fp = site.update_certificate("sepm01", cert_pem=new_cert, key_pem=new_key, actor="t")
    assert fp == fingerprint(new_cert)
    after = serials(site)
    assert all(before[p] != after[p] for p in before)
    [server] = site.servers()
    assert server.fingerprint == fp
    assert set(server.port_cert_pem.values()) == {new_cert}


def test_inheriting_group_reports_parent_settings_and_refuses_patches():
    """An inheriting group shows its parent's effective settings and cannot be patched."""
    site = make_site()
    paris, europe = group(site, "My Company\\Europe\\Paris"), group(site, "My Company\\Europe")
    for paris_loc in site.locations(paris.id):
        parent_loc = next(loc for loc in site.locations(europe.id) if loc.name == paris_loc.name)
        assert site.location_settings(paris.id, paris_loc.id) == site.location_settings(
            europe.id, parent_loc.id
        )
    with pytest.raises(
        Refused, match="inherits policies from its parent; disable inheritance first"
    ) as caught:
        site.patch_location_settings(
            paris.id, paris.default_location_id, secure_communications=False, actor="t"
        )
    assert caught.value.status == 400


def test_location_using_group_settings_follows_the_default_location():
    """A location that uses the group's settings shows, and follows, the default location's."""
    site = make_site()
    root = group(site, "My Company")
    office = next(loc for loc in site.locations(root.id) if loc.name == "Office")
    assert site.location_settings(root.id, office.id).uses_group_settings
    site.patch_location_settings(root.id, root.default_location_id, heartbeat_seconds=900, actor="t")
    assert site.location_settings(root.id, office.id).heartbeat_seconds == 900
    with pytest.raises(Refused, match="uses the group's communication settings"):
        site.patch_location_settings(root.id, office.id, heartbeat_seconds=60, actor="t")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"msl": "No Such List"}, "unknown management server list", id="unknown-msl"),
        pytest.param({"heartbeat_seconds": 1}, "outside 10..86400", id="heartbeat"),
        pytest.param({"mode": "SOMETIMES"}, "PULL or PUSH", id="mode"),
    ],
)
def test_invalid_patches_are_refused_and_change_nothing(kwargs, message):
    """Refused patches leave settings and serials as they were."""
    site = make_site()
    europe = group(site, "My Company\\Europe")
    before = (site.location_settings(europe.id, europe.default_location_id), serials(site))
    with pytest.raises(Refused, match=message):
        site.patch_location_settings(europe.id, europe.default_location_id, actor="t", **kwargs)
    assert (site.location_settings(europe.id, europe.default_location_id), serials(site)) == before


def test_unknown_ids_are_not_found():
    """Unknown groups and locations raise NotFound (404)."""
    site = make_site()
    root = site.groups()[0]
    with pytest.raises(NotFound) as caught:
        site.locations("0" * 32)
    assert caught.value.status == 404
    with pytest.raises(NotFound):
        site.location_settings(root.id, "F" * 32)


def test_disabling_inheritance_keeps_the_inherited_settings_as_own():
    """A group that stops inheriting keeps what it inherited, can then be patched, and bumps its serial."""
    site = make_site()
    paris = group(site, "My Company\\Europe\\Paris")
    inherited = site.location_settings(paris.id, paris.default_location_id)
    view = site.patch_group(paris.id, inherits=False, actor="t")
    assert not view.inherits
    assert view.policy_serial != paris.policy_serial
    assert site.location_settings(paris.id, paris.default_location_id) == inherited
    site.patch_location_settings(paris.id, paris.default_location_id, heartbeat_seconds=77, actor="t")
    europe = group(site, "My Company\\Europe")
    assert site.location_settings(europe.id, europe.default_location_id).heartbeat_seconds == 300
    with pytest.raises(Refused, match="root group cannot inherit"):
        site.patch_group(site.groups()[0].id, inherits=True, actor="t")


def test_rename_changes_paths_of_the_group_and_its_clients():
    """Renaming a group changes its and its descendants' full paths, in groups and computers."""
    site = make_site()
    europe = group(site, "My Company\\Europe")
    site.patch_group(europe.id, name="EMEA", description="renamed", actor="t")
    paths = {g.full_path for g in site.groups()}
    assert {"My Company\\EMEA", "My Company\\EMEA\\Paris"} <= paths
    assert not any(p.startswith("My Company\\Europe") for p in paths)
    assert any(c.group_full_path == "My Company\\EMEA\\Berlin" for c in site.computers())
    with pytest.raises(Refused, match="duplicate"):
        site.patch_group(europe.id, name="Americas", actor="t")


def test_copy_msl_to_http_and_delete_only_when_unassigned():
    """An HTTP copy keeps servers and priorities with HTTP ports; an assigned MSL cannot be deleted."""
    site = make_site("two-server-failover")
    copy = site.copy_msl(
        "Default Management Server List", "HTTP copy", http_ports={"sepm02": 8080}, actor="t"
    )
    assert copy.protocol == "http"
    assert sorted(tuple(e) for e in copy.entries) == [("sepm01", 1, 8014), ("sepm02", 2, 8080)]
    with pytest.raises(Refused, match="exists already"):
        site.copy_msl("Default Management Server List", "HTTP copy", actor="t")
    with pytest.raises(NotFound):
        site.copy_msl("Nope", "Other", actor="t")
    with pytest.raises(Refused, match="is assigned to"):
        site.delete_msl("Default Management Server List", actor="t")
    hq = group(site, "My Company\\Headquarters")
    site.patch_location_settings(hq.id, hq.default_location_id, msl="HTTP copy", actor="t")
    assert site.location_settings(hq.id, hq.default_location_id).msl == "HTTP copy"
    assert [m.assigned_to for m in site.msls() if m.name == "HTTP copy"] == [("My Company\\Headquarters",)]
    with pytest.raises(Refused):
        site.delete_msl("HTTP copy", actor="t")
    site.patch_location_settings(
        hq.id, hq.default_location_id, msl="Default Management Server List", actor="t"
    )
    site.delete_msl("HTTP copy", actor="t")
    assert [m.name for m in site.msls()] == ["Default Management Server List"]


@pytest.mark.parametrize(
    ("pair", "message"),
    [
        pytest.param(lambda: (cert("a")[0], cert("b")[1]), "does not belong", id="key-mismatch"),
        pytest.param(weak_pair, "at least 2048", id="weak-key"),
        pytest.param(lambda: (b"not a certificate", cert("a")[1]), "not a readable", id="garbage"),
    ],
)
def test_bad_certificates_are_refused_and_change_nothing(pair, message):
    """Certificate updates need RSA >= 2048 and the matching key; refusals keep the old certificate."""
    site = make_site("single-server")
    before = (site.servers()[0].fingerprint, serials(site))
    cert_pem, key_pem = pair()
    with pytest.raises(Refused, match=message) as caught:
        site.update_certificate("sepm01", cert_pem=cert_pem, key_pem=key_pem, actor="t")
    assert "PRIVATE KEY" not in caught.value.message
    assert (site.servers()[0].fingerprint, serials(site)) == before
    with pytest.raises(NotFound):
        site.update_certificate("sepm99", cert_pem=cert("a")[0], key_pem=cert("a")[1], actor="t")


def test_certificate_change_callbacks_run_outside_the_lock():
    """on_certificate_change callbacks get the server name and may call back into the site."""
    site = make_site("single-server")
    seen: list[tuple[str, str]] = []
    site.on_certificate_change(lambda name: seen.append((name, site.servers()[0].fingerprint)))
    new_cert, new_key = cert("next")
    fp = site.update_certificate("sepm01", cert_pem=new_cert, key_pem=new_key, actor="t")
    assert seen == [("sepm01", fp)]


def test_corrupted_certificate_makes_ports_disagree_and_clients_fail():
    """A corrupted client port presents another certificate: ports disagree and HTTPS check-ins fail."""
    site = make_site("single-server")
    site.corrupt_certificate("sepm01", "https")
    [server] = site.servers()
    assert server.port_cert_pem["https"] != server.port_cert_pem["rest"] == server.cert_pem
    assert fingerprint(server.port_cert_pem["https"]) != server.fingerprint
    assert server.port_key_pem["https"] != server.key_pem
    site.clock.advance(1_800_000)
    report = site.report()
    assert len(report["cutOff"]) == len(site.computers())
    assert all("tls-certificate-mismatch" in r["reason"] for r in report["cutOff"])
    with pytest.raises(Refused):
        site.corrupt_certificate("sepm01", "smtp")
    site.repair_certificate("sepm01")
    site.clock.advance(1_800_000)
    assert site.report()["orphaned"] == []
    assert all(r["to"] is not None for r in site.report()["cutOff"])


def test_down_server_is_skipped_and_clients_fail_over():
    """With sepm01 down, failover clients check in at sepm02; with both down they miss check-ins."""
    site = make_site("two-server-failover")
    site.set_server_down("sepm01", True)
    assert [s.down for s in site.servers()] == [True, False]
    site.clock.advance(1_800_000)
    assert {c.last_server_name for c in site.computers()} == {"sepm02"}
    assert site.report()["cutOff"] == []
    site.set_server_down("sepm02", True)
    site.clock.advance(1_800_000)
    report = site.report()
    assert len(report["cutOff"]) == len(site.computers())
    assert all("server-down" in r["reason"] for r in report["cutOff"])
    assert report["orphaned"] == []  # an outage is no certificate problem
    site.set_server_down("sepm01", False)
    site.set_server_down("sepm02", False)
    site.clock.advance(1_800_000)
    assert all(r["to"] is not None for r in site.report()["cutOff"])


def test_events_record_actor_and_before_after_without_secrets():
    """Every change is an event with time, actor, target and before/after; no key material."""
    site = make_site("single-server")
    site.clock.advance(5000)
    sales = group(site, "My Company\\Sales")
    site.patch_location_settings(
        sales.id, sales.default_location_id, secure_communications=False, actor="alice"
    )
    new_cert, new_key = cert("evt")
    site.update_certificate("sepm01", cert_pem=new_cert, key_pem=new_key, actor="bob")
    site.break_replication(actor="carol")
    events = site.report()["events"]
    assert [(e["actor"], e["action"]) for e in events] == [
        ("alice", "patch-location-settings"),
        ("bob", "update-certificate"),
        ("carol", "break-replication"),
    ]
    assert events[0]["time"] == START + 5000
    assert events[0]["before"]["secureCommunications"] is True
    assert events[0]["after"]["secureCommunications"] is False
    assert events[1]["after"] == fingerprint(new_cert)
    assert "PRIVATE" not in repr(events)
    assert "CERTIFICATE" not in repr(events)


def test_replication_status_follows_break_and_restore():
    """Replication status has SEPM's shape; partners show BROKEN from the break until the restore."""
    site = make_site("mixed-14-2")
    status = site.replication_status()["replicationStatus"]
    assert status["siteName"] == "mixed-14-2"
    [partner] = status["replicationPartnerStatusList"]
    assert (partner["name"], partner["status_code"]) == ("dr-site", "OK")
    site.break_replication(actor="t")
    site.clock.advance(3_600_000)
    [partner] = site.replication_status()["replicationStatus"]["replicationPartnerStatusList"]
    assert site.replication_broken
    assert partner["status_code"] == "BROKEN"
    assert partner["lastSuccessfulRunTime"] <= START < partner["lastRunTime"]
    site.restore_replication(actor="t")
    [partner] = site.replication_status()["replicationStatus"]["replicationPartnerStatusList"]
    assert not site.replication_broken
    assert partner["status_code"] == "OK"
    assert partner["lastSuccessfulRunTime"] == partner["lastRunTime"] > START


def test_computers_filter_by_last_update():
    """updated_since_ms returns exactly the clients whose lastUpdateTime is at or after it."""
    site = make_site("single-server")
    site.clock.advance(100_000)
    cutoff = site.clock.now_ms()
    site.clock.advance(100_000)
    everyone = site.computers()
    recent = site.computers(updated_since_ms=cutoff)
    assert {c.id for c in recent} == {c.id for c in everyone if c.last_update_ms >= cutoff}
    assert 0 < len(recent) < len(everyone)


def test_settled_clients_check_in_every_heartbeat():
    """Without changes every online client's lastUpdateTime stays within one heartbeat of now."""
    site = make_site("single-server")
    for step in (7_000, 333_000, 5_000_000):
        site.clock.advance(step)
        now = site.clock.now_ms()
        for c in site.computers():
            assert now - 600_000 < c.last_update_ms <= now


def test_authenticate_and_version():
    """The credential check accepts only the admin's exact credentials; version has SEPM's keys."""
    site = make_site("single-server")
    assert site.authenticate(site.admin_username, site.admin_password)
    assert not site.authenticate(site.admin_username, site.admin_password + "x")
    assert not site.authenticate("someone", site.admin_password)
    assert set(site.version()) == {"API_SEQUENCE", "API_VERSION", "version"}


def test_concurrent_reads_and_changes_are_safe():
    """Many threads reading and changing at once raise nothing but the site's own errors."""
    site = make_site("mixed-14-2")
    site.clock.speed = 1000.0
    errors: list[BaseException] = []
    ws = group(site, "My Company\\Workstations")

    def reader() -> None:
        try:
            for _ in range(20):
                site.computers()
                site.groups()
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    def writer() -> None:
        try:
            for i in range(20):
                site.patch_location_settings(
                    ws.id, ws.default_location_id, heartbeat_seconds=100 + i, actor="w"
                )
        except SimError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(4)] + [threading.Thread(target=writer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert site.location_settings(ws.id, ws.default_location_id).heartbeat_seconds == 119
