"""The clients of a snapshot as columns: what the planner counts, read from 100,000 clients in one pass.

Contract:
- `client_columns` takes each client's group, check-in time, policy serial and agent version, and
  each group's positions, from the columns the observer handed over with the snapshot
  (``Observed.client_columns()``) and, where there are none (hand-built or loaded snapshots), reads
  them in one pass done in C (``operator.attrgetter``) and groups them; everything after works on
  those columns. Why: after a real observation
  the 100,000 client objects lie scattered in memory, so every Python pass over them costs about a
  tenth of a second, while a pass over a column costs milliseconds; a plan that walked the clients
  once per fact it needs would take most of a second, and even the one pass costs half the plan.
- Indices are positions in ``Observed.clients``. ``by_group`` holds the clients of every group that is
  in the snapshot, ``sources`` says which of those groups follow which settings source, and
  ``unsourced`` holds the clients whose group is missing (hand-written snapshots only: the observer
  refuses them). They get the site's slowest heartbeat and never count as holding their group's policy.
- Check-in times are a list of ints made once per plan from the observer's unboxed column (a few
  milliseconds, in C), so that the gates' passes over 100,000 of them copy references instead of
  making an int object per client per pass.
"""

from __future__ import annotations

import itertools
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter

from reconciler import collector
from reconciler.model.agent_versions import cannot_fail_over
from reconciler.model.client_columns import positions_by_group
from reconciler.model.observed import Observed, ObservedClient, ObservedGroup

_FIELDS = attrgetter("group_id", "last_update_time", "profile_serial", "agent_version")


@dataclass(frozen=True)
class Clients:
    """The clients of one snapshot as columns (see the module docstring)."""

    items: Sequence[ObservedClient]
    group: Sequence[str]
    """``group_id``, indexed as ``items``."""
    last: Sequence[int]
    """``last_update_time``, indexed as ``items``."""
    profile: Sequence[str]
    """``profile_serial`` (the policy serial the client holds), indexed as ``items``."""
    by_group: Mapping[str, Sequence[int]]
    """group id -> its clients (indices, in snapshot order), for the groups of the snapshot."""
    sources: Mapping[str, tuple[str, ...]]
    """settings-source group id -> the groups that follow its settings (itself included) and hold clients."""
    policy: Mapping[str, str]
    """group id -> its current policy serial."""
    heartbeat_ms: Mapping[str, int]
    """settings-source group id -> its effective heartbeat."""
    unsourced: list[int]
    slowest_ms: int
    """the site's slowest effective heartbeat, given to unsourced clients."""
    legacy_sources: frozenset[str]
    """settings-source group ids that hold at least one client that cannot fail over (14.2)."""
    legacy_count: int
    """how many clients cannot fail over."""

    def names(self, indices: Iterable[int]) -> Iterator[str]:
        items = self.items
        return (items[i].name for i in indices)

    def checked_in_before(self, cutoff: int) -> list[int]:
        """The clients whose last check-in is before ``cutoff`` (SEPM epoch ms)."""
        return list(itertools.compress(range(len(self.last)), map(cutoff.__gt__, self.last)))


def client_columns(
    observed: Observed,
    *,
    groups: Mapping[str, ObservedGroup],
    source: Mapping[str, ObservedGroup],
    heartbeat_ms: Mapping[str, int],
    slowest_ms: int,
    no_failover: Sequence[str],
) -> Clients:
    """The columns of ``observed``'s clients; ``source`` maps a group id to its settings source."""
    clients = observed.clients
    group_ids, lasts, profiles, versions, positions = _read(observed)
    by_group = dict(positions) if positions is not None else positions_by_group(group_ids)
    sources: dict[str, list[str]] = {}
    unsourced: list[int] = []
    for group_id in sorted(by_group):
        origin = source.get(group_id)
        if origin is None:
            unsourced.extend(by_group.pop(group_id))
        else:
            sources.setdefault(origin.id, []).append(group_id)
    legacy_version = {v: cannot_fail_over(v, no_failover) for v in set(versions)}
    legacy = list(map(legacy_version.__getitem__, versions))
    legacy_groups = set(itertools.compress(group_ids, legacy))
    return Clients(
        items=clients,
        group=group_ids,
        last=lasts.tolist() if isinstance(lasts, array) else list(lasts),
        profile=profiles,
        by_group=by_group,
        sources={key: tuple(value) for key, value in sources.items()},
        policy={g.id: g.policy_serial for g in groups.values()},
        heartbeat_ms=heartbeat_ms,
        unsourced=sorted(unsourced),
        slowest_ms=slowest_ms,
        legacy_sources=frozenset(source[g].id for g in legacy_groups if g in source),
        legacy_count=sum(legacy),
    )


_Columns = tuple[
    Sequence[str], Sequence[int], Sequence[str], Sequence[str], Mapping[str, Sequence[int]] | None
]


def _read(observed: Observed) -> _Columns:
    """Group ids, check-in times, policy serials and agent versions, indexed as the clients, and each
    group's positions when the observer keeps them."""
    columns = observed.client_columns()
    if columns is not None:
        return (
            columns.group_id,
            columns.last_update_time,
            columns.profile_serial,
            columns.agent_version,
            columns.by_group,
        )
    if not observed.clients:
        return (), (), (), (), None
    # Each client is touched once, in C; the tuple made per client dies at once, so the collector
    # is kept out of it (`reconciler.collector`).
    with collector.paused():
        group_ids, lasts, profiles, versions = zip(*map(_FIELDS, observed.clients), strict=True)
    return group_ids, lasts, profiles, versions, None
