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
- **Least duration** of a gate: ``max(minimumWait, (N - 1) * h_max)``, ``h_max`` the largest effective
  heartbeat among its members (0 without members). It is the SEPM time the gate needs from its start
  when every member must pass; the plan's ``evidence_lower_bound`` is the sum over the gates still
  ahead, without subtracting time already spent in the current one. With ``maxLaggingClients > 0``
  the slowest clients may be left behind, so it is an estimate for status lines, not a promise.
"""

from __future__ import annotations

from collections.abc import Mapping
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

    def least_duration_ms(self, gates: Gates) -> int:
        slowest = max((m.heartbeat_ms for m in self.members), default=0)
        return max(gates.minimum_wait * 1000, (gates.heartbeat_cycles - 1) * slowest)


@dataclass(frozen=True)
class Evidence:
    measurement: GateMeasurement
    dormant: tuple[str, ...]
    """every dormant member's name, sorted."""


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
    for member in scope.members:
        since = _latest(member.since_steps, applied, fallback)
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
