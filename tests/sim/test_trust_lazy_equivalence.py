"""The lazy client evaluation equals a naive, check-in by check-in evaluation of the same site.

Two sites are built from one generated scenario, seed and certificates. The same changes are applied
to both at the same simulated instants. The lazy one is read through its public API
(``computers()``, ``report()``). The other only provides the site state over time: a naive evaluator
written here steps every client through every check-in in order, using nothing of the engine's
closed forms, parking or memos, and only the single-check-in rule (``trust.attempt``) and the site's
current targets.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.sim.certs import generate_self_signed
from reconciler.sim.clock import SimClock
from reconciler.sim.engine import SimError, Site
from reconciler.sim.scenario import Scenario
from reconciler.sim.trust import CachedPolicy, attempt, orphan_reason

START = 1_700_000_000_000
SERVERS = ["sa", "sb", "sc"]
VERSIONS = ["14.3.9816.7000", "14.2.1031.0100", "14.2.758.0000", "14.3.8259.5000"]


@functools.cache
def cert_pool() -> list[tuple[bytes, bytes]]:
    return [generate_self_signed(f"pool{i}") for i in range(len(SERVERS) + 3)]


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    servers = SERVERS[: draw(st.integers(1, 3))]
    msls = []
    for i in range(draw(st.integers(1, 3))):
        chosen = draw(st.lists(st.sampled_from(servers), min_size=1, max_size=len(servers), unique=True))
        protocol = draw(st.sampled_from(["https", "http"]))
        entries = []
        for s in chosen:
            entry: dict[str, Any] = {"server": s, "priority": draw(st.integers(1, 2))}
            if protocol == "http":
                # Mostly the server's HTTP port (8014); sometimes a port it does not listen on.
                port = draw(st.sampled_from([None, 8014, 8014, 9090]))
                if port is not None:
                    entry["http_port"] = port
            entries.append(entry)
        msls.append({"name": f"M{i}", "protocol": protocol, "entries": entries})

    def settings_dict() -> dict[str, Any]:
        return {
            "msl": draw(st.sampled_from([m["name"] for m in msls])),
            "secure_communications": draw(st.booleans()),
            "heartbeat_seconds": draw(st.sampled_from([60, 90, 300])),
        }

    groups: list[dict[str, Any]] = [{"path": "My Company", "settings": {**settings_dict(), "mode": "PULL"}}]
    for i in range(draw(st.integers(1, 4))):
        parent = draw(st.sampled_from([g["path"] for g in groups]))
        group: dict[str, Any] = {"path": f"{parent}\\G{i}", "inherits": draw(st.booleans())}
        if not group["inherits"]:
            group["settings"] = settings_dict()
        if draw(st.booleans()):
            own = not group["inherits"] and draw(st.booleans())
            group["locations"] = [{"name": "Away", **({"settings": settings_dict()} if own else {})}]
        groups.append(group)
    clients = []
    for g in groups:
        for location in ["Default", *(loc["name"] for loc in g.get("locations", []))]:
            count = draw(st.integers(1 if location == "Default" else 0, 3))
            if not count:
                continue
            schedule = draw(
                st.sampled_from(
                    [
                        "always",
                        {"offline": {"from_seconds": 400, "to_seconds": 2500}},
                        {"dormant_days": 3},
                        {
                            "random": {
                                "share": 0.7,
                                "windows": 2,
                                "min_seconds": 100,
                                "max_seconds": 1500,
                                "horizon_seconds": 6000,
                            }
                        },
                    ]
                )
            )
            clients.append(
                {
                    "group": g["path"],
                    "location": location,
                    "count": count,
                    "versions": {draw(st.sampled_from(VERSIONS)): 1.0},
                    "schedule": schedule,
                }
            )
    # Which versions fail over is drawn too: the simulator must take it from the scenario alone.
    running = sorted({v for pop in clients for v in pop["versions"]})
    fails_over = {v: draw(st.booleans()) for v in running if draw(st.booleans())}
    return {
        "site": "prop",
        "admin": {"username": "admin", "password": "pw"},
        "servers": [{"name": s} for s in servers],
        "msls": msls,
        "groups": groups,
        "clients": clients,
        "fails_over_after_certificate_failure": fails_over,
    }


# Pool entries 0-2 are the servers' initial certificates: mostly pick a new one, sometimes go back.
CERT = st.tuples(st.just("cert"), st.integers(0, 2), st.sampled_from([3, 4, 5, 0, 1]))
READ = st.tuples(st.just("read"))
# Certificate changes and reads weigh double: they are what makes clients miss check-ins.
OPS = st.one_of(
    st.tuples(st.just("secure"), st.integers(0, 4), st.integers(0, 1), st.booleans()),
    st.tuples(st.just("msl"), st.integers(0, 4), st.integers(0, 1), st.integers(0, 2)),
    st.tuples(st.just("heartbeat"), st.integers(0, 4), st.integers(0, 1), st.sampled_from([60, 120, 300])),
    st.tuples(st.just("inherit"), st.integers(0, 4), st.booleans()),
    CERT,
    CERT,
    st.tuples(st.just("down"), st.integers(0, 2), st.booleans()),
    READ,
    READ,
)


@dataclass
class NaiveClient:
    idx: int
    id: str
    group: Any
    location: Any
    fails_over: bool
    windows: tuple[tuple[int, int], ...]
    dormant: bool
    cache: CachedPolicy
    last_ok: int
    last_server: str
    next: int
    missed: int = 0
    runs: list[list[Any]] = field(default_factory=list)  # [from, to|None, count, last, reason]


class Naive:
    """Every check-in of every client, one at a time, against the reference site's current state."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.clients = []
        servers = site._topology.servers_now()
        for c in site._population.clients:
            first = attempt(
                c.cache, servers, fails_over=c.fails_over, seed=site.seed, client=c.idx, t=c.anchor
            )
            n = NaiveClient(
                c.idx,
                c.id,
                c.group,
                c.location,
                c.fails_over,
                c.windows,
                c.dormant,
                c.cache,
                c.anchor,
                first.server or "",
                0,
            )
            n.next = self._after(n, c.anchor)
            self.clients.append(n)

    def _after(self, n: NaiveClient, t: int) -> int:
        if n.dormant:
            return 1 << 62
        nxt = t + n.cache.heartbeat_ms
        for a, b in n.windows:
            if a <= nxt < b:
                nxt = b
        return nxt

    def step(self, until: int) -> None:
        topology = self.site._topology
        for n in self.clients:
            while n.next <= until:
                t = n.next
                out = attempt(
                    n.cache,
                    topology.servers_now(),
                    fails_over=n.fails_over,
                    seed=self.site.seed,
                    client=n.idx,
                    t=t,
                )
                if out.server is not None:
                    n.last_ok, n.last_server = t, out.server
                    if n.runs and n.runs[-1][1] is None:
                        n.runs[-1][1] = t
                    n.cache = topology.target(n.group, n.location)
                else:
                    n.missed += 1
                    if n.runs and n.runs[-1][1] is None:
                        n.runs[-1][2] += 1
                        n.runs[-1][3] = t
                    else:
                        n.runs.append([t, None, 1, t, out.reason])
                n.next = self._after(n, t)

    def online(self, n: NaiveClient, t: int) -> bool:
        return not n.dormant and not any(a <= t < b for a, b in n.windows)


