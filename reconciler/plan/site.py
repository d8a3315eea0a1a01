"""Facts derived once from an observation: rotation targets, settings sources, heartbeats, 14.2 clients.

Contract:
- A **target** is a location whose communication settings a rotation may change. For every group that
  is its own settings source (it does not inherit; the root never does) that is its default location
  (where SEPM keeps the group-level settings) plus every location with ``uses_group_settings=False``
  (Broadcom: assign to all groups *and locations*). Locations of inheriting groups are never targets:
  they follow the group they inherit from.
- A client's **settings source** is ``Observed.settings_source`` of its own group: the group whose
  settings (MSL, secure-communications flag, heartbeat) it actually receives.
- A client's **effective heartbeat** is the largest ``heartbeat_interval`` among the locations of its
  settings source. SEPM does not tell which location a client is in, so the slowest one is assumed
  (it can only make a gate wait longer, never shorter).
- A client whose group is missing from the snapshot (hand-written snapshots only: the observer refuses
  them) has no settings source; it is given the site's slowest heartbeat and never counts as holding
  its group's policy, so it can only hold a gate shut, never open one.

Everything here is computed once per plan, so the rest of the planner reads facts instead of walking
the group tree again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from reconciler.model.agent_versions import cannot_fail_over
from reconciler.model.observed import Observed, ObservedClient, ObservedGroup, ObservedLocation
from reconciler.model.progress import LocationOriginal, describe_location
from reconciler.model.step_ids import target_key

DEFAULT_HEARTBEAT_SECONDS = 300
"""SEPM's default pull heartbeat, assumed for a group that reports no location at all."""


@dataclass(frozen=True)
class Target:
    """One location whose communication settings the rotation may change."""

    group: ObservedGroup
    location: ObservedLocation

    @property
    def key(self) -> str:
        return target_key(self.group.id, self.location.id)

    @property
    def where(self) -> str:
        return describe_location(self.location.name, self.group.full_path)

    def original(self) -> LocationOriginal:
        """The settings as observed now: what the journal records before the first change."""
        return LocationOriginal(
            group_id=self.group.id,
            group_path=self.group.full_path,
            location_id=self.location.id,
            location_name=self.location.name,
            management_server_list=self.location.management_server_list,
            secure_communications=self.location.secure_communications,
        )


@dataclass(frozen=True)
class SiteView:
    """An observation with the derived facts the planner needs, each computed once."""

    observed: Observed
    groups: Mapping[str, ObservedGroup]
    source: Mapping[str, ObservedGroup]
    """group id -> its settings-source group."""
    targets: tuple[Target, ...]
    heartbeat_ms: Mapping[str, int]
    """settings-source group id -> the largest heartbeat among its locations, in ms."""
    slowest_heartbeat_ms: int
    legacy_sources: frozenset[str]
    """ids of settings-source groups that hold at least one client that cannot fail over (14.2)."""
    legacy_clients: int
    """how many clients cannot fail over (they match the desired state's ``noFailoverVersions``)."""
    clients: Clients
    """the clients as columns, for gates that count 100,000 of them."""

    def location(self, group_id: str, location_id: str) -> ObservedLocation | None:
        group = self.groups.get(group_id)
        if group is None:
            return None
        return next((loc for loc in group.locations if loc.id == location_id), None)

    def source_of(self, client: ObservedClient) -> ObservedGroup | None:
        return self.source.get(client.group_id)


