"""How a finished rotation compares with what its evidence allowed: the figures the demo and the rotation
benchmark print, all in SEPM time.

Contract:
- The **bound** is the planner's physical bound taken at the rotation's start: ``Plan.eta`` (every
  client's N-th check-in on its grid, chained over the gates as if every act were instant) minus the
  rotation's start. Its **insecure bound** is the same up to the last certificate gate: secure
  communications come back on right after it.
- The **duration** runs from the rotation's start to its last step recorded in the journal; the time
  with secure communications off runs from its first ``disable`` to its last ``enable``.
- A person following the source procedure with fixed timers waits N heartbeats of the slowest group
  after each change that needs evidence (every gate but the one before deleting copies, which the
  procedure does not have); Broadcom's English advice waits 24 hours instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from reconciler.journal.store import Journal
from reconciler.model import step_ids
from reconciler.model.observed import Observed
from reconciler.model.plan import Plan, StepKind

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class RotationFigures:
    completed: bool
    duration_ms: int
    bound_ms: int
    insecure_ms: int
    insecure_bound_ms: int
    fixed_timers_ms: int
    english_advice_ms: int

    @property
    def ratio(self) -> float | None:
        return self.duration_ms / self.bound_ms if self.bound_ms else None

    @property
    def insecure_ratio(self) -> float | None:
        return self.insecure_ms / self.insecure_bound_ms if self.insecure_bound_ms else None


def rotation_figures(journal_path: Path, site: str, *, start: Plan, observed: Observed) -> RotationFigures:
    """The figures of the site's last rotation; ``start`` and ``observed`` are the plan and observation
    it started from (see the module docstring)."""
    with Journal(journal_path) as journal:
        rotation = journal.rotations(site, limit=1)[0]
        steps = journal.steps(rotation["id"])
    started = rotation["started_at"]
    applied = [s["applied_at"] for s in steps if s["applied_at"] is not None]
    off = [
        s["applied_at"]
        for s in steps
        if s["kind"] == StepKind.DISABLE_SECURE_COMMUNICATIONS and s["applied_at"]
    ]
    on = [
        s["applied_at"]
        for s in steps
        if s["kind"] == StepKind.ENABLE_SECURE_COMMUNICATIONS and s["applied_at"]
    ]
    gates = [s for s in start.steps if s.kind is StepKind.GATE]
    certificate_gates = [g for g in gates if step_ids.is_certificate_gate(g.id) and g.eta is not None]
    waits = sum(1 for g in gates if g.id != step_ids.RESTORED_GATE)
    slowest = max((loc.heartbeat_interval for _, loc in observed.iter_locations()), default=300) * 1000
    cycles = _cycles(rotation["desired_json"])
    return RotationFigures(
        completed=rotation["outcome"] == "completed",
        duration_ms=max(applied, default=started) - started,
        bound_ms=(start.eta or started) - started,
        insecure_ms=max(on) - min(off) if off and on else 0,
        insecure_bound_ms=(max(g.eta or 0 for g in certificate_gates) - started)
        if off and certificate_gates
        else 0,
        fixed_timers_ms=waits * cycles * slowest,
        english_advice_ms=waits * DAY_MS,
    )


def _cycles(desired_json: str) -> int:
    gates = json.loads(desired_json).get("gates", {})
    return int(gates.get("heartbeatCycles", 3))


def duration(ms: int) -> str:
    """``1h 05m`` / ``12m 30s`` / ``45s`` for SEPM spans."""
    seconds = ms // 1000
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {seconds:02d}s" if minutes else f"{seconds}s"
