"""The issue's acceptance tests of the trust model, driven by hand over REST and the console.

Each test rotates certificates the way an operator (or the controller) would: settings through SEPM's
REST API, MSL copies and certificate updates through the console API, the waits as simulated time
(``SimClock.advance``), and the gates checked from REST evidence (``lastUpdateTime`` and
``profileSerialNo``) before going on. The simulator's report is the verdict:
- naive rotation orphans every online client of a single-server site with secure communication on;
- the seed's single-server procedure orphans none;
- the multi-server procedure orphans none, except 14.2 clients, unless their groups get the
  single-server treatment;
- a client offline during the whole rotation and back afterwards is orphaned, and the report says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from reconciler.sim.app import Simulator
from reconciler.sim.certs import generate_self_signed
from reconciler.sim.console_client import ConsoleClient, quote_segment
from reconciler.sim.scenario import Scenario
from reconciler.sim.testing import SepmSession, console
from tests.sim.helpers import DEFAULT_MSL, MODERN, logged_on, make_scenario, population

PASSWORD = "Rotation-Pa55"
HEARTBEAT_S = 300
CYCLES = 3
HTTP_COPY = "Default Management Server List (HTTP)"
LEGACY = "14.2.1031.0100"


def single_server_site(*, offline_client: bool = False) -> Scenario:
    """One SEPM; a nested tree with an inheriting group and a location with its own settings."""
    clients = [
        population("My Company", 6),
        population("My Company\\Sales", 6, {MODERN: 0.5, LEGACY: 0.5}),
        population("My Company\\Sales", 4, location="VPN"),
        population("My Company\\Sales\\EMEA", 4),
    ]
    if offline_client:
        window = {"offline": {"from_seconds": 60, "to_seconds": 40_000}}
        clients.append(population("My Company", 1, schedule=window, name_prefix="away"))
    return make_scenario(
        "single",
        password=PASSWORD,
        servers=["sepm01"],
        msls=[{"name": DEFAULT_MSL, "entries": [{"server": "sepm01"}]}],
        heartbeat_seconds=HEARTBEAT_S,
        groups=[
            {
                "path": "My Company\\Sales",
                "settings": {"heartbeat_seconds": HEARTBEAT_S},
                "locations": [{"name": "VPN", "settings": {"msl": DEFAULT_MSL}}],
            },
            {"path": "My Company\\Sales\\EMEA", "inherits": True},
        ],
        clients=clients,
    )


def two_server_site(*, legacy_share: float) -> Scenario:
    """Two SEPMs in failover (priority 1 then 2); 14.2 clients, which do not fail over after a
    certificate failure, live in their own group."""
    clients = [population("My Company", 8), population("My Company\\Sales", 6)]
    more: dict[str, Any] = {}
    if legacy_share:
        versions = {LEGACY: 1.0} if legacy_share >= 1 else {LEGACY: legacy_share, MODERN: 1 - legacy_share}
        clients.append(population("My Company\\Legacy", 6, versions))
        more["fails_over_after_certificate_failure"] = {LEGACY: False}
    return make_scenario(
        "pair",
        password=PASSWORD,
        heartbeat_seconds=HEARTBEAT_S,
        groups=[
            {"path": "My Company\\Sales", "inherits": True},
            {"path": "My Company\\Legacy", "settings": {"heartbeat_seconds": HEARTBEAT_S}},
        ],
        clients=clients,
        **more,
    )


@dataclass
class Operator:
    """Does by hand, over the wire, what the procedure says; checks each gate from REST evidence."""

    sim: Simulator
    rest: SepmSession
    console: ConsoleClient

    def advance(self, seconds: int) -> None:
        """Let simulated time pass; log on again, as tokens expire after an hour of SEPM time."""
        self.sim.site.clock.advance(seconds * 1000)
        assert self.rest.authenticate("admin", PASSWORD).status_code == 200

    def now(self) -> int:
        return int(self.console.call("GET", "clock")["nowMs"])

    def groups(self) -> dict[str, dict[str, Any]]:
        return {g["fullPathName"]: g for g in self.rest.walk("groups", page_size=25)[0]}

    def location_ids(self, path: str) -> dict[str, str]:
        entries = self.rest.get_json(f"groups/{self.groups()[path]['id']}/locations")
        return {e.split(":", 1)[0]: e.rsplit("/", 1)[-1] for e in entries}

    def patch(self, path: str, location: str, configuration: dict[str, Any]) -> None:
        group = self.groups()[path]
        url = f"groups/{group['id']}/locations/{self.location_ids(path)[location]}/settings"
        response = self.rest.request("PATCH", url, json={"configuration": configuration})
        assert response.status_code == 200, response.text

    def assign(self, targets: list[tuple[str, str]], *, msl: str, secure: bool) -> None:
        for path, location in targets:
            self.patch(
                path,
                location,
                {
                    "communication_settings": {"sem_server": {"name": msl}},
                    "general_settings": {"security_settings": {"secure_communications": secure}},
                },
            )

    def update_certificate(self, server: str) -> None:
        cert_pem, key_pem = generate_self_signed(server)
        self.console.call(
            "POST",
            f"servers/{quote_segment(server)}/certificate",
            {"certificate": cert_pem.decode(), "privateKey": key_pem.decode()},
        )

    def wait_gate(self, since_ms: int, *, groups: set[str] | None = None) -> None:
        """Let 3 heartbeats pass, then check REST evidence: every online client in scope checked in
        during the 3rd cycle since the change and holds its group's current policy serial."""
        self.advance(CYCLES * HEARTBEAT_S + 30)
        serials = {path: g["policySerialNumber"] for path, g in self.groups().items()}
        clients = self.rest.walk("computers", page_size=100)[0]
        in_scope = [
            c for c in clients if c["onlineStatus"] == 1 and (groups is None or c["group"]["name"] in groups)
        ]
        assert in_scope
        lagging = [
            c["computerName"]
            for c in in_scope
            if c["lastUpdateTime"] <= since_ms + (CYCLES - 1) * HEARTBEAT_S * 1000
            or c["profileSerialNo"] != serials[c["group"]["name"]]
        ]
        assert lagging == [], f"gate not passed by {lagging}"

    def single_server_procedure(
        self, targets: list[tuple[str, str]], *, servers: tuple[str, ...] = ("sepm01",)
    ) -> None:
        """The seed's single-server treatment of ``targets`` (group path, location) around the
        certificate updates of ``servers``: HTTP copy of the MSL assigned with secure communication off,
        gate; each server's certificate, gate; the secure originals back, gate."""
        self.console.call("POST", "msls/copy", {"source": DEFAULT_MSL, "name": HTTP_COPY, "protocol": "http"})
        started = self.now()
        self.assign(targets, msl=HTTP_COPY, secure=False)
        self.wait_gate(started)
        for server in servers:
            updated = self.now()
            self.update_certificate(server)
            self.wait_gate(updated)
        restored = self.now()
        self.assign(targets, msl=DEFAULT_MSL, secure=True)
        self.wait_gate(restored)

    def report(self) -> dict[str, Any]:
        return self.console.call("GET", "report")