@dataclass(frozen=True)
class Clients:
    """The clients of the snapshot as columns, grouped by group and by the group whose settings they follow.

    A gate over a whole site counts each of 100,000 clients: indices into ``items`` per group, check-in
    times as a plain column, one heartbeat per settings source and one policy serial per group keep a
    plan to a few passes over them.
    """

    items: tuple[ObservedClient, ...]
    last: list[int]
    """``last_update_time``, indexed as ``items``."""
    by_group: Mapping[str, list[int]]
    """group id -> its clients (indices, in snapshot order), for the groups of the snapshot."""
    sources: Mapping[str, tuple[str, ...]]
    """settings-source group id -> the groups that follow its settings (itself included) and hold clients."""
    policy: Mapping[str, str]
    """group id -> its current policy serial."""
    heartbeat_ms: Mapping[str, int]
    """settings-source group id -> its effective heartbeat."""
    unsourced: list[int]
    """clients whose group is missing from the snapshot (hand-written snapshots only): they are given the
    site's slowest heartbeat (``slowest_ms``) and never hold their group's policy."""
    slowest_ms: int

    def holds_policy(self, index: int, serial: str) -> bool:
        return self.items[index].profile_serial == serial

    def names(self, indices: Iterable[int]) -> Iterator[str]:
        items = self.items
        return (items[i].name for i in indices)


def view(observed: Observed, no_failover: Sequence[str]) -> SiteView:
    """Derive the planner's facts from one observation (pure, total: never raises on a snapshot).

    ``no_failover``: the version patterns of agents that cannot fail over (`reconciler.model.agent_versions`).
    """
    groups = dict(observed.groups_by_id())
    source = observed.settings_sources()
    heartbeat_ms = {group.id: _largest_heartbeat_ms(group) for group in source.values()}
    slowest = max(heartbeat_ms.values(), default=DEFAULT_HEARTBEAT_SECONDS * 1000)
    legacy_version = {
        v: cannot_fail_over(v, no_failover) for v in {c.agent_version for c in observed.clients}
    }
    legacy_clients = [c for c in observed.clients if legacy_version[c.agent_version]]
    legacy = frozenset(source[c.group_id].id for c in legacy_clients if c.group_id in source)
    return SiteView(
        observed=observed,
        groups=groups,
        source=source,
        targets=_targets(observed, source),
        heartbeat_ms=heartbeat_ms,
        slowest_heartbeat_ms=slowest,
        legacy_sources=legacy,
        legacy_clients=len(legacy_clients),
        clients=_columns(observed, groups, source, heartbeat_ms, slowest),
    )


def _columns(
    observed: Observed,
    groups: Mapping[str, ObservedGroup],
    source: Mapping[str, ObservedGroup],
    heartbeat_ms: Mapping[str, int],
    slowest: int,
) -> Clients:
    clients = observed.clients
    by_group: defaultdict[str, list[int]] = defaultdict(list)
    for index, client in enumerate(clients):
        by_group[client.group_id].append(index)
    sources: dict[str, list[str]] = {}
    unsourced: list[int] = []
    for group_id in sorted(by_group):
        origin = source.get(group_id)
        if origin is None:
            unsourced.extend(by_group.pop(group_id))
        else:
            sources.setdefault(origin.id, []).append(group_id)
    return Clients(
        items=clients,
        last=[c.last_update_time for c in clients],
        by_group=dict(by_group),
        sources={key: tuple(value) for key, value in sources.items()},
        policy={g.id: g.policy_serial for g in groups.values()},
        heartbeat_ms=heartbeat_ms,
        unsourced=sorted(unsourced),
        slowest_ms=slowest,
    )


def _targets(observed: Observed, source: Mapping[str, ObservedGroup]) -> tuple[Target, ...]:
    targets: list[Target] = []
    for group in sorted(observed.groups, key=lambda g: (g.full_path.casefold(), g.id)):
        if source[group.id].id != group.id:
            continue  # inherits: its clients follow the group it inherits from
        own = [loc for loc in group.locations if loc.is_default or not loc.uses_group_settings]
        # Default location first: it carries the group-level settings the others default to.
        own.sort(key=lambda loc: (not loc.is_default, loc.name.casefold(), loc.id))
        targets.extend(Target(group, loc) for loc in own)
    return tuple(targets)


def _largest_heartbeat_ms(group: ObservedGroup) -> int:
    seconds = max((loc.heartbeat_interval for loc in group.locations), default=DEFAULT_HEARTBEAT_SECONDS)
    return seconds * 1000
