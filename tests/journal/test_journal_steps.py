"""Steps: intent before acting, done after observing, failures, gates, and what a restart re-checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from journal_helpers import SITE, FakeClock, start

from reconciler.journal import MAX_TEXT, Journal, Lease, RotationId, StepAlreadyDone
from reconciler.model.plan import StepKind
from reconciler.model.progress import StepRecord


def test_intent_then_done_round_trips_into_progress(
    journal: Journal, lease: Lease, rotation: RotationId, clock: FakeClock
) -> None:
    """A step with intent and done appears in Progress.done with its SEPM time and message."""
    journal.record_intent(
        lease, rotation_id=rotation, step_id="assign_msl:g1/l1", kind=StepKind.ASSIGN_MSL, target="g1/l1"
    )
    assert [s["step_id"] for s in journal.in_flight(rotation)] == ["assign_msl:g1/l1"]
    assert journal.progress(rotation).done == {}
    clock.advance(5)
    assert journal.record_done(
        lease, rotation_id=rotation, step_id="assign_msl:g1/l1", applied_at=1_234_567, message="MSL copy"
    )
    assert journal.progress(rotation).done == {
        "assign_msl:g1/l1": StepRecord(applied_at=1_234_567, message="MSL copy")
    }
    assert journal.in_flight(rotation) == []
    (row,) = journal.steps(rotation)
    assert (row["kind"], row["target"], row["outcome"], row["attempts"]) == ("assign_msl", "g1/l1", "ok", 1)
    assert row["intent_wall"] is not None
    assert row["done_wall"] == row["intent_wall"] + 5
    assert row["token"] == lease.token


def test_done_is_idempotent_and_keeps_the_first_time(
    journal: Journal, lease: Lease, rotation: RotationId
) -> None:
    """Recording the same step done again is a no-op: the first SEPM time, which gates count from, stays."""
    journal.record_intent(lease, rotation_id=rotation, step_id="s", kind="assign_msl", target="g1/l1")
    assert journal.record_done(lease, rotation_id=rotation, step_id="s", applied_at=100)
    events = journal.history(SITE)
    assert not journal.record_done(lease, rotation_id=rotation, step_id="s", applied_at=900, message="again")
    assert journal.progress(rotation).done["s"] == StepRecord(applied_at=100)
    assert journal.history(SITE) == events


def test_done_without_intent_for_satisfied_steps_and_gates(
    journal: Journal, lease: Lease, rotation: RotationId
) -> None:
    """A step already satisfied, or an open gate, is recorded done without ever being in flight."""
    journal.record_done(
        lease, rotation_id=rotation, step_id="gate:1", applied_at=50, kind=StepKind.GATE, target="all"
    )
    (row,) = journal.steps(rotation)
    assert (row["kind"], row["target"], row["intent_wall"], row["attempts"]) == ("gate", "all", None, 0)
    assert journal.progress(rotation).done["gate:1"].applied_at == 50


def test_a_gate_closed_again_later_takes_the_later_time(
    journal: Journal, lease: Lease, rotation: RotationId
) -> None:
    """A done gate recorded done again at a later SEPM time takes it (the planner measured it afresh);
    an earlier or equal time changes nothing, and an action never moves."""
    journal.record_done(lease, rotation_id=rotation, step_id="gate:g", applied_at=500, kind=StepKind.GATE)
    assert not journal.record_done(lease, rotation_id=rotation, step_id="gate:g", applied_at=500)
    assert not journal.record_done(lease, rotation_id=rotation, step_id="gate:g", applied_at=400)
    assert journal.progress(rotation).done["gate:g"].applied_at == 500

    assert journal.record_done(
        lease, rotation_id=rotation, step_id="gate:g", applied_at=900, message="12 of 12", kind=StepKind.GATE
    )
    assert journal.progress(rotation).done["gate:g"] == StepRecord(
        applied_at=900, message="closed again at a later SEPM time; 12 of 12"
    )
    assert [e["event"] for e in journal.history(SITE) if e["step_id"] == "gate:g"] == ["done", "done"]

    journal.record_done(
        lease, rotation_id=rotation, step_id="assign_msl:a", applied_at=100, kind="assign_msl"
    )
    assert not journal.record_done(lease, rotation_id=rotation, step_id="assign_msl:a", applied_at=900)
    assert journal.progress(rotation).done["assign_msl:a"].applied_at == 100


def test_in_flight_survives_a_crash(journal_path: Path, clock: FakeClock) -> None:
    """A step with an intent and no done, written by a process that went away, is in flight on reopen."""
    with Journal(journal_path, clock=clock) as first:
        lease = first.acquire_lock(SITE, owner="c1", ttl_seconds=30)
        rotation = start(first, lease, originals={}, original_certificates={})
        first.record_intent(lease, rotation_id=rotation, step_id="done-one", kind="assign_msl", target="a")
        first.record_done(lease, rotation_id=rotation, step_id="done-one", applied_at=10)
        first.record_intent(
            lease, rotation_id=rotation, step_id="cut-off", kind="update_certificate", target="b"
        )
    with Journal(journal_path, clock=clock) as second:
        active = second.active_rotation(SITE)
        assert active is not None
        assert [s["step_id"] for s in second.in_flight(active["id"])] == ["cut-off"]
        assert list(second.progress(active["id"]).done) == ["done-one"]


def test_intent_for_a_done_step_is_refused(journal: Journal, lease: Lease, rotation: RotationId) -> None:
    """Acting again on a step whose effect was recorded is a planner bug and is refused."""
    journal.record_done(lease, rotation_id=rotation, step_id="s", applied_at=1)
    with pytest.raises(StepAlreadyDone):
        journal.record_intent(lease, rotation_id=rotation, step_id="s", kind="gate", target="")
    with pytest.raises(StepAlreadyDone):
        journal.record_failed(lease, rotation_id=rotation, step_id="s", message="late failure")


def test_failed_step_is_not_done_and_can_be_retried(
    journal: Journal, lease: Lease, rotation: RotationId
) -> None:
    """A failure ends the attempt; a new intent puts the step back in flight and counts the attempt."""
    journal.record_intent(
        lease, rotation_id=rotation, step_id="s", kind="update_certificate", target="sepm01"
    )
    journal.record_failed(lease, rotation_id=rotation, step_id="s", message="command exited 3")
    (row,) = journal.steps(rotation)
    assert (row["outcome"], row["message"], row["applied_at"]) == ("failed", "command exited 3", None)
    assert journal.in_flight(rotation) == []
    assert "s" not in journal.progress(rotation).done
    journal.record_intent(
        lease, rotation_id=rotation, step_id="s", kind="update_certificate", target="sepm01"
    )
    (row,) = journal.in_flight(rotation)
    assert (row["attempts"], row["outcome"], row["message"]) == (2, None, "")
    journal.record_done(lease, rotation_id=rotation, step_id="s", applied_at=77)
    assert journal.progress(rotation).done["s"].applied_at == 77


def test_reintent_after_a_crash_counts_the_attempt(
    journal: Journal, lease: Lease, rotation: RotationId
) -> None:
    """Re-running an in-flight step after a restart records a new intent and says it is a retry."""
    journal.record_intent(lease, rotation_id=rotation, step_id="s", kind="assign_msl", target="g1/l1")
    journal.record_intent(lease, rotation_id=rotation, step_id="s", kind="assign_msl", target="g1/l1")
    (row,) = journal.in_flight(rotation)
    assert row["attempts"] == 2
    assert journal.history(SITE, limit=1)[0]["message"] == "assign_msl g1/l1 (attempt 2)"


def test_gate_measurements_newest_first(
    journal: Journal, lease: Lease, rotation: RotationId, clock: FakeClock
) -> None:
    """Gate measurements are kept per gate and read back newest first, without history events."""
    events = journal.history(SITE)
    for at, passed in [(100, 1), (200, 3), (300, 5)]:
        journal.record_gate(
            lease, rotation_id=rotation, gate_id="gate:a", at=at, passed=passed, in_scope=5, dormant=2
        )
        clock.advance(1)
    journal.record_gate(
        lease, rotation_id=rotation, gate_id="gate:b", at=150, passed=0, in_scope=9, dormant=0
    )
    rows = journal.gate_measurements(rotation, gate_id="gate:a")
    assert [(r["at"], r["passed"], r["in_scope"], r["dormant"]) for r in rows] == [
        (300, 5, 5, 2),
        (200, 3, 5, 2),
        (100, 1, 5, 2),
    ]
    assert len(journal.gate_measurements(rotation)) == 4
    assert journal.gate_measurements(rotation, limit=1)[0]["gate_id"] == "gate:b"
    assert journal.history(SITE) == events


@pytest.mark.parametrize(
    ("passed", "in_scope", "dormant"),
    [
        pytest.param(-1, 0, 0, id="negative-passed"),
        pytest.param(0, -1, 0, id="negative-scope"),
        pytest.param(0, 0, -1, id="negative-dormant"),
        pytest.param(6, 5, 0, id="more-passed-than-in-scope"),
    ],
)
def test_impossible_gate_measurements_are_refused(
    journal: Journal, lease: Lease, rotation: RotationId, passed: int, in_scope: int, dormant: int
) -> None:
    """A gate measurement that cannot be true is refused as a caller bug and not stored."""
    with pytest.raises(ValueError, match="impossible measurement"):
        journal.record_gate(
            lease, rotation_id=rotation, gate_id="g", at=1, passed=passed, in_scope=in_scope, dormant=dormant
        )
    assert journal.gate_measurements(rotation) == []


def test_long_messages_are_capped(journal: Journal, lease: Lease, rotation: RotationId) -> None:
    """A message longer than MAX_TEXT is cut to MAX_TEXT characters, ending with an ellipsis."""
    journal.record_failed(lease, rotation_id=rotation, step_id="s", message="x" * (MAX_TEXT * 3))
    (row,) = journal.steps(rotation)
    assert len(row["message"]) == MAX_TEXT
    assert row["message"].endswith("…")
