"""The journal as one site's worker uses it: read in one go, written step by step, always off the loop.

Contract:
- Every call runs in a worker thread (``asyncio.to_thread``). SQLite waits up to its busy timeout for
  another process's write lock (the CLI, a second controller); the event loop, which also runs the lease
  keeper, the other sites and the desired-state watch, must never wait with it.
- ``read()`` gathers what one reconcile needs (suspension, the rotation in progress, its progress and
  the steps in flight) in one hop to the thread.
- Writes about a rotation take the site's `Lease` (the fencing token is checked in the same
  transaction) and describe a step by its id, kind and target, so callers pass the `Step` itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from reconciler.controller.revision import Revision
from reconciler.journal.records import AdoptionRow, Lease, Outcome, RotationId, RotationRow, StepRow
from reconciler.journal.store import Journal
from reconciler.model.plan import Step
from reconciler.model.progress import LocationOriginal, Procedure, Progress


class Start(Protocol):
    """What a rotation starts from: a plan's first step, or an adoption (both carry these)."""

    @property
    def procedure(self) -> Procedure | None: ...
    @property
    def originals(self) -> Mapping[str, LocationOriginal]: ...
    @property
    def original_certificates(self) -> Mapping[str, str]: ...


@dataclass(frozen=True)
class SiteRecord:
    """What the journal says about a site at the start of a reconcile."""

    suspended: bool
    suspended_reason: str
    rotation: RotationRow | None
    progress: Progress | None
    in_flight: tuple[StepRow, ...]
    adoption: AdoptionRow | None = None
    """a pending request to adopt a rotation the journal lost (only while none is in progress)."""

    def intent_of(self, step: Step) -> StepRow | None:
        """The open intent of ``step`` (acted on, no outcome yet), if any."""
        return next((row for row in self.in_flight if row["step_id"] == step.id), None)


@dataclass(frozen=True)
class SiteJournal:
    journal: Journal
    site: str

    async def read(self) -> SiteRecord:
        return await asyncio.to_thread(self._read)

    def _read(self) -> SiteRecord:
        journal, site = self.journal, self.site
        suspended = journal.suspended(site)
        state = journal.site_state(site) if suspended else None
        rotation = journal.active_rotation(site)
        progress = journal.progress(rotation["id"]) if rotation is not None else None
        in_flight = tuple(journal.in_flight(rotation["id"])) if rotation is not None else ()
        reason = state["reason"] if state is not None else ""
        adoption = journal.pending_adoption(site) if rotation is None else None
        return SiteRecord(suspended, reason, rotation, progress, in_flight, adoption)

    async def start_rotation(
        self,
        lease: Lease,
        *,
        start: Start,
        desired_json: str,
        desired_digest: str,
        revision: Revision,
        at: int,
        adoption: AdoptionRow | None = None,
    ) -> RotationId:
        """Start a rotation with ``start``'s procedure and originals at SEPM time ``at`` (settling the
        ``adoption`` it carries out, in the same transaction)."""
        assert start.procedure is not None  # only something to do starts a rotation
        return await asyncio.to_thread(
            self.journal.start_rotation,
            lease,
            desired_json=desired_json,
            desired_digest=desired_digest,
            git_revision=revision.commit,
            git_subject=revision.subject,
            procedure=start.procedure,
            started_at=at,
            originals=start.originals,
            original_certificates=start.original_certificates,
            adoption=adoption,
        )

    async def settle_adoption(self, lease: Lease, adoption: AdoptionRow, *, outcome: str) -> None:
        await asyncio.to_thread(self.journal.settle_adoption, lease, adoption, outcome=outcome)

    async def intent(self, lease: Lease, rotation_id: str, step: Step) -> None:
        await asyncio.to_thread(
            self.journal.record_intent,
            lease,
            rotation_id=rotation_id,
            step_id=step.id,
            kind=step.kind,
            target=step.target,
        )

    async def done(
        self, lease: Lease, rotation_id: str, step: Step, *, applied_at: int, message: str
    ) -> None:
        await asyncio.to_thread(
            self.journal.record_done,
            lease,
            rotation_id=rotation_id,
            step_id=step.id,
            applied_at=applied_at,
            message=message,
            kind=step.kind,
            target=step.target,
        )

    async def failed(self, lease: Lease, rotation_id: str, step: Step, *, message: str) -> None:
        await asyncio.to_thread(
            self.journal.record_failed, lease, rotation_id=rotation_id, step_id=step.id, message=message
        )

    async def gate(self, lease: Lease, rotation_id: str, step: Step, *, at: int) -> None:
        """One measurement of the gate ``step`` carries, taken at SEPM time ``at``."""
        assert step.gate is not None
        await asyncio.to_thread(
            self.journal.record_gate,
            lease,
            rotation_id=rotation_id,
            gate_id=step.id,
            at=at,
            passed=step.gate.passed,
            in_scope=step.gate.in_scope,
            dormant=step.gate.dormant_count,
        )

    async def finish(self, lease: Lease, rotation_id: str, *, aborted: bool, who: str) -> None:
        """Close the rotation. An aborted one also suspends the site: otherwise the same rotation would
        start again at once."""

        def finish() -> None:
            outcome: Outcome = "aborted" if aborted else "completed"
            self.journal.finish_rotation(lease, rotation_id=rotation_id, outcome=outcome)
            if aborted:
                reason = "rotation aborted and originals restored; `resume` to try again"
                self.journal.set_suspended(self.site, True, who=who, reason=reason)

        await asyncio.to_thread(finish)
