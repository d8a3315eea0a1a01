"""Gate evidence arithmetic (DESIGN.md, "Gates: evidence, not timers").

A gate counts heartbeat evidence from the changes it waits on. All times are SEPM epoch milliseconds.

- Each **member** of a gate is a client with its effective heartbeat ``h`` and the steps its evidence
  counts from; its ``since`` is the latest ``applied_at`` among those steps (or the fallback, the
  rotation's start, when none of them is journalled). The gate's **start** is the latest ``since``
  over all its steps.
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
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from reconciler.desired.schema import Gates
from reconciler.model.observed import ObservedClient
from reconciler.model.plan import GateMeasurement

NAMES_SHOWN = 10
"""How many lagging / dormant client names a measurement carries (the plan carries every dormant one)."""


@dataclass(frozen=True)
class Member:
    """A client a gate counts, with what its evidence is measured against."""

    client: ObservedClient
    heartbeat_ms: int
    holds_current_policy: bool
    since_steps: tuple[str, ...]


@dataclass(frozen=True)
class GateScope:
    """Who a gate counts, and the steps whose latest ``applied_at`` starts it."""

    members: tuple[Member, ...]
    since_steps: tuple[str, ...]


@dataclass(frozen=True)
class Evidence:
    measurement: GateMeasurement
    dormant: tuple[str, ...]
    """every dormant member's name, sorted."""


def pass_at(member: Member, since: int, cycles: int) -> int:
    """The instant of the member's first check-in on its grid after ``since + (cycles - 1) * h``."""
    heartbeat = max(member.heartbeat_ms, 1)
    last = member.client.last_update_time
    threshold = since + (cycles - 1) * heartbeat
    return last + ((threshold - last) // heartbeat + 1) * heartbeat


def predicted_open(scope: GateScope, *, since: int, gates: Gates) -> int:
    """The earliest SEPM instant the gate can open if every change it counts from happens at ``since``."""
    return _earliest(((m, since) for m in scope.members), start=since, gates=gates)


def _earliest(members: Iterable[tuple[Member, int]], *, start: int, gates: Gates) -> int:
    """When the gate's in-scope members (each with the instant it counts from) have passed, allowing
    ``maxLaggingClients`` laggards, and the minimum wait since ``start`` is over."""
    dormant_ms = gates.dormant_after * 1000
    instants = sorted(
        pass_at(member, since, gates.heartbeat_cycles)
        for member, since in members
        if member.client.last_update_time >= since - dormant_ms
    )
    needed = len(instants) - gates.max_lagging_clients
    evidence = instants[needed - 1] if needed > 0 else start
    return max(evidence, start + gates.minimum_wait * 1000)


def measure(
    scope: GateScope, *, applied: Mapping[str, int], fallback: int, gates: Gates, now: int
) -> Evidence:
    """Count the evidence for one gate at SEPM time ``now``."""
    start = _latest(scope.since_steps, applied, fallback)
    cycles = gates.heartbeat_cycles
    dormant_ms = gates.dormant_after * 1000
    passed = 0
    lagging: list[str] = []
    dormant: list[str] = []
    counted: list[tuple[Member, int]] = []
    for member in scope.members:
        since = _latest(member.since_steps, applied, fallback)
        counted.append((member, since))
        last = member.client.last_update_time
        if last < since - dormant_ms:
            dormant.append(member.client.name)
        elif last > since + (cycles - 1) * member.heartbeat_ms and member.holds_current_policy:
            passed += 1
        else:
            lagging.append(member.client.name)
    earliest_open = start + gates.minimum_wait * 1000
    lagging.sort()
    dormant.sort()
    measurement = GateMeasurement(
        cycles=cycles,
        since=start,
        deadline=start + gates.timeout * 1000,
        earliest_open=earliest_open,
        eta=_earliest(counted, start=start, gates=gates),
        in_scope=passed + len(lagging),
        passed=passed,
        max_lagging=gates.max_lagging_clients,
        lagging=tuple(lagging[:NAMES_SHOWN]),
        dormant=tuple(dormant[:NAMES_SHOWN]),
        dormant_count=len(dormant),
        open=len(lagging) <= gates.max_lagging_clients and now >= earliest_open,
    )
    return Evidence(measurement, tuple(dormant))


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
