"""A toy SEPM site and a toy controller loop, to drive the planner step by step in tests.

This is deliberately not the simulator: it only applies what a step says (assign a list, flip a flag,
present a certificate), bumps the group's policy serial on every settings change (as SEPM does), and
lets online clients check in on their heartbeat schedule. It shares no logic with the planner beyond the
model types, so the planner is judged from the outside.

The loop (``tick``) is the controller's contract in miniature: plan; start the rotation (journal the
originals) on the first non-empty plan; record a ready-and-satisfied step; act on a ready step (an
operator acknowledges what SEPM cannot show); let time pass on a waiting one; stop on converged or
blocked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from reconciler.desired.schema import DesiredSite
from reconciler.model.observed import Observed, ObservedClient, ObservedGroup
from reconciler.model.plan import Plan, Step, StepKind, StepState
from reconciler.model.progress import Progress, StepRecord
from reconciler.plan import plan

from .builders import MIN, SEC, presented


@dataclass
class World:
    desired: DesiredSite
    observed: Observed
    progress: Progress | None = None
    checks_in: Callable[[ObservedClient], bool] = lambda client: client.online
    """which clients check in when their heartbeat is due (default: the online ones)."""
    acted: list[str] = field(default_factory=list)
    """ids of the steps that changed SEPM (or that an operator carried out), in order."""
    recorded: list[str] = field(default_factory=list)
    """ids of the steps recorded done, in order."""
    plans: list[Plan] = field(default_factory=list)
    _serials: int = 1

    @property
    def now(self) -> int:
        return self.observed.server_time

    def plan(self) -> Plan:
        result = plan(self.desired, self.observed, self.progress, self.now)
        self.plans.append(result)
        return result

    # --- the journal ---------------------------------------------------------------------------------

    def start(self, first: Plan) -> None:
        assert first.procedure is not None
        self.progress = Progress(
            rotation_id="r1",
            desired_digest=self.desired.digest(),
            procedure=first.procedure,
            started_at=self.now,
            originals=first.originals,
            original_certificates=first.original_certificates,
        )

    def record(self, step_id: str) -> None:
        self._journal(done={**self._progress.done, step_id: StepRecord(applied_at=self.now)})
        self.recorded.append(step_id)

    def acknowledge(self, step_id: str) -> None:
        self._journal(acknowledged={**self._progress.acknowledged, step_id: "operator: done"})

    def proceed(self, gate_id: str, reason: str = "break-glass in a test") -> None:
        self._journal(proceeded={**self._progress.proceeded, gate_id: reason})

    def abort(self) -> None:
        self._journal(aborted=True)

    @property
    def _progress(self) -> Progress:
        assert self.progress is not None, "the rotation has not started"
        return self.progress

    def _journal(self, **changes: object) -> None:
        self.progress = self._progress.model_copy(update=changes)

    # --- SEPM ----------------------------------------------------------------------------------------

    def act(self, step: Step) -> None:
        """Carry a step out on the toy SEPM."""
        if step.kind in (StepKind.COPY_MSL, StepKind.DELETE_MSL_COPY):
            self.acknowledge(step.id)
        elif step.kind is StepKind.UPDATE_CERTIFICATE:
            assert step.server is not None
            assert step.certificate is not None
            self.present(step.server, step.certificate)
        elif step.kind in (
            StepKind.ASSIGN_MSL,
            StepKind.DISABLE_SECURE_COMMUNICATIONS,
            StepKind.ENABLE_SECURE_COMMUNICATIONS,
        ):
            assert step.group_id is not None
            assert step.location_id is not None
            change: dict[str, object] = (
                {"management_server_list": step.management_server_list}
                if step.kind is StepKind.ASSIGN_MSL
                else {"secure_communications": step.secure_communications}
            )
            self.change_location(step.group_id, step.location_id, **change)
        else:
            raise AssertionError(f"nothing to do on SEPM for {step.id}")
        self.acted.append(step.id)

    def present(self, server_name: str, sha256: str, *, port: str | None = None) -> None:
        """Make a server present ``sha256`` on every port (or on one)."""
        servers = []
        for s in self.observed.servers:
            if s.name == server_name:
                certificates = {
                    p: presented(sha256) if port in (None, p) else c for p, c in s.certificates.items()
                }
                servers.append(s.model_copy(update={"certificates": certificates}))
            else:
                servers.append(s)
        self.observed = self.observed.model_copy(update={"servers": tuple(servers)})

    def change_location(self, group_id: str, location_id: str, **change: object) -> None:
        """Change a location's settings and bump its group's policy serial, as SEPM does."""
        self._serials += 1
        groups = []
        for g in self.observed.groups:
            if g.id == group_id:
                locations = tuple(
                    loc.model_copy(update=change) if loc.id == location_id else loc for loc in g.locations
                )
                serial = f"{group_id}-{self._serials}"
                groups.append(g.model_copy(update={"locations": locations, "policy_serial": serial}))
            else:
                groups.append(g)
        self.observed = self.observed.model_copy(update={"groups": tuple(groups)})

    def advance(self, ms: int) -> None:
        """Let ``ms`` of SEPM time pass; clients that check in do so on their heartbeat schedule."""
        now = self.now + ms
        groups = self.observed.groups_by_id()
        clients = []
        for c in self.observed.clients:
            own = groups.get(c.group_id)
            if own is not None and self.checks_in(c):
                heartbeat = _heartbeat_ms(self.observed, own)
                due = (now - c.last_update_time) // heartbeat
                if due > 0:
                    last = c.last_update_time + due * heartbeat
                    clients.append(
                        c.model_copy(update={"last_update_time": last, "profile_serial": own.policy_serial})
                    )
                    continue
            clients.append(c)
        self.observed = self.observed.model_copy(update={"server_time": now, "clients": tuple(clients)})

    # --- the controller ------------------------------------------------------------------------------

    def tick(self, *, wait_ms: int = MIN) -> Plan:
        """One reconcile: plan, then do what the plan says about its current step."""
        current_plan = self.plan()
        step = current_plan.current
        if step is None or step.state is StepState.BLOCKED:
            return current_plan
        if self.progress is None:
            self.start(current_plan)
        elif step.state is StepState.READY and step.satisfied:
            self.record(step.id)
        elif step.state is StepState.READY:
            self.act(step)
            self.advance(SEC)  # the change shows in the next observation
        else:
            self.advance(wait_ms)
        return current_plan

    def run(self, *, limit: int = 2000, wait_ms: int = MIN) -> Plan:
        """Reconcile until the plan is converged or blocked; returns that last plan."""
        for _ in range(limit):
            last = self.tick(wait_ms=wait_ms)
            if last.current is None or last.current.state is StepState.BLOCKED:
                return last
        raise AssertionError(f"no convergence after {limit} reconciles: {self.plans[-1].current}")

    def run_until(self, step_id: str, *, limit: int = 2000, wait_ms: int = MIN) -> Plan:
        """Reconcile until ``step_id`` is the current step; returns that plan."""
        for _ in range(limit):
            current = self.plan().current
            if current is not None and current.id == step_id:
                return self.plans[-1]
            self.tick(wait_ms=wait_ms)
        raise AssertionError(f"{step_id} never became the current step")


def _heartbeat_ms(observed: Observed, group: ObservedGroup) -> int:
    source = observed.settings_source(group)
    default = source.default_location() or (source.locations[0] if source.locations else None)
    return (default.heartbeat_interval if default is not None else 300) * 1000
