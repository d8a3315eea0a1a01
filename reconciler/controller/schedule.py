"""When a site is reconciled next, and what its status says until then.

Contract:
- Every part of a reconcile answers with a `Next`: the delay before the next reconcile (local seconds)
  and, when it has something to say beyond the plan, the site's status meanwhile.
- Waiting is not failing: a gate that is not open is re-checked at the poll interval, but no later than
  its deadline, the end of its minimum wait, or the predicted check-in of its last missing client (the
  gate's ``eta``), converted from SEPM time with `SepmPace`: a gate is never slept through once it can
  open. Its evidence is then re-read, never assumed from the prediction.
- Poll delays are jittered by ±20% so that sites (and controllers) polling one SEPM drift apart.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from reconciler.controller.sepm_pace import SepmPace
from reconciler.model.plan import GateMeasurement
from reconciler.telemetry.status import Phase

DEFAULT_POLL = 60.0
"""Seconds between reconciles of a site with no valid desired state (which says its own interval)."""

_EARLIEST = 0.05
"""The shortest sleep before a gate check: a due check is never a busy loop."""


@dataclass(frozen=True)
class Status:
    """A status that overrides the plan's: phase, CamelCase reason, message for people."""

    phase: Phase
    reason: str
    message: str


@dataclass(frozen=True)
class Next:
    """Reconcile again after ``delay`` seconds; ``status`` (if any) is what the site shows meanwhile."""

    delay: float
    status: Status | None = None


NOW = Next(0.0)
"""Something changed in the journal: plan again at once."""


def jittered(seconds: float, rng: random.Random) -> float:
    return seconds * (0.8 + 0.4 * rng.random())


def until_gate_check(gate: GateMeasurement, *, poll: float, pace: SepmPace, rng: random.Random) -> float:
    """Seconds until a waiting gate is measured again (see the module docstring)."""
    now = pace.now_ms() or 0
    due = [gate.deadline, *(t for t in (gate.earliest_open, gate.eta) if t > now)]
    soonest = min(pace.seconds_until(t) for t in due)
    return max(_EARLIEST, min(jittered(poll, rng), soonest + _EARLIEST))
