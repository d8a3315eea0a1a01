"""Per-site status: what `sepm-reconciler status`, `/status` and the metrics report.

Contract: a status is derived from the last plan and observation of a site (plus its desired-state errors
and suspension), written beside the journal after every reconcile (`reconciler.telemetry.status_store`),
and read back by other processes. It holds no secret. ``phase`` is one of Ready, Reconciling, Stalled,
Suspended; ``reason`` is a CamelCase word for machines, ``message`` a sentence for people.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from reconciler.desired.schema import DesiredSite
from reconciler.model.observed import Observed
from reconciler.model.plan import ActuatorKind, GateMeasurement, Plan, Step, StepState

Phase = Literal["Ready", "Reconciling", "Stalled", "Suspended", "Unknown"]


class OperatorTask(BaseModel):
    model_config = ConfigDict(frozen=True)

    step: str
    instructions: tuple[str, ...]


class AppliedRevision(BaseModel):
    """The Git revision of the desired state in force for a site (a rotation's own, while one runs)."""

    model_config = ConfigDict(frozen=True)

    commit: str = ""
    subject: str = ""


class SiteStatus(BaseModel):
    model_config = ConfigDict(frozen=True)

    site: str
    phase: Phase
    reason: str = ""
    message: str = ""
    rotation_id: str | None = None
    procedure: str | None = None
    current_step: str | None = None
    step_kind: str | None = None
    steps_done: int = 0
    steps_total: int = 0
    gate: GateMeasurement | None = None
    dormant: tuple[str, ...] = ()
    operator_tasks: tuple[OperatorTask, ...] = ()
    desired_errors: tuple[str, ...] = ()
    revision: AppliedRevision = Field(default_factory=AppliedRevision)
    queued_change: bool = Field(default=False, description="a newer desired state waits for this rotation")
    server_time: int | None = None
    eta: int | None = Field(default=None, description="SEPM ms: the rotation's earliest possible completion")
    observed_at: float | None = Field(default=None, description="this host's clock at the last observation")
    insecure_since: int | None = Field(default=None, description="SEPM ms since secure comms are off")
    certificates: dict[str, dict[str, str | int | bool]] = Field(default_factory=dict)
    updated_at: float = 0.0


def describe_plan(plan: Plan) -> tuple[Phase, str, str]:
    """(phase, reason, message) for a plan: cert-manager style, from the first step that is not done."""
    step = plan.current
    if step is None:
        return "Ready", "Converged", "every server presents its desired certificate"
    if step.state is StepState.BLOCKED:
        return "Stalled", step.reason or "Blocked", step.message or step.description
    if step.state is StepState.WAITING and step.gate is not None:
        return "Reconciling", "WaitingForGate", f"waiting: {step.gate.summary()} ({step.description})"
    if step.state is StepState.WAITING:
        return "Reconciling", "WaitingForOperator", step.message or step.description
    return "Reconciling", "Acting", step.description


def status_for_plan(
    *,
    desired: DesiredSite,
    observed: Observed,
    plan: Plan,
    rotation_id: str | None,
    queued_change: bool,
    desired_errors: tuple[str, ...],
    previous: SiteStatus | None,
    revision: AppliedRevision,
    in_flight: frozenset[str],
    instructions: Callable[[Step], tuple[str, ...]],
) -> SiteStatus:
    """The status a fresh plan gives its site (``previous`` carries how long secure comms have been off).

    An operator task is shown only once the journal holds its intent (``in_flight``: the step ids acted
    on and not done), so that anyone who reads it can acknowledge it at once. ``instructions(step)``
    gives its console steps (the controller asks the operator actuator; telemetry only shows them).
    """
    phase, reason, message = describe_plan(plan)
    step = plan.current
    tasks: tuple[OperatorTask, ...] = ()
    if (
        rotation_id
        and step is not None
        and step.actuator is ActuatorKind.OPERATOR
        and step.state is StepState.READY
        and step.id in in_flight
    ):
        tasks = (OperatorTask(step=step.id, instructions=instructions(step)),)
        message = f"operator task: {step.description}"
        reason = "WaitingForOperator"
    return SiteStatus(
        site=desired.site,
        phase=phase,
        reason=reason,
        message=message,
        rotation_id=rotation_id,
        procedure=plan.procedure,
        current_step=step.id if step else None,
        step_kind=step.kind if step else None,
        steps_done=sum(1 for s in plan.steps if s.state is StepState.DONE),
        steps_total=len(plan.steps),
        gate=step.gate if step else None,
        dormant=plan.dormant,
        operator_tasks=tasks,
        desired_errors=desired_errors,
        revision=revision,
        queued_change=queued_change,
        server_time=observed.server_time,
        eta=plan.eta,
        observed_at=time.time(),
        insecure_since=_insecure_since(observed, previous),
        certificates=_certificates(desired, observed),
        updated_at=time.time(),
    )


def _insecure_since(observed: Observed, previous: SiteStatus | None) -> int | None:
    """SEPM time since which some location has had secure communications off (None: all on)."""
    if all(loc.secure_communications for _, loc in observed.iter_locations()):
        return None
    since = previous.insecure_since if previous else None
    return since if since is not None else observed.server_time


def _certificates(desired: DesiredSite, observed: Observed) -> dict[str, dict[str, str | int | bool]]:
    """Per server: the fingerprint and expiry presented, and whether every port shows the desired one."""
    out: dict[str, dict[str, str | int | bool]] = {}
    for server in desired.servers:
        seen = observed.server(server.name)
        if seen is None or not seen.certificates:
            continue
        presented = next(iter(seen.certificates.values()))
        out[server.name] = {
            "sha256": presented.sha256,
            "not_after": presented.not_after,
            "matches": seen.presented_fingerprints() == {server.certificate.sha256},
        }
    return out