@pytest.fixture
def operator(request) -> Iterator[Operator]:
    scenario: Scenario = request.param
    with Simulator(scenario, seed=7) as sim, logged_on(sim) as rest:
        yield Operator(sim, rest, console(sim))


def _online_ids(op: Operator) -> set[str]:
    return {c["uniqueId"] for c in op.rest.walk("computers", page_size=100)[0] if c["onlineStatus"] == 1}


SINGLE_TARGETS = [("My Company", "Default"), ("My Company\\Sales", "Default"), ("My Company\\Sales", "VPN")]


@pytest.mark.parametrize("operator", [pytest.param(single_server_site(), id="single-server")], indirect=True)
def test_naive_rotation_orphans_every_online_client(operator):
    """Updating the only server's certificate with secure communication on orphans every online client."""
    online = _online_ids(operator)
    changed_at = operator.now()
    operator.update_certificate("sepm01")
    operator.advance(CYCLES * HEARTBEAT_S + 30)
    report = operator.report()
    assert {o["id"] for o in report["orphaned"]} == online
    assert len(online) == report["clients"]
    # Over REST the evidence is the same: nobody has checked in since the change.
    clients = operator.rest.walk("computers", page_size=100)[0]
    assert all(c["lastUpdateTime"] <= changed_at for c in clients)


@pytest.mark.parametrize("operator", [pytest.param(single_server_site(), id="single-server")], indirect=True)
def test_single_server_procedure_orphans_nobody(operator):
    """HTTP copy assigned with secure communication off, gate, certificate, gate, restore: no orphans."""
    operator.single_server_procedure(SINGLE_TARGETS)
    report = operator.report()
    assert report["orphaned"] == []
    assert report["cutOff"] == []
    # Every group was insecure for a while and is secure again now (every window closed).
    windows = report["insecureWindows"]
    assert set(windows) == {"My Company", "My Company\\Sales", "My Company\\Sales\\EMEA"}
    assert all(w[-1][1] is not None for w in windows.values())
    operator.console.call("DELETE", f"msls/{quote_segment(HTTP_COPY)}")


