"""Carrying out the current step of a rotation: journal the intent, attempt it, journal what came of it.

Contract (DESIGN.md, Acting and Journal):
- A ready step that needs no act is recorded done with the observation's SEPM time: a gate whose
  evidence is met (or that a human proceeded past, with the reason), or an action whose effect the
  observation already shows ("satisfied"; an acknowledged operator task arrives this way).
- Otherwise: fence the lease, write the **intent**, attempt the step through `reconciler.act.attempt`,
  and journal its outcome: `Done` is recorded done; `Started` leaves the intent open for the next
  observation to confirm; `Failed` is recorded failed and becomes a back-off or a stall
  (`reconciler.controller.failures`); `NeedsOperator` leaves the task published until observation or
  ``ack`` completes it.
- An operator task is published (its intent written) once; later reconciles only wait for it.
- **Settling**: a command whose change SEPM cannot show at once (a certificate import restarts SEPM's
  services) is not run again until its timeout plus ``settle`` has passed since its intent. This is
  read from the journal's open intent, so a restart after kill -9 waits as well instead of importing
  the certificate a second time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from reconciler import act
from reconciler.act import operator
from reconciler.act.values import actuator_for
from reconciler.controller.failures import Failures
from reconciler.controller.lease import SiteLease
from reconciler.controller.schedule import NOW, Next, Status
from reconciler.controller.sepm_connection import SepmConnection
from reconciler.controller.site_journal import SiteJournal, SiteRecord
from reconciler.desired.schema import DesiredSite
from reconciler.model.observed import Observed
from reconciler.model.plan import ActuatorKind, Step, StepKind
from reconciler.model.progress import Progress

log = logging.getLogger(__name__)

SETTLE_RECHECK = 5.0
"""While a command's change settles, re-observe at least this often (seconds)."""


@dataclass(frozen=True)
class Rotation:
    """The rotation a step belongs to, as the journal has it."""

    id: str
    progress: Progress


@dataclass
class StepActor:
    """Carries out one site's ready steps (see the module docstring)."""

    site: str
    journal: SiteJournal
    lease: SiteLease
    connection: SepmConnection
    failures: Failures

    async def carry_out(
        self,
        step: Step,
        *,
        rotation: Rotation,
        record: SiteRecord,
        desired: DesiredSite,
        observed: Observed,
        base: Path,
        poll: float,
        on_intent: Callable[[Step], None] = lambda _: None,
    ) -> Next:
        lease = await self.lease.hold()
        if step.kind is StepKind.GATE or step.satisfied:
            await self.journal.done(
                lease, rotation.id, step, applied_at=observed.server_time, message=_why_done(step, rotation)
            )
            self.failures.cleared()
            return NOW
        if step.actuator is ActuatorKind.OPERATOR and record.intent_of(step) is not None:
            return Next(poll)  # published already; observation or an acknowledgement completes it
        settling = _settling_until(desired, step, record)
        if settling is not None:
            return Next(min(poll, SETTLE_RECHECK), _settling_status(step, settling))
        lease = await self.lease.fence()
        await self.journal.intent(lease, rotation.id, step)
        on_intent(step)
        outcome = await act.attempt(
            step,
            desired=desired,
            client=self.connection.client,
            base=base,
            sepm_now=self.connection.sepm_time,
        )
        match outcome:
            case act.Done(applied_at=applied_at, message=message):
                log.info("site %s: %s done %s", self.site, step.id, message)
                await self.journal.done(lease, rotation.id, step, applied_at=applied_at, message=message)
                self.failures.cleared()
                return NOW
            case act.Started(message=message):
                log.info("site %s: %s: %s", self.site, step.id, message)
                return NOW  # the intent stays open: settling waits for SEPM to show the change
            case act.NeedsOperator():
                log.info("site %s: operator task published: %s", self.site, step.description)
                return Next(poll)
            case act.Failed() as failed:
                await self.journal.failed(lease, rotation.id, step, message=failed.journal_text)
                if failed.permanent:
                    return self.failures.permanent(failed.reason, failed.message, poll=poll)
                return self.failures.transient(failed.message, retry_after=failed.retry_after)


def _why_done(step: Step, rotation: Rotation) -> str:
    """The journal's message for a step recorded without an act."""
    if step.kind is StepKind.GATE:
        reason = rotation.progress.proceeded.get(step.id)
        return f"break-glass: {reason}" if reason else (step.gate.summary() if step.gate else "")
    acknowledged = rotation.progress.acknowledged.get(step.id)
    return f"acknowledged: {acknowledged}" if acknowledged is not None else "observed"


def _settling_until(desired: DesiredSite, step: Step, record: SiteRecord) -> float | None:
    """Wall time until which ``step``'s command may still be taking effect (None: act now)."""
    choice = actuator_for(desired, step)
    if choice is None or choice.command is None or operator.needs_acknowledgement(step):
        return None
    row = record.intent_of(step)
    if row is None or row["intent_wall"] is None:
        return None
    until = row["intent_wall"] + choice.command.timeout + choice.command.settle
    return until if time.time() < until else None


def _settling_status(step: Step, until: float) -> Status:
    return Status(
        "Reconciling",
        "WaitingForChange",
        f"{step.description}: waiting for SEPM to show it (the command may still be taking effect); "
        f"running it again after {time.strftime('%H:%M:%S', time.localtime(until))}",
    )
