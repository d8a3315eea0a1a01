"""A gate's predicted opening equals the latest instant over every live client in its scope, counted one
by one: looking only at the sources that can hold the latest instant changes nothing."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.desired.schema import Gates
from reconciler.plan.gates import GateScope, GridIndex, Part, measure, pass_at, predicted_open
from reconciler.plan.site import view

from .builders import DAY, ROOT, SEC, T0, client, group, observed, server

HEARTBEATS = (60, 300, 600, 900, 3600)


def _by_hand(scope: GateScope, clients, *, since: int, gates: Gates, now: int) -> int:
    """The definition, client by client: the (k+1)-th latest pass over the live clients in scope."""
    cutoff = now - gates.dormant_after * 1000
    instants = [
        pass_at(clients.last[i], clients.heartbeat_ms[source], since, gates.heartbeat_cycles)
        for source in dict.fromkeys(s for part in scope.parts for s in part.sources)
        for g in clients.sources.get(source, ())
        for i in clients.by_group[g]
        if clients.last[i] >= cutoff
    ]
    instants.sort(reverse=True)
    lagging = gates.max_lagging_clients
    evidence = instants[lagging] if len(instants) > lagging else since
    return max(evidence, since + gates.minimum_wait * 1000)


@settings(max_examples=150, deadline=None)
@given(
    heartbeats=st.lists(st.sampled_from(HEARTBEATS), min_size=1, max_size=6),
    ages=st.lists(st.integers(0, 10 * DAY), min_size=1, max_size=25),
    cycles=st.integers(1, 4),
    lagging=st.integers(0, 3),
    scoped=st.lists(st.booleans(), min_size=6, max_size=6),
    delay=st.integers(0, 2 * 3600 * SEC),
    minimum_wait=st.sampled_from([0, 600, 7200]),
)
def test_the_prediction_is_the_latest_instant_over_every_live_client_in_scope(
    heartbeats, ages, cycles, lagging, scoped, delay, minimum_wait
):
    """Mixed heartbeats, dormant clients, scopes of some groups, laggards allowed or not, gates chained
    from a later ``since``: the grid's prediction is the client-by-client one."""
    groups = [group("G-ROOT", ROOT, heartbeat=heartbeats[0])] + [
        group(f"G{i}", f"{ROOT}\\G{i}", heartbeat=h) for i, h in enumerate(heartbeats[1:], start=1)
    ]
    clients = [client(f"c{n}", groups[n % len(groups)].id, last=T0 - age) for n, age in enumerate(ages)]
    site = view(observed(servers=[server("sepm01")], groups=groups, clients=clients), ())
    gates = Gates(
        heartbeat_cycles=cycles,
        minimum_wait=minimum_wait,
        dormant_after=7 * 86400,
        max_lagging_clients=lagging,
        timeout=86400,
    )
    sources = tuple(site.clients.sources)
    chosen = tuple(s for s, keep in zip(sources, scoped, strict=False) if keep) or sources
    grid = GridIndex(site.clients, now=T0, gates=gates)
    for scope in (
        GateScope((Part(("x",), sources),), ("x",)),
        GateScope((Part(("x",), chosen), Part(("y",), chosen[:1])), ("x", "y")),
    ):
        for since in (T0, T0 + delay):
            expected = _by_hand(scope, site.clients, since=since, gates=gates, now=T0)
            assert predicted_open(scope, grid, since=since, gates=gates) == expected


@settings(max_examples=150, deadline=None)
@given(
    heartbeats=st.lists(st.sampled_from(HEARTBEATS), min_size=1, max_size=6),
    ages=st.lists(st.integers(-2 * 3600 * SEC, 10 * DAY), min_size=1, max_size=30),
    stale=st.sets(st.integers(0, 29)),
    cycles=st.integers(1, 4),
    lagging=st.integers(0, 3),
    applied_after=st.lists(st.integers(0, 4 * 3600 * SEC), min_size=6, max_size=6),
    missing_group=st.booleans(),
)
def test_a_measurement_counts_each_client_as_the_definition_does(
    heartbeats, ages, stale, cycles, lagging, applied_after, missing_group
):
    """Per-group parts counted from their own changes, clients holding an old policy, dormant ones,
    clients of a group missing from the snapshot: the counts, the dormant, the laggards shown and the
    ETA are those of counting the clients one by one."""
    groups = [group("G-ROOT", ROOT, heartbeat=heartbeats[0])] + [
        group(f"G{i}", f"{ROOT}\\G{i}", heartbeat=h) for i, h in enumerate(heartbeats[1:], start=1)
    ]
    homes = [g.id for g in groups] + (["G-GONE"] if missing_group else [])
    clients = [
        client(f"c{n:02}", homes[n % len(homes)], last=T0 - age, serial="old" if n in stale else None)
        for n, age in enumerate(ages)
    ]
    site = view(observed(servers=[server("sepm01")], groups=groups, clients=clients, now=T0), ())
    gates = Gates(
        heartbeat_cycles=cycles,
        minimum_wait=0,
        dormant_after=86400,
        max_lagging_clients=lagging,
        timeout=86400,
    )
    sources = tuple(site.clients.sources)
    applied = {
        f"change:{s}": T0 - 4 * 3600 * SEC + after for s, after in zip(sources, applied_after, strict=False)
    }
    parts = tuple(Part((f"change:{s}",), (s,)) for s in sources)
    scope = GateScope(parts, tuple(applied), unsourced=True)
    fallback = T0 - 5 * 3600 * SEC
    got = measure(scope, site.clients, applied=applied, fallback=fallback, gates=gates, now=T0)

    start = max(applied.values(), default=fallback)
    passed, behind, dormant, instants = 0, [], [], []
    for c in clients:
        source = site.source.get(c.group_id)
        since = applied.get(f"change:{source.id}", fallback) if source is not None else start
        h = site.heartbeat_ms[source.id] if source is not None else site.slowest_heartbeat_ms
        if c.last_update_time < since - gates.dormant_after * 1000:
            dormant.append(c.name)
            continue
        instants.append(pass_at(c.last_update_time, h, since, cycles))
        policy = site.groups[c.group_id].policy_serial if source is not None else None
        if c.last_update_time > since + (cycles - 1) * h and c.profile_serial == policy:
            passed += 1
        else:
            behind.append(c)
    instants.sort(reverse=True)
    eta = instants[lagging] if len(instants) > lagging else start
    m = got.measurement
    assert (m.passed, m.in_scope, m.dormant_count) == (passed, passed + len(behind), len(dormant))
    assert got.dormant == tuple(sorted(dormant))
    assert m.eta == max(eta, start)
    assert m.open == (len(behind) <= lagging)
    shown = sorted(c.last_update_time for c in behind)[:10]
    by_name = {c.name: c.last_update_time for c in clients}
    assert sorted(by_name[name] for name in m.lagging) == shown
