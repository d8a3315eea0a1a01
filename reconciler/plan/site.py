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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from reconciler.model.observed import Observed, ObservedClient, ObservedGroup, ObservedLocation
from reconciler.model.progress import LocationOriginal, describe_location
from reconciler.model.step_ids import target_key
from reconciler.plan.columns import Clients, client_columns

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


def view(observed: Observed, no_failover: Sequence[str]) -> SiteView:
    """Derive the planner's facts from one observation (pure, total: never raises on a snapshot).

    ``no_failover``: the version patterns of agents that cannot fail over (`reconciler.model.agent_versions`).
    """
    groups = dict(observed.groups_by_id())
    source = observed.settings_sources()
    heartbeat_ms = {group.id: _largest_heartbeat_ms(group) for group in source.values()}
    slowest = max(heartbeat_ms.values(), default=DEFAULT_HEARTBEAT_SECONDS * 1000)
    clients = client_columns(
        observed,
        groups=groups,
        source=source,
        heartbeat_ms=heartbeat_ms,
        slowest_ms=slowest,
        no_failover=no_failover,
    )
    return SiteView(
        observed=observed,
        groups=groups,
        source=source,
        targets=_targets(observed, source),
        heartbeat_ms=heartbeat_ms,
        slowest_heartbeat_ms=slowest,
        legacy_sources=clients.legacy_sources,
        legacy_clients=clients.legacy_count,
        clients=clients,
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
