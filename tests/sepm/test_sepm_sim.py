"""End to end: the real SepmClient and Observer against the real simulator over HTTPS on 127.0.0.1.

The simulator's own engine API (``sim.site``) is the reference each observation is compared with.
Clocks are frozen (a tiny speed) and moved with ``SimClock.advance`` where timing matters.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from sepm_fakes import make_certificate

from reconciler.backoff import RetryPolicy
from reconciler.desired.schema import DesiredSite
from reconciler.model.observed import Observed
from reconciler.sepm.client import SepmClient
from reconciler.sepm.errors import IncompleteObservation, PinMismatch
from reconciler.sepm.observer import Observer
from reconciler.sim import app
from tests.sim.helpers import SMALL_SCENARIOS

FROZEN = 1e-6  # simulated ms per real ms: time stands still unless a test advances it


@pytest.fixture
def sim() -> Iterator[Any]:
    with app.Simulator("single-server", speed=FROZEN, seed=3) as simulator:
        yield simulator


def desired_for(sim: Any, *, allowed: dict[str, list[str]] | None = None) -> DesiredSite:
    """The desired state of a running simulator (its bound ports; today's certificates unless given)."""
    endpoints = sim.endpoints
    servers = []
    for name, server in endpoints["servers"].items():
        fingerprints = (allowed or {}).get(name, [server["sha256"]])
        servers.append(
            {
                "name": name,
                "address": server["address"],
                "ports": {kind: server[kind] for kind in ("https", "http", "console", "rest")},
                "certificate": {"sha256": fingerprints[0], "previousSha256": fingerprints[1:]},
            }
        )
    msls = [
        {"name": msl.name, "servers": sorted({entry.server for entry in msl.entries})}
        for msl in sim.site.msls()
    ]
    return DesiredSite.model_validate(
        {
            "site": endpoints["site"],
            "api": {
                "url": endpoints["restUrl"],
                "username": endpoints["username"],
                "password": {"env": "UNUSED"},
            },
            "servers": servers,
            "managementServerLists": msls,
        }
    )


def client_for(sim: Any, desired: DesiredSite, **options: Any) -> SepmClient:
    settings: dict[str, Any] = {
        "password": sim.endpoints["password"],
        "retry": RetryPolicy(attempts=6, base_delay=0.01, max_delay=0.05),
        "timeout": 10.0,
        "page_size": 100,
    }
    settings.update(options)
    return SepmClient.for_site(desired, **settings)


def record_logons(sim: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every credential check the simulator's engine performs (username only)."""
    seen: list[str] = []
    original = sim.site.authenticate

    def authenticate(username: str, password: str) -> bool:
        seen.append(username)
        return original(username, password)

    monkeypatch.setattr(sim.site, "authenticate", authenticate)
    return seen


def _settings(view: Any) -> tuple[Any, ...]:
    return (view.msl, view.secure_communications, view.heartbeat_seconds, view.mode)


def assert_matches_site(observed: Observed, sim: Any) -> None:
    """The snapshot agrees with the simulator's engine on every count and setting."""
    site = sim.site
    groups = site.groups()
    assert [g.id for g in observed.groups] == [g.id for g in groups]
    for group, view in zip(observed.groups, groups, strict=True):
        assert group.full_path == view.full_path
        assert group.inherits == view.inherits
        assert group.policy_serial == view.policy_serial
        locations = site.locations(view.id)
        assert [loc.id for loc in group.locations] == [loc.id for loc in locations]
        assert sum(loc.is_default for loc in group.locations) == 1
        for location in group.locations:
            truth = site.location_settings(view.id, location.id)
            assert location.management_server_list == truth.msl
            assert location.secure_communications == truth.secure_communications
            assert location.heartbeat_interval == truth.heartbeat_seconds
            assert location.mode == truth.mode
            if location.is_default or truth.uses_group_settings:
                assert location.uses_group_settings
            else:
                # Inferred (adapter fact 6): own settings are seen only where they differ.
                default = site.location_settings(view.id, view.default_location_id)
                differs = _settings(truth) != _settings(default)
                assert location.uses_group_settings is not differs
    computers = site.computers()
    assert len(observed.clients) == len(computers)
    assert {c.id for c in observed.clients} == {c.id for c in computers}
    by_id = {c.id: c for c in computers}
    for client in observed.clients:
        truth = by_id[client.id]
        assert client.group_id == truth.group_id
        assert client.agent_version == truth.agent_version
        assert client.profile_serial == truth.profile_serial
    endpoints = sim.endpoints["servers"]
    assert {s.name for s in observed.servers} == set(endpoints)
    for server in observed.servers:
        assert server.presented_fingerprints() == {endpoints[server.name]["sha256"]}


@pytest.mark.parametrize("scenario", SMALL_SCENARIOS)
async def test_each_small_scenario_is_observed_completely(scenario):
    """A full observation of every small shipped scenario matches the simulator's own state."""
    with app.Simulator(scenario, speed=FROZEN, seed=1) as sim:
        desired = desired_for(sim)
        async with client_for(sim, desired) as client:
            observed = await Observer(desired, client).observe()
        assert observed.site == sim.endpoints["site"]
        assert abs(observed.server_time - sim.site.clock.now_ms()) < 2_000
        assert_matches_site(observed, sim)


async def test_pinning_accepts_the_allowed_certificate(sim, monkeypatch):
    """With the presented certificate allowed, the client logs on (once) and reads."""
    logons = record_logons(sim, monkeypatch)
    desired = desired_for(sim)
    async with client_for(sim, desired) as client:
        assert (await client.version())["version"]
        assert client.pinned_fingerprints == {sim.endpoints["servers"]["sepm01"]["sha256"]}
    assert logons == [sim.endpoints["username"]]


async def test_pinning_refuses_another_certificate_without_sending_credentials(sim, monkeypatch):
    """A REST port presenting a certificate not allowed raises PinMismatch; SEPM never sees a logon."""
    logons = record_logons(sim, monkeypatch)
    stranger = make_certificate("sepm01").sha256
    desired = desired_for(sim, allowed={"sepm01": [stranger]})
    async with client_for(sim, desired) as client:
        with pytest.raises(PinMismatch) as caught:
            await client.version()
    assert caught.value.presented == sim.endpoints["servers"]["sepm01"]["sha256"]
    assert logons == []


async def test_a_rotation_to_an_allowed_certificate_is_followed(sim):
    """After the server's certificate is updated to an allowed one, the client re-pins and reads on."""
    new = make_certificate("sepm01")
    old = sim.endpoints["servers"]["sepm01"]["sha256"]
    desired = desired_for(sim, allowed={"sepm01": [new.sha256, old]})
    async with client_for(sim, desired) as client:
        await client.version()
        sim.site.update_certificate("sepm01", cert_pem=new.pem, key_pem=new.key_pem, actor="test")
        # SEPM restarts its services after a certificate change, which drops open connections.
        sim.faults.server_down("sepm01")
        sim.faults.server_down("sepm01", False)
        await client.groups()
        assert client.pinned_fingerprints == {new.sha256, old}
        observed = await Observer(desired, client).observe()
    assert observed.server("sepm01").presented_fingerprints() == {new.sha256}


async def test_a_rotation_to_a_certificate_not_allowed_stops_the_client(sim):
    """After an update to a certificate the desired state does not allow, calls raise PinMismatch."""
    new = make_certificate("sepm01")
    desired = desired_for(sim)
    async with client_for(sim, desired) as client:
        await client.version()
        sim.site.update_certificate("sepm01", cert_pem=new.pem, key_pem=new.key_pem, actor="test")
        sim.faults.server_down("sepm01")
        sim.faults.server_down("sepm01", False)
        with pytest.raises(PinMismatch):
            await client.groups()


async def test_incremental_reads_see_check_ins(sim, monkeypatch):
    """After heartbeats pass, an incremental read shows the check-ins, equal to a fresh full read."""
    desired = desired_for(sim)
    async with client_for(sim, desired) as client:
        reads: list[int | None] = []
        read_computers = client.computers

        async def spy(*, updated_since_ms: int | None = None, **options: Any) -> list[Any]:
            reads.append(updated_since_ms)
            return await read_computers(updated_since_ms=updated_since_ms, **options)

        monkeypatch.setattr(client, "computers", spy)
        observer = Observer(desired, client, full_read_every=100, incremental_margin_ms=60_000)
        first = await observer.observe()
        sim.site.clock.advance(20 * 60_000)  # four 300 s heartbeats
        second = await observer.observe()
        async with client_for(sim, desired) as other:
            fresh = await Observer(desired, other).observe()
    assert reads == [None, first.server_time - 60_000]
    assert second.clients == fresh.clients
    before = {c.id: c.last_update_time for c in first.clients}
    moved = [c for c in second.clients if c.last_update_time > before[c.id]]
    assert len(moved) > len(second.clients) // 2
    assert all(c.last_update_time > first.server_time for c in moved)


async def test_transient_server_errors_are_retried_to_a_complete_snapshot(sim, sleeps):
    """With a share of REST requests failing 500/503, retries still produce a complete, correct snapshot."""
    sim.faults.fail_share(0.2)
    desired = desired_for(sim)
    async with client_for(
        sim, desired, sleep=sleeps, rng=random.Random(2), retry=RetryPolicy(attempts=10)
    ) as client:
        observed = await Observer(desired, client).observe()
    assert sleeps  # some requests did fail and were retried
    assert_matches_site(observed, sim)


async def test_throttling_is_waited_out_as_sepm_asks(sim, sleeps):
    """429 answers with Retry-After are waited out for exactly that long, and the snapshot completes."""
    sim.faults.too_many_requests(3, retry_after_s=2)
    desired = desired_for(sim)
    async with client_for(sim, desired, sleep=sleeps) as client:
        observed = await Observer(desired, client).observe()
    assert sleeps.count(2.0) == 3
    assert_matches_site(observed, sim)


async def test_a_failing_page_makes_the_observation_incomplete(sim, sleeps):
    """A computers page that keeps failing raises IncompleteObservation; once it heals, observing works."""
    sim.faults.fail_page(2)
    desired = desired_for(sim)
    async with client_for(sim, desired, sleep=sleeps) as client:
        observer = Observer(desired, client)
        with pytest.raises(IncompleteObservation, match="page 2"):
            await observer.observe()
        sim.faults.clear()
        assert_matches_site(await observer.observe(), sim)


async def test_expired_tokens_are_renewed(sim, monkeypatch):
    """When SEPM revokes every token, the next observation logs on again once and completes."""
    desired = desired_for(sim)
    async with client_for(sim, desired) as client:
        observer = Observer(desired, client)
        await observer.observe()
        logons = record_logons(sim, monkeypatch)
        sim.faults.expire_tokens()
        assert_matches_site(await observer.observe(), sim)
    assert logons == [sim.endpoints["username"]]


async def test_a_server_that_is_down_makes_the_observation_incomplete():
    """With the second server down, its certificates cannot be read: IncompleteObservation, no snapshot."""
    with app.Simulator("two-server-failover", speed=FROZEN, seed=1) as sim:
        desired = desired_for(sim)
        async with client_for(sim, desired) as client:
            observer = Observer(desired, client, tls_timeout=2)
            down = desired.servers[1].name
            sim.faults.server_down(down)
            with pytest.raises(IncompleteObservation, match=down):
                await observer.observe()
            sim.faults.server_down(down, False)
            assert_matches_site(await observer.observe(), sim)


async def test_a_rest_server_that_is_down_makes_the_observation_incomplete(sim):
    """With the REST server down, the observation raises IncompleteObservation after the retries."""
    desired = desired_for(sim)
    async with client_for(sim, desired) as client:
        observer = Observer(desired, client, tls_timeout=2)
        await observer.observe()
        sim.faults.server_down("sepm01")
        with pytest.raises(IncompleteObservation):
            await observer.observe()


async def test_a_corrupted_port_certificate_is_observed_as_such(sim):
    """When one port presents another certificate, the snapshot shows the ports disagreeing."""
    sim.faults.corrupt_certificate("sepm01", "console")
    desired = desired_for(sim)
    async with client_for(sim, desired) as client:
        observed = await Observer(desired, client).observe()
    server = observed.server("sepm01")
    assert len(server.presented_fingerprints()) == 2
    assert server.certificates["https"].sha256 == server.certificates["rest"].sha256
    assert server.certificates["console"].sha256 != server.certificates["https"].sha256