def apply(site: Site, op: tuple[Any, ...]) -> str:
    """Apply one generated change; returns the error text when the site refuses it."""
    groups = site.groups()
    try:
        if op[0] in ("secure", "msl", "heartbeat"):
            g = groups[op[1] % len(groups)]
            locs = site.locations(g.id)
            loc = locs[op[2] % len(locs)]
            msls = sorted(m.name for m in site.msls())
            kwargs: dict[str, Any] = {
                "secure": {"secure_communications": op[3]},
                "msl": {"msl": msls[op[3] % len(msls)]},
                "heartbeat": {"heartbeat_seconds": op[3]},
            }[op[0]]
            site.patch_location_settings(g.id, loc.id, actor="prop", **kwargs)
        elif op[0] == "inherit":
            site.patch_group(groups[op[1] % len(groups)].id, inherits=op[2], actor="prop")
        elif op[0] in ("cert", "down"):
            servers = sorted(s.name for s in site.servers())
            name = servers[op[1] % len(servers)]
            if op[0] == "down":
                site.set_server_down(name, op[2])
            else:
                cert, key = cert_pool()[op[2]]
                site.update_certificate(name, cert_pem=cert, key_pem=key, actor="prop")
    except SimError as exc:
        return exc.message
    return ""


def compare(lazy: Site, naive: Naive, now: int) -> None:
    views = {v.id: v for v in lazy.computers()}
    report = lazy.report()
    runs = sorted(
        (r["id"], r["from"], r["to"], r["missedCheckIns"], r["lastMissed"], r["reason"])
        for r in report["cutOff"]
    )
    expected_runs = sorted((n.id, *r) for n in naive.clients for r in n.runs)
    assert runs == [tuple(r) for r in expected_runs]
    servers = naive.site._topology.servers_now()
    for n in naive.clients:
        v = views[n.id]
        assert (v.last_update_ms, v.last_server_name, v.profile_serial, v.online) == (
            n.last_ok,
            n.last_server,
            n.cache.serial,
            naive.online(n, now),
        ), n.id
    orphaned = {o["id"] for o in report["orphaned"]}
    assert orphaned == {
        n.id for n in naive.clients if orphan_reason(n.cache, servers, fails_over=n.fails_over)
    }
    assert report["missedCheckIns"] == sum(n.missed for n in naive.clients)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(
    data=scenarios(),
    seed=st.integers(0, 10_000),
    steps=st.lists(st.tuples(st.integers(0, 900_000), OPS), min_size=3, max_size=16),
)
def test_lazy_evaluation_matches_naive_stepping(data, seed, steps):
    """Reads of a lazily evaluated site equal a naive check-in-by-check-in replay after any changes."""
    scenario = Scenario.model_validate(data)
    certs = {name: cert_pool()[i] for i, name in enumerate(SERVERS)}
    lazy = Site.from_scenario(
        scenario, clock=SimClock(speed=1e-9, start_ms=START), seed=seed, certificates=certs
    )
    ref = Site.from_scenario(
        scenario, clock=SimClock(speed=1e-9, start_ms=START), seed=seed, certificates=certs
    )
    naive = Naive(ref)
    for delay, op in steps:
        lazy.clock.advance(delay)
        ref.clock.advance(delay)
        now = ref.clock.now_ms()
        naive.step(now)
        if op[0] == "read":
            compare(lazy, naive, now)
            continue
        assert apply(lazy, op) == apply(ref, op)
    final = ref.clock.now_ms() + 2_000_000
    lazy.clock.advance(final - lazy.clock.now_ms())
    ref.clock.advance(final - ref.clock.now_ms())
    naive.step(final)
    compare(lazy, naive, final)
