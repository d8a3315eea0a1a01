"""``plan(desired, observed, progress, now) -> Plan``: the pure heart of the reconciler.

Pure: no I/O, no clock, no logging, no randomness (import-linter keeps it so). ``now`` is SEPM epoch ms,
normally ``observed.server_time``. The same inputs always give the same plan.

Order of decisions:
1. ``checks.SITE_CHECKS``: a finding blocks the site (one ``check:<Reason>`` step).
2. ``scope.choose_scope``: the procedure and the treated targets (the journal's once started), and
   the servers to update.
3. No rotation under way and no server to update (every desired server presents its desired
   certificate on every port): the plan is empty (converged, nothing to journal).
4. ``checks.ROTATION_CHECKS``: a finding blocks the site.
5. ``steps.build_steps``; once the rotation has started, a gate recorded before one of its changes
   was done is taken as not done (``_without_stale_gates``), then ``drift.STEP_CHECKS`` (what the
   journal says is done must still be visible where a later step relies on it): a finding blocks the
   site.
6. Sequencing:

   - A step in ``progress.done`` is ``done``, whatever the observation says now (gates latch); the
     step checks above are what notices an effect undone on SEPM since.
   - The **first** step that is not done is the current one, and the only one whose state is
     decided from evidence:

     * an action: ``ready``; ``satisfied`` when observation already shows its effect (the controller
       records it instead of acting). For MSL copies and deletions, which SEPM cannot show,
       ``satisfied`` means an operator acknowledged it. An action on a journalled location that is no
       longer observed is ``blocked`` (``MissingLocation``) until someone acknowledges it. An update in
       doubt under abort (``steps``) is ``blocked`` (``UpdateMayStillApply``) until it shows or
       someone acknowledges it as not applied.
     * a gate: measured (``gates.measure``). ``ready`` (and ``satisfied``) when open, or when a
       human proceeded (``progress.proceeded``, break-glass); otherwise ``waiting`` with its
       measurement, or ``blocked`` (``GateDeadlineExceeded``) once SEPM time is past its deadline.
   - The actions right after the current step, up to the next gate, are ``ready`` too when nothing
     holds them (``Plan.ready``: the run the controller carries out in one pass, each journalled and
     verified). Every later step that is not done is ``waiting`` with no measurement; a gate among
     them carries its predicted opening (``eta``).

   Without progress the rotation has not started: its first step is always an action, so the
   controller can start it on a ``ready`` step (gate times count from the journalled start), and
   ``Plan.originals`` / ``Plan.original_certificates`` are what the controller journals before the
   first act. With progress they echo the journal.

``Plan.dormant`` names the clients the rotation will orphan: the dormant members of the current gate,
or, when the current step is not a gate, every client of the site that has not checked in within
``dormantAfter`` before ``now``. ``Plan.eta`` is the earliest SEPM instant the rotation can complete
(each gate opens no sooner than its last in-scope client's N-th check-in on its grid, gates chained),
and ``Plan.evidence_lower_bound`` is ``eta - now``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from reconciler.desired.schema import DesiredSite
from reconciler.model import step_ids
from reconciler.model.observed import Observed
from reconciler.model.plan import ActuatorKind, NoFailover, Plan, Step, StepKind, StepState
from reconciler.model.progress import LocationOriginal, Progress, StepRecord
from reconciler.plan.checks import (
    ROTATION_CHECKS,
    SITE_CHECKS,
    Facts,
    Finding,
    RotationFacts,
    first_finding,
)
from reconciler.plan.drift import STEP_CHECKS, StepFacts
from reconciler.plan.gates import GridIndex, describe, measure, predicted_open, sepm_time
from reconciler.plan.scope import Scope, choose_scope
from reconciler.plan.site import SiteView, view
from reconciler.plan.steps import Draft, build_steps


def plan(desired: DesiredSite, observed: Observed, progress: Progress | None, now: int) -> Plan:
    """The steps from ``observed`` to ``desired``, from where ``progress`` left off, at SEPM time ``now``."""
    site = view(observed, desired.no_failover_versions)
    finding = first_finding(SITE_CHECKS, Facts(desired, site, progress))
    if finding is not None:
        return _blocked(observed.site, progress, finding)
    scope = choose_scope(desired, site, progress)
    if progress is None and not scope.servers:
        return Plan(site=observed.site)
    finding = first_finding(ROTATION_CHECKS, RotationFacts(desired, site, progress, scope))
    if finding is not None:
        return _blocked(observed.site, progress, finding)

    drafts = build_steps(desired, site, scope, progress)
    if progress is not None:
        progress = _without_stale_gates(progress, drafts)
        facts = StepFacts(desired, site, progress, scope, tuple(d.step for d in drafts))
        finding = first_finding(STEP_CHECKS, facts)
        if finding is not None:
            return _blocked(observed.site, progress, finding)

    sequence = _Sequencer(desired, site, progress, now)
    steps = tuple(sequence.decide(draft) for draft in drafts)
    pending = sequence.pending
    dormant = sequence.dormant if sequence.dormant is not None else _dormant_now(desired, site, now)
    return Plan(
        site=observed.site,
        procedure=scope.procedure,
        steps=steps,
        originals=_originals(scope, progress),
        original_certificates=_original_certificates(desired, observed, progress),
        dormant=dormant if pending else (),
        no_failover=NoFailover(
            patterns=desired.no_failover_versions,
            clients=site.legacy_clients,
            groups=tuple(sorted(site.groups[g].full_path for g in site.legacy_sources)),
        ),
        eta=sequence.clock if pending else None,
        evidence_lower_bound=sequence.clock - now if pending else 0,
    )


def _without_stale_gates(progress: Progress, drafts: Iterable[Draft]) -> Progress:
    """The journal as the rest of the plan reads it: a gate's record counts only if every change it waits
    for is done, and was done no later than the gate closed.

    A journal that says otherwise (edited, restored from a copy, or a change attempted again after its
    gate) would let what follows the gate (secure communications back on) run on a certificate the
    clients were never seen to take; the drift checks would miss a reverted server for the same reason.
    Such a gate is measured afresh, from its changes, and its closing again is journalled at the later
    time (``reconciler.journal.steps``). An action's record always counts: its effect is SEPM's state.
    """
    done = progress.done
    stale = {
        draft.step.id
        for draft in drafts
        if draft.gate is not None
        and (closed := done.get(draft.step.id)) is not None
        and not all(
            (change := done.get(step_id)) is not None and change.applied_at <= closed.applied_at
            for step_id in draft.gate.since_steps
        )
    }
    if not stale:
        return progress
    return progress.model_copy(update={"done": {k: v for k, v in done.items() if k not in stale}})


class _Sequencer:
    """Decides each draft's state in order: the run of ready steps, then what waits; predicts the gates.

    Remembers the current gate's dormant clients, and ``clock``: the earliest SEPM instant the rotation
    can have reached at each step, were every act instant (the physical bound, ``gates.predicted_open``).
    """

    def __init__(self, desired: DesiredSite, site: SiteView, progress: Progress | None, now: int) -> None:
        self.desired = desired
        self.view = site
        self.site = site.observed.site
        self._grid: GridIndex | None = None
        self.now = now
        self.done: Mapping[str, StepRecord] = progress.done if progress is not None else {}
        self.applied = {step_id: record.applied_at for step_id, record in self.done.items()}
        self.acknowledged = progress.acknowledged if progress is not None else {}
        self.proceeded = progress.proceeded if progress is not None else {}
        self.fallback = progress.started_at if progress is not None else now
        self.phase = "before"
        """before the current step; in the ``run`` of ready steps; ``after`` it (waiting)."""
        self.dormant: tuple[str, ...] | None = None
        self.clock = now
        self.pending = False

    def decide(self, draft: Draft) -> Step:
        step = draft.step
        if step.id in self.done:
            return step.model_copy(update={"state": StepState.DONE})
        self.pending = True
        if self.phase == "before":
            self.phase = "run"
            decided = self._action(draft) if draft.gate is None else self._gate(draft)
            if decided.state is not StepState.READY:
                self.phase = "after"
            return decided
        if self.phase == "run" and draft.gate is None:
            decided = self._action(draft)
            if decided.state is StepState.READY:
                return decided
        self.phase = "after"
        return self._predicted(draft)

    def _predicted(self, draft: Draft) -> Step:
        """A step after the run: waiting, unmeasured; a gate carries its predicted opening."""
        if draft.gate is None:
            return draft.step  # built waiting
        if self._grid is None:  # built once, when the first gate ahead needs it
            self._grid = GridIndex(self.view.clients, now=self.now, gates=self.desired.gates)
        opens = predicted_open(draft.gate, self._grid, since=self.clock, gates=self.desired.gates)
        self.clock = max(self.clock, opens)
        return draft.step.model_copy(update={"eta": opens})

    def _action(self, draft: Draft) -> Step:
        step = draft.step
        acknowledged = step.id in self.acknowledged
        if draft.in_doubt:
            return step.model_copy(
                update={
                    "state": StepState.BLOCKED,
                    "reason": "UpdateMayStillApply",
                    "message": (
                        f"the update of {step.server} was started before the abort and may still apply "
                        f"({step.server} still presents its original certificate): secure communications "
                        "must not come back on before every client could take a new certificate; if it "
                        f"completes, its gate runs first; if it will not, confirm it was not applied: "
                        f"`sepm-reconciler ack {self.site} {step.id}`"
                    ),
                }
            )
        if draft.location_missing and not acknowledged:
            return step.model_copy(
                update={
                    "state": StepState.BLOCKED,
                    "reason": "MissingLocation",
                    "message": (
                        f"location '{step.location_name}' of {step.group_path}, journalled when the "
                        "rotation started, is no longer observed; if it was deleted on purpose, run "
                        f"`sepm-reconciler ack {self.site} {step.id}`, otherwise restore it"
                    ),
                }
            )
        satisfied = acknowledged if draft.visible is None or draft.location_missing else draft.visible
        return step.model_copy(update={"state": StepState.READY, "satisfied": satisfied})

    def _gate(self, draft: Draft) -> Step:
        assert draft.gate is not None  # only gates reach here
        step = draft.step
        evidence = measure(
            draft.gate,
            self.view.clients,
            applied=self.applied,
            fallback=self.fallback,
            gates=self.desired.gates,
            now=self.now,
        )
        self.dormant = evidence.dormant
        m = evidence.measurement
        update: dict[str, object] = {"gate": m, "eta": m.eta}
        if step.id in self.proceeded:
            update |= {
                "state": StepState.READY,
                "satisfied": True,
                "message": f"proceeded without full evidence ({describe(m)}): {self.proceeded[step.id]}",
            }
        elif m.open:
            update |= {"state": StepState.READY, "satisfied": True, "message": describe(m)}
        elif self.now > m.deadline:
            update |= {
                "state": StepState.BLOCKED,
                "reason": "GateDeadlineExceeded",
                "message": (
                    f"{step.id} did not open by its deadline {sepm_time(m.deadline)}: {describe(m)}; find "
                    "out why those clients do not check in, then go on without them "
                    f"(`sepm-reconciler proceed {self.site} {step.id} --reason ...`) or restore the "
                    f"secure original (`sepm-reconciler abort {self.site}`)"
                ),
            }
        else:
            update |= {"message": f"waiting: {describe(m)}; deadline {sepm_time(m.deadline)}"}
            self.clock = max(self.clock, m.eta)  # the rest of the rotation cannot start before it opens
        return step.model_copy(update=update)


def _blocked(site: str, progress: Progress | None, finding: Finding) -> Plan:
    reason, message = finding
    step = Step(
        id=step_ids.check(reason),
        kind=StepKind.CHECK,
        state=StepState.BLOCKED,
        actuator=ActuatorKind.OPERATOR,
        description=f"blocked: {reason}",
        reason=reason,
        message=message,
    )
    return Plan(site=site, procedure=progress.procedure if progress else None, steps=(step,))


def _originals(scope: Scope, progress: Progress | None) -> dict[str, LocationOriginal]:
    if progress is not None:
        return dict(progress.originals)
    return {o.key: o for o in scope.treated}


def _original_certificates(
    desired: DesiredSite, observed: Observed, progress: Progress | None
) -> dict[str, str]:
    if progress is not None:
        return dict(progress.original_certificates)
    presented: dict[str, str] = {}
    for server in desired.servers:
        found = observed.server(server.name)
        fingerprints = sorted(found.presented_fingerprints()) if found is not None else []
        if fingerprints:
            presented[server.name] = fingerprints[0]  # the site checks left one per server
    return presented


def _dormant_now(desired: DesiredSite, site: SiteView, now: int) -> tuple[str, ...]:
    cutoff = now - desired.gates.dormant_after * 1000
    return tuple(sorted(site.clients.names(site.clients.checked_in_before(cutoff))))
