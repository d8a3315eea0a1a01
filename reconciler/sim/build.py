"""Turn a validated Scenario into the starting state of a site: ids, certificates, groups, clients.

Everything random here (ids, heartbeat phases, version assignment, offline windows, generated trees)
comes from one ``random.Random(seed)``, so a scenario and a seed always give the same site, except the
certificates (fresh RSA keys; pass ``certificates`` to pin them) and the start time (the clock's).

At the start every client holds its location's current policy (it has been checking in for a while):
its last check-in was one heartbeat-phase ago. Dormant clients hold the same MSL and certificates but
an older policy serial, stamped at their last check-in ``dormant_days`` before the start.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass

from reconciler.sim.certs import fingerprint, generate_self_signed
from reconciler.sim.clients import Client, Population
from reconciler.sim.group_paths import PATH_SEPARATOR, parent_path
from reconciler.sim.scenario import (
    GENERATED_NEWER_VERSIONS,
    GENERATED_OLD_VERSION,
    DormantSchedule,
    GenerateSpec,
    OfflineSchedule,
    PopulationSpec,
    RandomSchedule,
    Scenario,
    Schedule,
    SettingsSpec,
)
from reconciler.sim.schedule import Windows, normalize_windows
from reconciler.sim.serial import format_serial
from reconciler.sim.topology import Group, Location, Msl, Server, Settings, Topology
from reconciler.sim.views import MslEntry

DAY_MS = 86_400_000


@dataclass
class Built:
    topology: Topology
    population: Population
    start_ms: int
    rng: random.Random


def new_id(rng: random.Random) -> str:
    """A SEPM-like id: 32 upper-case hex digits."""
    return f"{rng.getrandbits(128):032X}"


def build_site(
    scenario: Scenario,
    *,
    start_ms: int,
    seed: int,
    certificates: dict[str, tuple[bytes, bytes]] | None = None,
) -> Built:
    # Seeded on purpose: the same scenario and seed must give the same site (not a security use).
    rng = random.Random(seed)  # noqa: S311
    servers = _servers(scenario, rng, certificates or {})
    by_name = {s.name: s for s in servers}
    msls = [
        Msl(
            m.name,
            m.protocol,
            tuple(
                MslEntry(
                    e.server,
                    e.priority,
                    by_name[e.server].ports["https"]
                    if m.protocol == "https"
                    else (e.http_port or by_name[e.server].ports["http"]),
                )
                for e in m.entries
            ),
        )
        for m in scenario.msls
    ]
    topology = Topology(servers=servers, msls=msls, groups=[])
    paths: dict[str, Group] = {}
    for spec in scenario.groups:
        parent = paths.get(parent_path(spec.path))
        group = _add_group(topology, rng, parent, spec.path.rpartition(PATH_SEPARATOR)[2], start_ms)
        group.inherits, group.description = spec.inherits and parent is not None, spec.description
        base = topology.effective(parent, parent.default_location) if parent is not None else None
        group.locations[0].own = _merge(base, spec.settings)
        for loc in spec.locations:
            own = None if loc.uses_group_settings else _merge(group.locations[0].own, loc.settings)
            group.locations.append(Location(new_id(rng), loc.name, own))
        paths[spec.path] = group
    populations = list(scenario.clients)
    if scenario.generate is not None:
        populations += _generate(topology, rng, paths, scenario.generate, start_ms)
    clients: list[Client] = []
    for pop in populations:
        clients.extend(
            _population(
                topology, rng, paths[pop.group], pop, scenario, start_ms=start_ms, first_idx=len(clients)
            )
        )
    population = Population(topology=topology, seed=seed, clients=clients, start_ms=start_ms - 1)
    return Built(topology, population, start_ms, rng)


def _servers(scenario: Scenario, rng: random.Random, certs: dict[str, tuple[bytes, bytes]]) -> list[Server]:
    out = []
    for index, spec in enumerate(scenario.servers):
        cert_pem, key_pem = certs.get(spec.name) or generate_self_signed(spec.name)
        out.append(
            Server(
                name=spec.name,
                id=new_id(rng),
                index=index,
                address=spec.address,
                ports=spec.ports.model_dump(),
                listen_ports=spec.listen.model_dump(),
                cert_pem=cert_pem,
                key_pem=key_pem,
                fingerprint=fingerprint(cert_pem),
            )
        )
    return out


def _add_group(
    topology: Topology, rng: random.Random, parent: Group | None, name: str, start_ms: int
) -> Group:
    gid = new_id(rng)
    group = Group(
        id=gid,
        name=name,
        parent=parent,
        inherits=False,
        description="",
        created_ms=start_ms - 400 * DAY_MS,
        locations=[Location(new_id(rng), "Default", None)],
        serial=format_serial(gid, start_ms),
        serial_ms=start_ms,
        modified_ms=start_ms,
    )
    if parent is not None:
        parent.children.append(group)
    topology.groups.append(group)
    topology.by_id[gid] = group
    return group


def _merge(base: Settings | None, spec: SettingsSpec | None) -> Settings:
    """Settings from ``spec``, missing fields from ``base`` (validation guarantees the root is complete)."""
    spec = spec or SettingsSpec()
    msl = spec.msl if spec.msl is not None else (base.msl if base else None)
    secure = (
        spec.secure_communications
        if spec.secure_communications is not None
        else (base.secure_communications if base else None)
    )
    heartbeat = (
        spec.heartbeat_seconds
        if spec.heartbeat_seconds is not None
        else (base.heartbeat_seconds if base else None)
    )
    mode = spec.mode if spec.mode is not None else (base.mode if base else None)
    assert msl is not None
    assert secure is not None
    assert heartbeat is not None
    assert mode is not None
    return Settings(msl, secure, heartbeat, mode)


def _generate(
    topology: Topology, rng: random.Random, paths: dict[str, Group], spec: GenerateSpec, start_ms: int
) -> list[PopulationSpec]:
    """A synthetic tree: each new group hangs under the root or a generated group not yet too deep."""
    root = topology.groups[0]
    depth_of: dict[str, int] = {}
    made: list[Group] = []
    for i in range(spec.groups):
        candidates = [g for g in made[-200:] if depth_of[g.id] < spec.depth]
        parent = root if not candidates or rng.random() < 0.2 else rng.choice(candidates)
        group = _add_group(topology, rng, parent, f"G{i:05d}", start_ms)
        depth_of[group.id] = 1 if parent is root else depth_of[parent.id] + 1
        group.inherits = parent is not root and rng.random() < spec.inherit_share
        base = topology.effective(parent, parent.default_location)
        heartbeat = rng.choice(spec.heartbeats_seconds)
        group.locations[0].own = Settings(spec.msl, base.secure_communications, heartbeat, base.mode)
        paths[group.full_path] = group
        made.append(group)
    pops: list[PopulationSpec] = []
    per_group, extra = divmod(spec.clients, len(made))
    for i, group in enumerate(made):
        count = per_group + (1 if i < extra else 0)
        if count:
            old = rng.random() < spec.legacy_share
            versions = {GENERATED_OLD_VERSION: 1.0} if old else {GENERATED_NEWER_VERSIONS[i % 2]: 1.0}
            pops.append(
                PopulationSpec(
                    group=group.full_path,
                    count=count,
                    versions=versions,
                    schedule=spec.schedule,
                    name_prefix=f"WS{i:05d}",
                )
            )
    return pops


def _population(
    topology: Topology,
    rng: random.Random,
    group: Group,
    spec: PopulationSpec,
    scenario: Scenario,
    *,
    start_ms: int,
    first_idx: int,
) -> list[Client]:
    location = next((loc for loc in group.locations if loc.name == spec.location), group.default_location)
    target = topology.target(group, location)
    h = target.heartbeat_ms
    prefix = spec.name_prefix or "".join(ch for ch in group.name.upper() if ch.isalnum())[:10] or "CLIENT"
    versions = _allocate(rng, spec.versions, spec.count)
    out = []
    for n in range(spec.count):
        idx = first_idx + n
        windows, dormant_days = _schedule(rng, spec.schedule, start_ms)
        cache, anchor = target, start_ms - h + rng.randrange(h)
        if dormant_days is not None:
            anchor = start_ms - int(dormant_days * DAY_MS)
            cache = dataclasses.replace(target, serial=format_serial(group.id, anchor))
        out.append(
            Client(
                idx=idx,
                id=new_id(rng),
                name=f"{prefix}-{first_idx + n + 1:06d}",
                group=group,
                location=location,
                version=versions[n],
                fails_over=scenario.fails_over(versions[n]),
                windows=windows,
                dormant=dormant_days is not None,
                cache=cache,
                anchor=anchor,
                created_ms=start_ms - 200 * DAY_MS,
            )
        )
    return out


def _allocate(rng: random.Random, shares: dict[str, float], count: int) -> list[str]:
    """Exactly ``count`` versions in the given shares (largest remainder), in a seeded random order."""
    exact = {v: share * count for v, share in shares.items()}
    counts = {v: int(x) for v, x in exact.items()}
    for v in sorted(exact, key=lambda v: exact[v] - counts[v], reverse=True)[: count - sum(counts.values())]:
        counts[v] += 1
    out = [v for v, n in counts.items() for _ in range(n)]
    rng.shuffle(out)
    return out


def _schedule(rng: random.Random, schedule: Schedule, start_ms: int) -> tuple[Windows, float | None]:
    """(offline windows, dormant days or None) for one client."""
    if isinstance(schedule, OfflineSchedule):
        w = schedule.offline
        return ((start_ms + w.from_seconds * 1000, start_ms + w.to_seconds * 1000),), None
    if isinstance(schedule, DormantSchedule):
        return (), schedule.dormant_days
    if isinstance(schedule, RandomSchedule):
        spec = schedule.random
        if rng.random() >= spec.share:
            return (), None
        windows = []
        for _ in range(spec.windows):
            length = rng.randint(spec.min_seconds, spec.max_seconds)
            begin = rng.randint(0, max(0, spec.horizon_seconds - length))
            windows.append((start_ms + begin * 1000, start_ms + (begin + length) * 1000))
        return normalize_windows(windows), None
    return (), None
