"""One site's reconcile loop: observe, plan, act on the first ready step, remember, repeat.

Contract (DESIGN.md, Controller):
- Level-triggered: every reconcile observes the site again and plans from scratch with the journal's
  Progress. Nothing that decides safety lives only in this object; what it keeps in memory (the SEPM
  client, the pace of SEPM's clock, the last status) only saves work or time. Even "this command ran
  and its change may still be settling" is read from the journal's open intent.
- The journal is written under the site's lease: a fencing token on every mutating call. A worker whose
  lease was taken over gets `LeaseLost` and stops; another process on the same journal cannot act on a
  site this worker holds (`SiteLocked`: this worker waits).
- Order of writes around an act: intent row, act, observe the effect, done row with SEPM's time of that
  observation. A crash between any two leaves an intent without done; the next reconcile re-observes
  and re-plans, which either sees the effect (the step is then "satisfied" and recorded done) or acts
  again (every act sets a value, so acting twice is harmless).
- A rotation is started (originals journaled) in its own reconcile before any act, and is bound to the
  desired state it started from: a newer desired state is queued until the rotation completes or is
  aborted.
- Waiting is not failing: a gate that is not open schedules the next reconcile. Transient errors back
  off exponentially with jitter; permanent ones (credentials rejected, pin mismatch, a refused change)
  stall the site until the desired state or the secret changes, without retrying in a loop.
- ``reconcile_once`` returns how long to wait before the next reconcile (seconds).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.act import operator, rest
from reconciler.act.command import CommandResult, run_command
from reconciler.act.values import actuator_for, describe_target, step_values
from reconciler.controller.desired_source import DesiredSource
from reconciler.controller.lease import LeaseLost, SiteLease
from reconciler.controller.sepm_pace import SepmPace
from reconciler.controller.status import SiteStatus, status_for_plan
from reconciler.desired.schema import DesiredSite
from reconciler.desired.secrets import SecretError, resolve_secret
from reconciler.journal.errors import LockLost, SiteLocked
from reconciler.journal.records import Lease, RotationRow
from reconciler.journal.store import Journal
from reconciler.model.observed import Observed
from reconciler.model.plan import Plan, Step, StepKind, StepState
from reconciler.model.progress import Progress
from reconciler.plan import plan as make_plan
from reconciler.sepm.client import SepmClient
from reconciler.sepm.errors import CredentialsRejected, PermanentError, SepmError, TransientError
from reconciler.sepm.observer import Observer

log = logging.getLogger(__name__)

_MAX_BACKOFF = 300.0
_STALLED_RECHECK = 60.0
_SETTLE_RECHECK = 5.0  # while a command's change settles, re-observe at least this often (seconds)


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
    _lease: SiteLease | None = None
    _client: SepmClient | None = None
    _client_key: str = ""
    _rejected_key: str = ""
    _observer: Observer | None = None
    _failures: int = 0
    _stalled_key: str = ""
    _last_gate: dict[str, int] = field(default_factory=dict)
    last_plan: Plan | None = None
    last_observed: Observed | None = None
    status: SiteStatus | None = None

    @property
    def lease(self) -> SiteLease:
        if self._lease is None:
            self._lease = SiteLease(
                journal=self.journal,
                site=self.site,
                owner=self.owner,
                ttl=self.lease_ttl,
                on_lost=self.wake.set,
            )
        return self._lease

    # -- loop ---------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Reconcile until ``stop`` is set; a reconcile in progress is finished, never cut half-way."""
        keeper = asyncio.create_task(self.lease.keep(stop))
        try:
            while not stop.is_set():
                if self.lease.lost:
                    raise LeaseLost(f"site {self.site}: lease lost; stopping this worker")
                delay = await self.reconcile_once()
                self.wake.clear()
                if delay > 0:
                    await _first_of(stop.wait(), self.wake.wait(), seconds=delay)
        finally:
            keeper.cancel()
            await self.close()

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        self.lease.release()

    async def reconcile_once(self) -> float:
        """One observe-plan-act round; returns seconds to wait before the next one."""
        poll = self._poll_interval()
        try:
            lease = self.lease.hold()
        except SiteLocked as locked:
            # Not published: the status file belongs to the controller holding the site.
            if self._stalled_key != f"SiteLocked:{locked.owner}":
                log.warning("site %s: held by another controller (%s); waiting", self.site, locked.owner)
                self._stalled_key = f"SiteLocked:{locked.owner}"
            return self._jittered(poll)
        if self.journal.suspended(self.site):
            state = self.journal.site_state(self.site)
            why = f": {state['reason']}" if state and state.get("reason") else ""
            self._set_status(
                "Suspended", "Suspended", f"suspended{why}; `sepm-reconciler resume {self.site}`"
            )
            return poll
        rotation = self.journal.active_rotation(self.site)
        desired = self._desired(rotation)
        if desired is None:
            self._set_status("Unknown", "NoDesiredState", "no valid desired state for this site")
            return poll
        try:
            observed = await self._observe(desired)
        except PermanentError as error:
            return self._stall(error)
        except (TransientError, SecretError) as error:
            return self._back_off(error)
        progress = self.journal.progress(rotation["id"]) if rotation else None
        result = make_plan(desired, observed, progress, observed.server_time)
        self.last_plan, self.last_observed = result, observed
        try:
            return await self._advance(
                lease=lease,
                desired=desired,
                observed=observed,
                rotation=rotation,
                progress=progress,
                result=result,
            )
        except LockLost as lost:
            raise LeaseLost(f"site {self.site}: lease lost ({lost}); stopping this worker") from lost

    # -- one step -----------------------------------------------------------------------------------

    async def _advance(
        self,
        *,
        lease: Lease,
        desired: DesiredSite,
        observed: Observed,
        rotation: RotationRow | None,
        progress: Progress | None,
        result: Plan,
    ) -> float:
        poll = self._poll_interval()
        step = result.current
        self._publish_plan(desired, observed, rotation, result)
        if step is None:
            if rotation is not None and progress is not None:
                if progress.aborted:
                    self.journal.finish_rotation(lease, rotation_id=rotation["id"], outcome="aborted")
                    # Otherwise the next reconcile would start the same rotation again at once.
                    self.journal.set_suspended(
                        self.site,
                        True,
                        who=self.owner,
                        reason="rotation aborted and originals restored; `resume` to try again",
                    )
                else:
                    self.journal.finish_rotation(lease, rotation_id=rotation["id"], outcome="completed")
                log.info("site %s: rotation %s finished", self.site, rotation["id"])
                return 0.0
            return self._jittered(poll)
        if step.state is StepState.BLOCKED:
            return self._jittered(min(poll, _STALLED_RECHECK))
        if step.state is StepState.WAITING:
            self._failures = 0
            if rotation is not None and step.gate is not None:
                self._note_gate(lease, rotation["id"], step, observed.server_time)
            return self._until_gate_check(step, poll)
        if rotation is None or progress is None:
            if result.procedure is None:
                return self._jittered(poll)
            rotation_id = self.journal.start_rotation(
                lease,
                desired_json=desired.model_dump_json(by_alias=True),
                desired_digest=desired.digest(),
                git_revision=self.source.git_revision,
                procedure=result.procedure,
                started_at=observed.server_time,
                originals=result.originals,
                original_certificates=result.original_certificates,
            )
            log.info("site %s: rotation %s started (%s)", self.site, rotation_id, result.procedure)
            return 0.0
        return await self._carry_out(
            lease=lease, desired=desired, observed=observed, rotation=rotation, progress=progress, step=step
        )

    async def _carry_out(
        self,
        *,
        lease: Lease,
        desired: DesiredSite,
        observed: Observed,
        rotation: RotationRow,
        progress: Progress,
        step: Step,
    ) -> float:
        rotation_id = rotation["id"]
        target = describe_target(step)
        if step.kind is StepKind.GATE:
            reason = progress.proceeded.get(step.id)
            message = f"break-glass: {reason}" if reason else (step.gate.summary() if step.gate else "")
            self._record_done(
                lease,
                rotation_id=rotation_id,
                step_id=step.id,
                applied_at=observed.server_time,
                message=message,
                kind=step.kind,
                target=target,
            )
            return 0.0
        if step.satisfied:
            acknowledged = progress.acknowledged.get(step.id)
            self._record_done(
                lease,
                rotation_id=rotation_id,
                step_id=step.id,
                applied_at=observed.server_time,
                message=f"acknowledged: {acknowledged}" if acknowledged is not None else "observed",
                kind=step.kind,
                target=target,
            )
            return 0.0
        if step.actuator == "operator":
            # Acknowledged tasks arrive above as satisfied (the planner reads acknowledgements).
            return self._operator_step(lease, rotation_id, step)
        settling = self._settling(desired, rotation_id, step)
        if settling is not None:
            return settling
        lease = self.lease.fence()
        self.journal.record_intent(
            lease, rotation_id=rotation_id, step_id=step.id, kind=step.kind, target=target
        )
        if step.actuator == "rest":
            return await self._rest_step(lease, rotation_id, step, target)
        return await self._command_step(lease, desired, rotation_id, step, target)

    async def _rest_step(self, lease: Lease, rotation_id: str, step: Step, target: str) -> float:
        assert self._client is not None
        try:
            applied_at = await rest.apply(step, self._client)
        except (SepmError, rest.ChangeNotVisible) as error:
            self.journal.record_failed(lease, rotation_id=rotation_id, step_id=step.id, message=str(error))
            if isinstance(error, PermanentError):
                return self._stall(error)
            return self._back_off(error)
        self._record_done(lease, rotation_id=rotation_id, step_id=step.id, applied_at=applied_at)
        return 0.0

    async def _command_step(
        self, lease: Lease, desired: DesiredSite, rotation_id: str, step: Step, target: str
    ) -> float:
        choice = actuator_for(desired, step)
        assert choice is not None
        assert choice.command is not None
        base = self._base()
        try:
            secrets = {name: resolve_secret(ref, base=base) for name, ref in choice.command.env.items()}
        except SecretError as error:
            self.journal.record_failed(lease, rotation_id=rotation_id, step_id=step.id, message=str(error))
            return self._stall(error)
        result: CommandResult = await run_command(
            choice.command, values=step_values(desired, step, base=base), secrets=secrets, cwd=str(base)
        )
        log.info("site %s: %s: %s", self.site, step.id, result.summary())
        if not result.ok:
            self.journal.record_failed(
                lease,
                rotation_id=rotation_id,
                step_id=step.id,
                message=result.summary() + "\n" + result.output,
            )
            return self._back_off(RuntimeError(result.summary()))
        if operator.needs_acknowledgement(step):
            # Nothing on SEPM shows an MSL copy or deletion: the exit status is all the evidence there is.
            self._record_done(
                lease,
                rotation_id=rotation_id,
                step_id=step.id,
                applied_at=self._sepm_now(),
                message=result.summary(),
            )
            return 0.0
        # The intent stays open: `_settling` waits for SEPM to show the change before anything runs again.
        return 0.0

    def _settling(self, desired: DesiredSite, rotation_id: str, step: Step) -> float | None:
        """Seconds to wait when the step's command may already have run and SEPM may not show it yet.

        Read from the journal (an intent with no outcome), so that a restart after kill -9 waits as well
        instead of importing the certificate a second time while SEPM restarts.
        """
        choice = actuator_for(desired, step)
        if choice is None or choice.command is None or operator.needs_acknowledgement(step):
            return None
        row = next((r for r in self.journal.in_flight(rotation_id) if r["step_id"] == step.id), None)
        if row is None or row["intent_wall"] is None:
            return None
        until = row["intent_wall"] + choice.command.timeout + choice.command.settle
        if time.time() >= until:
            return None
        self._set_status(
            "Reconciling",
            "WaitingForChange",
            f"{step.description}: waiting for SEPM to show it (the command may still be taking effect); "
            f"running it again after {time.strftime('%H:%M:%S', time.localtime(until))}",
        )
        return self._jittered(min(self._poll_interval(), _SETTLE_RECHECK))

    def _operator_step(self, lease: Lease, rotation_id: str, step: Step) -> float:
        """Publish the task once (an intent row); observation or an acknowledgement completes it."""
        in_flight = {row["step_id"] for row in self.journal.in_flight(rotation_id)}
        if step.id not in in_flight:
            self.journal.record_intent(
                lease, rotation_id=rotation_id, step_id=step.id, kind=step.kind, target=describe_target(step)
            )
        return self._jittered(self._poll_interval())

    # -- observation --------------------------------------------------------------------------------

    async def _observe(self, desired: DesiredSite) -> Observed:
        password = resolve_secret(desired.api.password, base=self._base())
        # The client is rebuilt when the desired state or the secret changes; nothing else retries a
        # password SEPM rejected (SEPM locks the account after five failures).
        key = hashlib.sha256(f"{desired.digest()}\0{password}".encode()).hexdigest()
        if key == self._rejected_key:
            raise CredentialsRejected(
                f"SEPM rejected the credentials of {desired.api.username} for {desired.api.url}; not trying "
                f"again until the password in {desired.api.password.describe()} or the desired state changes"
            )
        if self._client is None or self._client_key != key:
            if self._client is not None:
                await self._client.aclose()
            self._client = SepmClient.for_site(desired, password=password)
            self._observer = Observer(desired, self._client)
            self._client_key = key
        assert self._observer is not None
        observed = await self._observer.observe()
        self.pace.observe(observed.server_time)
        return observed

    # -- helpers ------------------------------------------------------------------------------------

    def _desired(self, rotation: RotationRow | None) -> DesiredSite | None:
        if rotation is not None:
            return DesiredSite.model_validate_json(rotation["desired_json"])
        return self.source.sites.get(self.site)

    def _base(self) -> Path:
        path = self.source.files.get(self.site)
        return path.parent if path is not None else self.source.folder

    def _poll_interval(self) -> float:
        desired = self.source.sites.get(self.site)
        return float(desired.controller.poll_interval) if desired else 60.0

    def _jittered(self, seconds: float) -> float:
        return seconds * (0.8 + 0.4 * self.rng.random())

    def _sepm_now(self) -> int:
        """SEPM's clock for a step completed without an observation of its own (never a made-up 0)."""
        client_time = self._client.server_time_ms if self._client is not None else None
        if client_time:
            return client_time
        if self.last_observed is not None:
            return self.last_observed.server_time
        raise RuntimeError(f"site {self.site}: no SEPM time known; refusing to journal a step without one")

    def _until_gate_check(self, step: Step, poll: float) -> float:
        if step.gate is None:
            return self._jittered(poll)
        # Re-check at the poll interval, but no later than the gate's deadline or the end of its minimum
        # wait: a gate's evidence is re-read, never predicted.
        due = [step.gate.deadline]
        if step.gate.earliest_open > (self.pace.now_ms() or 0):
            due.append(step.gate.earliest_open)
        soonest = min(self.pace.seconds_until(t) for t in due)
        return max(0.05, min(self._jittered(poll), soonest + 0.05))

    def _note_gate(self, lease: Lease, rotation_id: str, step: Step, at: int) -> None:
        assert step.gate is not None
        if self._last_gate.get(step.id) == step.gate.passed:
            return
        self._last_gate[step.id] = step.gate.passed
        self.journal.record_gate(
            lease,
            rotation_id=rotation_id,
            gate_id=step.id,
            at=at,
            passed=step.gate.passed,
            in_scope=step.gate.in_scope,
            dormant=step.gate.dormant_count,
        )

    def _record_done(self, lease: Lease, **fields: Any) -> None:
        """A step is done: the failures that delayed it are forgotten (backoff starts again small)."""
        self.journal.record_done(lease, **fields)
        self._failures = 0

    def _back_off(self, error: BaseException) -> float:
        self._failures += 1
        retry_after = getattr(error, "retry_after", None)
        delay = min(_MAX_BACKOFF, 0.5 * 2 ** min(self._failures, 10))
        delay = self.rng.uniform(delay / 2, delay)
        if isinstance(retry_after, (int, float)) and retry_after > delay:
            delay = float(retry_after)
        self._set_status("Reconciling", "Retrying", f"{error}; retrying in {delay:.1f}s")
        log.warning("site %s: %s (attempt %d; retrying in %.1fs)", self.site, error, self._failures, delay)
        return delay

    def _stall(self, error: BaseException) -> float:
        reason = type(error).__name__
        self._set_status("Stalled", reason, str(error))
        key = f"{reason}:{error}"
        if key != self._stalled_key:
            log.error("site %s stalled: %s", self.site, error)
            self._stalled_key = key
        if isinstance(error, CredentialsRejected):
            # SEPM locks accounts: `_observe` refuses to try again until the desired state or the secret
            # changes, which it checks (locally) at every poll.
            self._rejected_key = self._client_key
            return self._jittered(self._poll_interval())
        return self._jittered(min(self._poll_interval(), _STALLED_RECHECK) * 2)

    def _set_status(self, phase: str, reason: str, message: str) -> None:
        base = self.status or SiteStatus(site=self.site, phase="Unknown")
        self.status = base.model_copy(
            update={
                "phase": phase,
                "reason": reason,
                "message": message,
                "desired_errors": tuple(self.source.errors.get(self.site, ())),
                "updated_at": time.time(),
            }
        )
        self.publish(self.status)

    def _publish_plan(
        self, desired: DesiredSite, observed: Observed, rotation: RotationRow | None, result: Plan
    ) -> None:
        current = self.source.sites.get(self.site)
        self.status = status_for_plan(
            desired=desired,
            observed=observed,
            plan=result,
            rotation_id=rotation["id"] if rotation else None,
            queued_change=(
                rotation is not None
                and current is not None
                and current.digest() != rotation["desired_digest"]
            ),
            desired_errors=tuple(self.source.errors.get(self.site, ())),
            previous=self.status,
            base=self._base(),
        )
        self.publish(self.status)


async def _first_of(*waits: Coroutine[Any, Any, Any], seconds: float) -> None:
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
