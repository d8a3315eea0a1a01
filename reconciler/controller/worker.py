"""One site's reconcile loop: observe, plan, act on the ready steps, record; then wait, and again.

Contract (DESIGN.md, Controller):
- Level-triggered: every reconcile observes the site again and plans from scratch with the journal's
  Progress. Nothing that decides safety lives only in this object; what it keeps in memory (the SEPM
  connection, the pace of SEPM's clock, the last status) only saves work or time. Even "this command
  ran and its change may still be settling" is read from the journal's open intent.
- The journal is written under the site's lease (`reconciler.controller.lease`): a fencing token on
  every mutating call. A worker whose lease was taken over gets `LeaseLost` and stops; another process
  on the same journal cannot act on a site this worker holds (`SiteLocked`: this worker waits).
- Order of writes around an act (`reconciler.controller.acting`): intent row, act, observe the effect,
  done row with SEPM's time of that observation. A crash between any two leaves an intent without done;
  the next reconcile re-observes and re-plans, which either sees the effect (the step is then
  "satisfied" and recorded done) or acts again (every act sets a value, so acting twice is harmless).
- A rotation is started (originals journalled) before any act, then planned again from the same
  observation with the journal's progress, and bound to the desired state it started from: a newer
  desired state is queued until the rotation completes or is aborted. An aborted rotation, once
  restored, suspends the site.
- A reconcile carries out the plan's whole run of ready steps (`Plan.ready`) in order, each journalled
  and verified, stopping at the first that does not complete at once; then it observes again.
- Waiting is not failing: a gate that is not open schedules the next reconcile
  (`reconciler.controller.schedule`). Transient errors back off, permanent ones stall the site
  (`reconciler.controller.failures`).
- ``reconcile_once`` returns how long to wait before the next reconcile (seconds).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from reconciler.controller.acting import Rotation, StepActor
from reconciler.controller.adopting import carry_out_adoption, refused
from reconciler.controller.desired_source import DesiredSource
from reconciler.controller.failures import STALLED_RECHECK, Failures
from reconciler.controller.lease import LeaseLost, SiteLease
from reconciler.controller.reporting import SiteReporter, reconcile_result
from reconciler.controller.schedule import DEFAULT_POLL, NOW, Next, Status, jittered, until_gate_check
from reconciler.controller.sepm_connection import SepmConnection
from reconciler.controller.sepm_pace import SepmPace
from reconciler.controller.site_journal import SiteJournal, SiteRecord
from reconciler.desired.schema import DesiredSite
from reconciler.desired.secrets import SecretError
from reconciler.journal.errors import LockLost, SiteLocked
from reconciler.journal.records import Lease
from reconciler.journal.store import Journal
from reconciler.model.observed import Observed
from reconciler.model.plan import Plan, Step, StepState
from reconciler.plan import plan as make_plan
from reconciler.sepm.errors import PermanentError, TransientError
from reconciler.telemetry.board import StatusBoard
from reconciler.telemetry.status import SiteStatus

log = logging.getLogger(__name__)


@dataclass
class SiteWorker:
    """Reconciles one site. Create one per site; ``run`` until ``stop`` is set."""

    site: str
    source: DesiredSource
    journal: Journal
    owner: str
    publish: Callable[[SiteStatus], None]
    lease_ttl: float = 60.0
    rng: random.Random = field(default_factory=random.Random)
    pace: SepmPace = field(default_factory=SepmPace)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    board: StatusBoard | None = None
    last_plan: Plan | None = None
    last_observed: Observed | None = None

    def __post_init__(self) -> None:
        self.lease = SiteLease(
            journal=self.journal, site=self.site, owner=self.owner, ttl=self.lease_ttl, on_lost=self.wake.set
        )
        self.records = SiteJournal(self.journal, self.site)
        self.connection = SepmConnection(self.site, on_exchange=self._count_exchange)
        self.failures = Failures(self.site, self.rng)
        self.actor = StepActor(self.site, self.records, self.lease, self.connection, self.failures)
        self.reporter = SiteReporter(self.site, self.source, self.publish)
        self._gate_counts: dict[str, int] = {}

    def _count_exchange(self, endpoint: str, outcome: str) -> None:
        if self.board is not None:
            self.board.count_request(self.site, endpoint, outcome)

    # -- loop ---------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Reconcile until ``stop`` is set; a reconcile in progress is finished, never cut half-way."""
        keeper = asyncio.create_task(self.lease.keep(stop))
        try:
            while not stop.is_set():
                if self.lease.lost:
                    raise LeaseLost(f"site {self.site}: lease lost; stopping this worker")
                started = time.monotonic()
                try:
                    delay = await self.reconcile_once()
                except LeaseLost:
                    raise
                except Exception as error:  # one site's fault never ends the controller or other sites
                    after = self.failures.crashed(error)
                    assert after.status is not None
                    self.reporter.set(after.status)
                    delay = after.delay
                    self._count("error", started)
                self.wake.clear()
                if delay > 0:
                    await _first_of(stop.wait(), self.wake.wait(), seconds=delay)
        finally:
            keeper.cancel()
            await self.close()

    async def close(self) -> None:
        await self.connection.aclose()
        await self.lease.release()

    async def reconcile_once(self) -> float:
        """One observe-plan-act round; returns seconds to wait before the next one."""
        started = time.monotonic()
        poll = self._poll_interval()
        try:
            lease = await self.lease.hold()
        except SiteLocked as locked:
            # Not published: the status file belongs to the controller holding the site.
            self.failures.say_once(
                f"SiteLocked:{locked.owner}",
                logging.WARNING,
                "site %s: held by another controller (%s); waiting",
                self.site,
                locked.owner,
            )
            self._count("locked", started)
            return jittered(poll, self.rng)
        try:
            after = await self._reconcile(lease, await self.records.read(), poll)
        except LockLost as lost:
            raise LeaseLost(f"site {self.site}: lease lost ({lost}); stopping this worker") from lost
        if after.status is not None:
            self.reporter.set(after.status)
        self._count(reconcile_result(after, self.reporter.status), started)
        return after.delay

    def _count(self, result: str, started: float) -> None:
        if self.board is not None:
            self.board.count_reconcile(self.site, result, time.monotonic() - started)

    async def _reconcile(self, lease: Lease, record: SiteRecord, poll: float) -> Next:
        if record.suspended:
            why = f": {record.suspended_reason}" if record.suspended_reason else ""
            return Next(
                poll,
                Status("Suspended", "Suspended", f"suspended{why}; `sepm-reconciler resume {self.site}`"),
            )
        try:
            desired = self._desired(record)
        except ValidationError as error:
            return self.failures.permanent("RotationDesiredStateRefused", refused(record, error), poll=poll)
        if desired is None:
            return Next(poll, Status("Unknown", "NoDesiredState", "no valid desired state for this site"))
        # 1. observe
        try:
            observed = await self.connection.observe(desired, base=self._base())
        except PermanentError as error:
            return self.failures.from_error(error, poll=poll, permanent=True)
        except (TransientError, SecretError) as error:
            return self.failures.from_error(error, poll=poll, permanent=False)
        self.pace.observe(observed.server_time)
        if record.adoption is not None:
            revision = self.source.revisions.get(self.site, self.source.revision)
            adopting = await carry_out_adoption(
                self.records, lease, record.adoption, desired=desired, observed=observed, revision=revision
            )
            if adopting is not None:
                return adopting
        # 2. plan
        result = self._plan(desired, observed, record)
        # 3. act on the run of ready steps, 4. record
        step = result.current
        if step is None:
            return await self._converged(lease, record, poll)
        if step.state is StepState.BLOCKED:
            return Next(jittered(min(poll, STALLED_RECHECK), self.rng))
        if step.state is StepState.WAITING:
            return await self._waiting(lease, record, step, observed, poll)
        if record.rotation is None or record.progress is None:
            if result.procedure is None:
                return Next(jittered(poll, self.rng))
            record = await self._start(lease, desired, result, observed)
            result = self._plan(desired, observed, record)  # the same observation, now with the journal's
        return await self._carry_out(result, record, desired, observed, poll)

    def _plan(self, desired: DesiredSite, observed: Observed, record: SiteRecord) -> Plan:
        result = make_plan(desired, observed, record.progress, observed.server_time)
        self.last_plan, self.last_observed = result, observed
        in_flight = frozenset(row["step_id"] for row in record.in_flight)
        self.reporter.plan(
            desired=desired,
            observed=observed,
            record=record,
            result=result,
            in_flight=in_flight,
            base=self._base(),
        )
        return result

    async def _carry_out(
        self, result: Plan, record: SiteRecord, desired: DesiredSite, observed: Observed, poll: float
    ) -> Next:
        """The run of ready steps, in order, in this pass; stop at the first that does not complete now."""
        assert record.rotation is not None
        assert record.progress is not None
        rotation = Rotation(record.rotation["id"], record.progress)
        in_flight = frozenset(row["step_id"] for row in record.in_flight)
        base = self._base()

        def told(acted: Step) -> None:
            # Tell once the intent is journalled: an operator task shows only when it can be acknowledged.
            self.reporter.plan(
                desired=desired,
                observed=observed,
                record=record,
                result=result,
                in_flight=in_flight | {acted.id},
                base=base,
            )

        for step in result.ready:
            after = await self.actor.carry_out(
                step,
                rotation=rotation,
                record=record,
                desired=desired,
                observed=observed,
                base=base,
                poll=poll,
                on_intent=told,
            )
            if after != NOW:
                return after
        return NOW

    async def _converged(self, lease: Lease, record: SiteRecord, poll: float) -> Next:
        """Nothing left to do: close the rotation that got here, if any."""
        if record.rotation is None or record.progress is None:
            return Next(jittered(poll, self.rng))
        await self.records.finish(
            lease, record.rotation["id"], aborted=record.progress.aborted, who=self.owner
        )
        log.info("site %s: rotation %s finished", self.site, record.rotation["id"])
        return NOW

    async def _waiting(
        self, lease: Lease, record: SiteRecord, step: Step, observed: Observed, poll: float
    ) -> Next:
        """A gate (or an operator) is not there yet: measure, remember the count, check again later."""
        self.failures.cleared()
        if step.gate is None:
            return Next(jittered(poll, self.rng))
        if record.rotation is not None and self._gate_counts.get(step.id) != step.gate.passed:
            self._gate_counts[step.id] = step.gate.passed
            await self.records.gate(lease, record.rotation["id"], step, at=observed.server_time)
        return Next(until_gate_check(step.gate, poll=poll, pace=self.pace, rng=self.rng))

    async def _start(
        self, lease: Lease, desired: DesiredSite, result: Plan, observed: Observed
    ) -> SiteRecord:
        """Start a rotation (originals journalled) before any act; returns the journal's record of it."""
        rotation_id = await self.records.start_rotation(
            lease,
            start=result,
            desired_json=desired.model_dump_json(by_alias=True),
            desired_digest=desired.digest(),
            revision=self.source.revisions.get(self.site, self.source.revision),
            at=observed.server_time,
        )
        log.info("site %s: rotation %s started (%s)", self.site, rotation_id, result.procedure)
        return await self.records.read()

    # -- what the worker reads ------------------------------------------------------------------------

    def _desired(self, record: SiteRecord) -> DesiredSite | None:
        if record.rotation is not None:
            return DesiredSite.model_validate_json(record.rotation["desired_json"])
        return self.source.sites.get(self.site)

    def _base(self) -> Path:
        path = self.source.files.get(self.site)
        return path.parent if path is not None else self.source.folder

    def _poll_interval(self) -> float:
        desired = self.source.sites.get(self.site)
        return float(desired.controller.poll_interval) if desired else DEFAULT_POLL


async def _first_of(*waits: Coroutine[Any, Any, Any], seconds: float) -> None:
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