@pytest.mark.parametrize(
    ("operator", "legacy_orphans"),
    [
        pytest.param(two_server_site(legacy_share=0.0), False, id="all-14.3"),
        pytest.param(two_server_site(legacy_share=1.0), True, id="with-14.2"),
    ],
    indirect=["operator"],
)
def test_multi_server_procedure_orphans_only_legacy_clients(operator, legacy_orphans):
    """Rolling updates with a gate between servers orphan nobody, except every 14.2 client."""
    clients = operator.rest.walk("computers", page_size=100)[0]
    legacy = {c["uniqueId"] for c in clients if c["agentVersion"] == LEGACY}
    assert bool(legacy) == legacy_orphans
    for server in ("sepm01", "sepm02"):
        changed = operator.now()
        operator.update_certificate(server)
        if server == "sepm01":
            operator.wait_gate(changed, groups={"My Company", "My Company\\Sales"})
        else:
            operator.advance(CYCLES * HEARTBEAT_S + 30)
    orphaned = {o["id"] for o in operator.report()["orphaned"]}
    assert orphaned == legacy


@pytest.mark.parametrize(
    "operator", [pytest.param(two_server_site(legacy_share=0.5), id="mixed-14.2")], indirect=True
)
def test_mixed_procedure_saves_the_legacy_group(operator):
    """Wrapping the rolling updates in the single-server treatment of the 14.2 group orphans nobody."""
    legacy_group = [("My Company\\Legacy", "Default")]
    operator.single_server_procedure(legacy_group, servers=("sepm01", "sepm02"))
    report = operator.report()
    assert report["orphaned"] == []
    assert list(report["insecureWindows"]) == ["My Company\\Legacy"]


@pytest.mark.parametrize(
    "operator", [pytest.param(single_server_site(offline_client=True), id="one-offline")], indirect=True
)
def test_a_client_offline_during_the_rotation_is_orphaned_and_reported(operator):
    """The single-server procedure saves everyone online; the client away all along comes back orphaned."""
    operator.advance(120)  # the away client has gone offline
    away = {
        c["uniqueId"] for c in operator.rest.walk("computers", page_size=100)[0] if c["onlineStatus"] == 0
    }
    assert len(away) == 1
    operator.single_server_procedure(SINGLE_TARGETS)
    # The client returns after the rotation (40,000 s after start) and tries its old, cached trust.
    operator.advance(40_000)
    report = operator.report()
    assert {o["id"] for o in report["orphaned"]} == away
    (orphan,) = report["orphaned"]
    assert orphan["online"] is True
    assert "certificate" in orphan["reason"] or "signature" in orphan["reason"]
    assert {c["id"] for c in report["cutOff"]} == away


@pytest.mark.parametrize("operator", [pytest.param(single_server_site(), id="single-server")], indirect=True)
def test_forgetting_a_location_with_its_own_settings_orphans_its_clients(operator):
    """Broadcom's English edition says "all groups *and locations*": skip the VPN location and its clients
    are orphaned while everyone else survives."""
    vpn = {
        c["uniqueId"]
        for c in operator.rest.walk("computers", page_size=100)[0]
        if c["group"]["name"] == "My Company\\Sales" and c["computerName"] in _vpn_names(operator)
    }
    operator.console.call("POST", "msls/copy", {"source": DEFAULT_MSL, "name": HTTP_COPY, "protocol": "http"})
    started = operator.now()
    operator.assign(SINGLE_TARGETS[:2], msl=HTTP_COPY, secure=False)
    operator.wait_gate(started)
    operator.update_certificate("sepm01")
    operator.advance(CYCLES * HEARTBEAT_S + 30)
    assert {o["id"] for o in operator.report()["orphaned"]} == vpn


def _vpn_names(operator: Operator) -> set[str]:
    # REST shows no client's location, so ask the engine in-process which clients sit in VPN.
    views = operator.sim.site.computers()
    vpn_location = operator.location_ids("My Company\\Sales")["VPN"]
    names = {c.name for c in views if c.location_id == vpn_location}
    assert len(names) == 4
    return names
