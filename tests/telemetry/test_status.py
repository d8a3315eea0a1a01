"""How a plan becomes a site's status, and how `status` and the demo show it."""

from __future__ import annotations

import io

import pytest

from reconciler.cli.controller_cmds import format_status
from reconciler.cli.progress import ProgressView, bar
from reconciler.model.plan import GateMeasurement, Plan, Step, StepKind, StepState
from reconciler.telemetry.status import OperatorTask, SiteStatus, describe_plan


def gate(passed: int, total: int) -> GateMeasurement:
    return GateMeasurement(
        cycles=3, since=0, deadline=7_200_000, earliest_open=0, in_scope=total, passed=passed, max_lagging=0,
        lagging=("laptop-17",), dormant=("old-pc",), dormant_count=1, open=False,
    )  # fmt: skip


def step(state: StepState, *, kind: StepKind = StepKind.GATE, **fields) -> Step:
    return Step(id=f"{kind}:x", kind=kind, state=state, actuator="journal", description="wait", **fields)


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        pytest.param((), ("Ready", "Converged"), id="nothing-to-do"),
        pytest.param((step(StepState.DONE),), ("Ready", "Converged"), id="all-done"),
        pytest.param(
            (step(StepState.WAITING, gate=gate(4812, 5000)),), ("Reconciling", "WaitingForGate"), id="gate"
        ),
        pytest.param(
            (step(StepState.BLOCKED, reason="CorruptedCertificate", message="disaster recovery"),),
            ("Stalled", "CorruptedCertificate"),
            id="blocked",
        ),
        pytest.param(
            (step(StepState.READY, kind=StepKind.ASSIGN_MSL),), ("Reconciling", "Acting"), id="acting"
        ),
    ],
)
def test_describe_plan(steps, expected):
    """The first step that is not done decides the phase and the CamelCase reason."""
    phase, reason, _ = describe_plan(Plan(site="hq", steps=steps))
    assert (phase, reason) == expected


def test_gate_message_reads_like_the_design():
    """A waiting gate reads "waiting: 4,812/5,000 clients through 3 heartbeats"."""
    _, _, message = describe_plan(Plan(site="hq", steps=(step(StepState.WAITING, gate=gate(4812, 5000)),)))
    assert message.startswith("waiting: 4,812/5,000 clients through 3 heartbeats")


def test_format_status_shows_everything_a_human_needs():
    """`status` shows the step, the gate with its deadline, lagging and dormant clients, operator tasks,
    desired-state errors and a queued change."""
    status = SiteStatus(
        site="hq", phase="Reconciling", reason="WaitingForGate", message="waiting", rotation_id="r1",
        procedure="single-server", current_step="gate:prepared", steps_done=3, steps_total=9, gate=gate(4812, 5000),
        dormant=("old-pc",), operator_tasks=(OperatorTask(step="copy_msl:Default", instructions=("Do it",)),),
        desired_errors=("hq.yaml:3: servers: bad",), queued_change=True,
    )  # fmt: skip
    text = format_status(status)
    assert "step 4 of 9: gate:prepared" in text
    assert "4,812/5,000 clients through 3 heartbeats; deadline 1970-01-01 02:00:00 UTC" in text
    assert "lagging: laptop-17" in text
    assert "dormant clients (1), will need a manual fix: old-pc" in text
    assert "operator task copy_msl:Default:" in text
    assert "    - Do it" in text
    assert "hq.yaml:3: servers: bad" in text
    assert "queued" in text


@pytest.mark.parametrize(
    ("done", "total", "expected"),
    [
        (0, 10, "[" + "." * 30 + "]"),
        (5, 10, "[" + "#" * 15 + "." * 15 + "]"),
        (10, 10, "[" + "#" * 30 + "]"),
        (0, 0, "[" + "#" * 30 + "]"),
    ],
)
def test_bar(done, total, expected):
    """The progress bar fills in proportion; an empty scope is a full bar (nothing to wait for)."""
    assert bar(done, total) == expected


def test_progress_view_prints_a_line_only_when_something_changes():
    """Off a terminal, the live view prints one line per change of step or gate count, not per status."""
    out = io.StringIO()
    view = ProgressView(out=out)
    base = SiteStatus(
        site="hq", phase="Reconciling", reason="WaitingForGate", current_step="gate:prepared", steps_total=9
    )
    for passed in (1, 1, 2, 2, 2):
        view.update(base.model_copy(update={"gate": gate(passed, 4)}))
    view.update(
        base.model_copy(
            update={
                "current_step": "update_certificate:sepm01",
                "reason": "Acting",
                "message": "update sepm01",
                "gate": None,
            }
        )
    )
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    assert "1/4 clients" in lines[0]
    assert "2/4 clients" in lines[1]
    assert lines[2].endswith("update sepm01")
    assert "gate:prepared" in lines[0]


def test_status_shows_the_gate_and_rotation_eta_and_the_revision():
    """`status` says when the gate can open and the rotation complete at the earliest, and the revision."""
    from reconciler.telemetry.status import AppliedRevision

    status = SiteStatus(
        site="hq",
        phase="Reconciling",
        reason="WaitingForGate",
        rotation_id="r-1",
        gate=gate(4812, 5000).model_copy(update={"eta": 1_714_573_800_000}),
        eta=1_714_577_400_000,
        revision=AppliedRevision(commit="0123456789abcdef" * 2 + "01234567", subject="rotate hq"),
    )

    text = format_status(status)

    assert "can open 2024-05-01 14:30:00 UTC" in text
    assert "earliest completion: 2024-05-01 15:30:00 UTC" in text
    assert "revision 0123456789ab (rotate hq)" in text
