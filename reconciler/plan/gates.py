"""Gate evidence arithmetic (DESIGN.md, "Gates: evidence, not timers").

A gate counts heartbeat evidence from the changes it waits on. All times are SEPM epoch milliseconds.

- A gate counts the clients of some settings-source groups, in **parts**: each part names groups and
  the steps its clients' evidence counts from; a client's ``since`` is the latest ``applied_at`` among
  its part's steps (or the fallback, the rotation's start, when none of them is journalled). Its ``h``
  is its settings source's effective heartbeat. The gate's **start** is the latest ``since`` over all
  its steps. A site gate also counts the clients whose group is missing from the snapshot.
- **Dormant**: ``last_update_time < since - dormantAfter``. Dormant clients are left out of the count
  but named: they are the clients the rotation will orphan.
- **Passed**: ``last_update_time > since + (N - 1) * h`` (it checked in during the N-th heartbeat
  cycle after the change) **and** it holds its own group's current policy serial.
- **Open**: no more than ``maxLaggingClients`` in-scope clients lag, and ``now >= start + minimumWait``.
  The **deadline** is ``start + timeout``.
- **When a gate can open** (the physical bound): a client checks in on a grid, ``last_update_time + k *
  h``. It passes at the first instant of its grid after ``since + (N - 1) * h`` (`pass_at`), which is
  up to ``N * h`` after the change, not ``(N - 1) * h``. A gate can open no earlier than the instant its
  last in-scope client passes (with ``maxLaggingClients`` laggards allowed, the instant the rest have),
  and no earlier than ``start + minimumWait``: `predicted_open`, and a measurement's ``eta``. The
  planner chains it over the gates ahead, each starting when the one before can open. The prediction
  assumes each client keeps its grid and its effective heartbeat (the slowest of its settings source's
  locations); a client that misses check-ins, or checks in more often than that, moves its instant.
- A measurement names the lagging clients furthest behind (earliest last check-in first), at most
  ``NAMES_SHOWN``, and the first dormant ones by name.
- Cost: one pass over the clients of the gate being measured; a gate ahead costs a binary search per
  settings-source group that can hold its latest instant, in a `GridIndex` shared by the plan (each
  group's clients' grid phases, sorted the first time they are needed), since ``max(pass_at)`` over a
  group is ``T + h - min((T - last) mod h)``; groups of shorter heartbeats than the latest instant
  found can reach are skipped.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain, compress
from operator import add, and_, eq, itemgetter, le, lt, mod, not_, sub

from reconciler.desired.schema import Gates
from reconciler.model.plan import GateMeasurement
from reconciler.plan.columns import Clients

NAMES_SHOWN = 10
"""How many lagging / dormant client names a measurement carries (the plan carries every dormant one)."""


@dataclass(frozen=True)
class Part:
    """The clients of some settings-source groups, counted from the latest of ``since_steps``."""

    since_steps: tuple[str, ...]
    sources: tuple[str, ...]


@dataclass(frozen=True)
class GateScope:
    """Who a gate counts (its parts), and the steps whose latest ``applied_at`` starts it."""

    parts: tuple[Part, ...]
    since_steps: tuple[str, ...]
    unsourced: bool = False
    """also count the clients whose group is missing from the snapshot (from the gate's start)."""


@dataclass(frozen=True)
class Evidence:
    measurement: GateMeasurement
    dormant: tuple[str, ...]
    """every dormant member's name, sorted."""


def pass_at(last: int, heartbeat_ms: int, since: int, cycles: int) -> int:
    """The instant of a client's first check-in on its grid (``last + k * h``) after ``since + (N-1) h``."""
    heartbeat = max(heartbeat_ms, 1)
    threshold = since + (cycles - 1) * heartbeat
    return last + ((threshold - last) // heartbeat + 1) * heartbeat


class GridIndex:
    """Per settings-source group, the sorted grid phases (``last mod h``) of its clients that are not
    dormant at ``now``: enough to predict the last check-in of any gate ahead in a binary search, since a
    client's instant on its grid depends on its phase alone.

    A source's phases are gathered and sorted the first time a prediction needs them (``phases``), and
    a prediction needs only the sources that can hold its latest instant: a source with live clients
    passes after ``since + (N-1) h`` and never after ``since + N h``, so with ``N`` heartbeats counted,
    the sources with the longest heartbeats decide, and one whose ``since + N h`` is not past the
    latest instant found already is not looked at. On a site of mixed heartbeats most sources never
    are; on one with a single heartbeat every source is, once.
    """

    def __init__(self, clients: Clients, *, now: int, gates: Gates) -> None:
        self.clients = clients
        self._cutoff = now - gates.dormant_after * 1000
        self._phases: dict[str, list[int]] = {}
        self.unsourced = [i for i in clients.unsourced if clients.last[i] >= self._cutoff]

    def phases(self, source: str) -> list[int]:
        """The sorted grid phases of ``source``'s clients that are not dormant (empty: none is live)."""
        phases = self._phases.get(source)
        if phases is None:
            clients = self.clients
            heartbeat = max(clients.heartbeat_ms[source], 1)
            indices = chain.from_iterable(map(clients.by_group.__getitem__, clients.sources[source]))
            # Per client only C-level maps (no Python frame per client): a source can hold 100,000.
            lasts = filter(self._cutoff.__le__, map(clients.last.__getitem__, indices))  # not dormant
            phases = self._phases[source] = sorted(map(heartbeat.__rmod__, lasts))
        return phases


def predicted_open(scope: GateScope, grid: GridIndex, *, since: int, gates: Gates) -> int:
    """The earliest SEPM instant the gate can open if every change it counts from happens at ``since``."""
    cycles, lagging = gates.heartbeat_cycles, gates.max_lagging_clients
    clients, last = grid.clients, grid.clients.last
    heartbeat_of = clients.heartbeat_ms
    sources = [
        s for s in dict.fromkeys(s for part in scope.parts for s in part.sources) if s in clients.sources
    ]
    loose = grid.unsourced if scope.unsourced else []
    if lagging:  # the (k+1)-th latest client decides: every instant is needed
        # A client's instant depends on its grid phase alone, so the phases stand for the clients.
        instants = [
            pass_at(phase, heartbeat_of[source], since, cycles)
            for source in sources
            for phase in grid.phases(source)
        ] + [pass_at(last[i], clients.slowest_ms, since, cycles) for i in loose]
        latest = heapq.nlargest(lagging + 1, instants)
        evidence = latest[-1] if len(latest) > lagging else since
    else:
        evidence = max((pass_at(last[i], clients.slowest_ms, since, cycles) for i in loose), default=since)
        # Longest heartbeats first: once a source cannot pass later than the latest found, none after it can.
        for source in sorted(sources, key=heartbeat_of.__getitem__, reverse=True):
            heartbeat = max(heartbeat_of[source], 1)
            if since + cycles * heartbeat <= evidence:
                break
            phases = grid.phases(source)
            if phases:
                evidence = max(evidence, _latest_pass(phases, heartbeat, since, cycles))
    return max(evidence, since + gates.minimum_wait * 1000)


def _latest_pass(phases: list[int], heartbeat_ms: int, since: int, cycles: int) -> int:
    """``max(pass_at)`` over clients with these sorted grid phases: ``T + h - min((T - last) mod h)``."""
    heartbeat = max(heartbeat_ms, 1)
    threshold = since + (cycles - 1) * heartbeat
    target = threshold % heartbeat
    below = bisect_right(phases, target) - 1
    nearest = target - phases[below] if below >= 0 else target - phases[-1] + heartbeat
    return threshold + heartbeat - nearest


def measure(
    scope: GateScope,
    clients: Clients,
    *,
    applied: Mapping[str, int],
    fallback: int,
    gates: Gates,
    now: int,
) -> Evidence:
    """Count the evidence for one gate at SEPM time ``now`` (one pass over the snapshot's columns)."""
    start = _latest(scope.since_steps, applied, fallback)
    cycles, allowed = gates.heartbeat_cycles, gates.max_lagging_clients
    terms = _terms(scope, clients, applied, fallback, cycles=cycles, dormant_ms=gates.dormant_after * 1000)
    # The clients in scope, in snapshot order: every pass below reads the columns front to back (a
    # group's clients lie scattered over the snapshot, and reading them group by group costs a cache
    # miss a client at 100,000). Per client only C-level maps and compresses, no Python frame.
    chosen = list(map(terms.__contains__, clients.group))
    members = list(compress(range(len(chosen)), chosen))
    lasts = list(compress(clients.last, chosen))
    held = list(compress(clients.profile, chosen))
    own = list(map(terms.__getitem__, compress(clients.group, chosen)))
    if scope.unsourced and clients.unsourced:
        # Counted from the gate's start at the site's slowest heartbeat, holding no known policy.
        slowest = max(clients.slowest_ms, 1)
        loose = (start + (cycles - 1) * slowest, start - gates.dormant_after * 1000, slowest, None)
        members += clients.unsourced
        lasts += map(clients.last.__getitem__, clients.unsourced)
        held += map(clients.profile.__getitem__, clients.unsourced)
        own += [loose] * len(clients.unsourced)
    awake = list(map(le, map(_FLOOR, own), lasts))  # floor <= last: not dormant
    dormant: list[int] = []
    if not all(awake):
        dormant = list(compress(members, map(not_, awake)))
        members, lasts = list(compress(members, awake)), list(compress(lasts, awake))
        held, own = list(compress(held, awake)), list(compress(own, awake))
    thresholds, heartbeats = list(map(_THRESHOLD, own)), list(map(_HEARTBEAT, own))
    # Passed: last > threshold, holding the policy serial of its own group (None holds nothing).
    through = list(map(and_, map(lt, thresholds, lasts), map(eq, map(_SERIAL, own), held)))
    passed = sum(through)
    lagging = list(compress(members, map(not_, through)))
    # Each client's pass instant: threshold + h - ((threshold - last) mod h).
    instants = map(sub, map(add, thresholds, heartbeats), map(mod, map(sub, thresholds, lasts), heartbeats))
    if allowed:
        latest = heapq.nlargest(allowed + 1, instants)
        latest_pass = latest[-1] if len(latest) > allowed else start
    else:
        latest_pass = max(instants, default=start)
    earliest_open = start + gates.minimum_wait * 1000
    measurement = GateMeasurement(
        cycles=cycles,
        since=start,
        deadline=start + gates.timeout * 1000,
        earliest_open=earliest_open,
        eta=max(latest_pass, earliest_open),
        in_scope=passed + len(lagging),
        passed=passed,
        max_lagging=allowed,
        lagging=_furthest_behind(clients, lagging),
        dormant=tuple(heapq.nsmallest(NAMES_SHOWN, clients.names(dormant))),
        dormant_count=len(dormant),
        open=len(lagging) <= allowed and now >= earliest_open,
    )
    return Evidence(measurement, tuple(sorted(clients.names(dormant))))


_Terms = tuple[int, int, int, str | None]
"""What a group's clients are measured by: threshold, dormancy floor, heartbeat, policy serial."""
_THRESHOLD, _FLOOR, _HEARTBEAT, _SERIAL = (itemgetter(k) for k in range(4))


def _terms(
    scope: GateScope,
    clients: Clients,
    applied: Mapping[str, int],
    fallback: int,
    *,
    cycles: int,
    dormant_ms: int,
) -> dict[str, _Terms]:
    """Group id -> its terms, for each group of each settings source of each part of the gate (a group
    named twice is counted once, from its first part): its clients pass after ``since + (N-1) h``, from
    the latest of its part's steps, and are dormant before ``since - dormantAfter``."""
    terms: dict[str, _Terms] = {}
    for part in scope.parts:
        since = _latest(part.since_steps, applied, fallback)
        for source in part.sources:
            heartbeat = max(clients.heartbeat_ms.get(source, 1), 1)
            threshold, floor = since + (cycles - 1) * heartbeat, since - dormant_ms
            for group in clients.sources.get(source, ()):
                terms.setdefault(group, (threshold, floor, heartbeat, clients.policy[group]))
    return terms


def _furthest_behind(clients: Clients, lagging: list[int]) -> tuple[str, ...]:
    """The names of the lagging clients that checked in longest ago (then by name): the ones an operator
    should look at. Chosen by check-in time, a column, so that 100,000 laggards cost no name look-ups."""
    last, items = clients.last, clients.items
    shown = heapq.nsmallest(NAMES_SHOWN, lagging, key=last.__getitem__)
    return tuple(items[i].name for i in sorted(shown, key=lambda i: (last[i], items[i].name)))


def describe(measurement: GateMeasurement) -> str:
    """``3/5 clients through 3 heartbeats since 2024-05-01T14:05:00Z; lagging: a, b; 1 dormant``."""
    text = f"{measurement.summary()} since {sepm_time(measurement.since)}"
    if measurement.lagging:
        lagging = measurement.in_scope - measurement.passed
        more = f" and {lagging - len(measurement.lagging)} more" if lagging > len(measurement.lagging) else ""
        text += f"; lagging: {', '.join(measurement.lagging)}{more}"
    if measurement.dormant_count:
        text += f"; {measurement.dormant_count} dormant (will be orphaned): {', '.join(measurement.dormant)}"
    return text


def sepm_time(ms: int) -> str:
    """An epoch-ms SEPM time as ISO 8601 UTC, or the raw number when it is out of datetime's range."""
    try:
        return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return f"{ms} ms"


def _latest(step_ids: tuple[str, ...], applied: Mapping[str, int], fallback: int) -> int:
    return max((applied[s] for s in step_ids if s in applied), default=fallback)
