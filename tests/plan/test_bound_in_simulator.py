"""The physical bound against the simulator, which shares none of the planner's logic: no gate ever opens
before its predicted instant, and with zero overhead it opens exactly at it."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.desired.schema import Gates
from reconciler.model.observed import Observed, ObservedClient, ObservedGroup, ObservedLocation
from reconciler.plan.columns import Clients
from reconciler.plan.gates import GateScope, GridIndex, Part, measure, predicted_open
from reconciler.plan.site import view
from reconciler.sim.engine import Site
from tests.sim.helpers import START, frozen_site, make_scenario, population

CHANGE = "disable_secure_communications:all"
HOUR = 3_600_000


def observe(site: Site) -> Observed:
    """What the observer would build from the simulated site now (REST's view, without the network)."""
    groups = []
    for g in site.groups():
        locations = []
        for loc in site.locations(g.id):
            settings_ = site.location_settings(g.id, loc.id)
            locations.append(
                ObservedLocation(
                    id=loc.id,
                    name=loc.name,
                    is_default=loc.id == g.default_location_id,
                    uses_group_settings=True,
                    management_server_list=settings_.msl,
                    secure_communications=settings_.secure_communications,
                    heartbeat_interval=settings_.heartbeat_seconds,
                    mode="PULL",
                )
            )
        groups.append(
            ObservedGroup(
                id=g.id,
                full_path=g.full_path,
                inherits=g.inherits,
                policy_serial=g.policy_serial,
                locations=tuple(locations),
            )
        )
    clients = tuple(
        ObservedClient(
            id=c.id,
            name=c.name,
            group_id=c.group_id,
            agent_version=c.agent_version,
            last_update_time=c.last_update_ms,
            profile_serial=c.profile_serial,
            online=c.online,
        )
        for c in site.computers()
    )
    return Observed(
        site=site.name, server_time=site.clock.now_ms(), servers=(), groups=tuple(groups), clients=clients
    )


def site_gate(observed: Observed) -> tuple[GateScope, Clients]:
    """Every client of the site, counted from the change (the site gate the planner builds)."""
    site = view(observed, ("14.2.*",))
    return GateScope((Part((CHANGE,), tuple(site.clients.sources)),), (CHANGE,), unsourced=True), site.clients


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    heartbeats=st.lists(st.sampled_from([60, 300, 600, 900]), min_size=1, max_size=3),
    clients=st.integers(1, 4),
    cycles=st.integers(1, 3),
    delay_s=st.integers(0, 3600),
    seed=st.integers(0, 1000),
)
def test_a_gate_opens_at_its_predicted_instant_and_not_before(heartbeats, clients, cycles, delay_s, seed):
    """A change made at t0; the gate predicted from the observation at t0 is shut 1 ms before the
    prediction and open at it, measured on the simulator's own check-ins."""
    groups = [
        {"path": f"My Company\\G{i}", "settings": {"heartbeat_seconds": h}} for i, h in enumerate(heartbeats)
    ]
    scenario = make_scenario(
        "bound",
        password="pw-bound-0001",
        groups=groups,
        clients=[population(f"My Company\\G{i}", clients) for i in range(len(heartbeats))],
    )
    site = frozen_site(scenario, seed=seed)
    site.clock.advance(2 * HOUR + delay_s * 1000)  # every client has a grid to extrapolate
    t0 = site.clock.now_ms()
    for g in site.groups():
        if not g.inherits:
            site.patch_location_settings(
                g.id, g.default_location_id, secure_communications=False, actor="test"
            )
    gates = Gates(
        heartbeat_cycles=cycles, minimum_wait=0, dormant_after=7 * 86400, max_lagging_clients=0, timeout=86400
    )
    scope, clients = site_gate(observe(site))
    predicted = predicted_open(scope, GridIndex(clients, now=t0, gates=gates), since=t0, gates=gates)
    assert predicted > t0

    site.clock.advance(predicted - 1 - site.clock.now_ms())
    before = measure(
        *site_gate(observe(site)), applied={CHANGE: t0}, fallback=t0, gates=gates, now=predicted - 1
    )
    site.clock.advance(1)
    at = measure(*site_gate(observe(site)), applied={CHANGE: t0}, fallback=t0, gates=gates, now=predicted)

    assert not before.measurement.open, "the gate opened before its predicted instant"
    assert at.measurement.open, "with zero overhead the gate did not open at its predicted instant"
    assert at.measurement.eta == predicted
    assert t0 > START
