"""Per-site status: what `sepm-reconciler status`, `/status` and the metrics report.

Contract: a status is derived from the last plan and observation of a site (plus its desired-state errors
and suspension), written to the journal after every reconcile, and read back by other processes. It holds
no secret. ``phase`` is one of Ready, Reconciling, Stalled, Suspended; ``reason`` is a CamelCase word for
machines, ``message`` a sentence for people.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from reconciler.model.plan import GateMeasurement, Plan, StepState

Phase = Literal["Ready", "Reconciling", "Stalled", "Suspended", "Unknown"]


class OperatorTask(BaseModel):
    model_config = ConfigDict(frozen=True)

    step: str
    instructions: tuple[str, ...]


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
    queued_change: bool = Field(default=False, description="a newer desired state waits for this rotation")
    server_time: int | None = None
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
