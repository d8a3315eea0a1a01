"""A gate's journal record counts only if the changes it waits for were done before it closed.

A journal can say otherwise: edited by hand, restored from a copy, or a certificate update acted on
again after its gate (found by the invariant property test). Taking such a record at its word would let
secure communications and the HTTPS lists come back on a certificate the clients were never seen to
take. The planner measures the gate afresh instead, and a gate closed again takes its new time.
"""

from __future__ import annotations

from reconciler.model.plan import Plan, StepState
from reconciler.model.progress import StepRecord

from .builders import HOUR, MIN, ROOT, client, desired_site, group, new, observed, old, server
from .world import World

UPDATE = "update_certificate:sepm01"
GATE = "gate:certificates"


def _world() -> World:
    return World(
        desired_site(),
        observed(
            servers=[server("sepm01")],
            groups=[group("g1", ROOT), group("g3", ROOT + "\\Sales")],
            clients=[client("c1", "g1"), client("c2", "g3"), client("c3", "g3")],
        ),
    )


def _after_the_certificates_gate() -> World:
    world = _world()
    world.run_until("enable_secure_communications:g1/g1-L1")
    assert world.progress is not None
    assert {UPDATE, GATE} <= set(world.progress.done)
    return world


def _ready(result: Plan) -> list[str]:
    return [step.id for step in result.ready]


def _state(result: Plan, step_id: str) -> StepState:
    return next(step.state for step in result.steps if step.id == step_id)


def test_a_gate_recorded_before_its_update_was_done_is_measured_again() -> None:
    """The journal has the gate closed but the update only attempted, and the server shows its original:
    the update is acted on again and nothing after the gate runs until clients are seen past it."""
    world = _after_the_certificates_gate()
    assert world.progress is not None
    done = {k: v for k, v in world.progress.done.items() if k != UPDATE}
    world.progress = world.progress.model_copy(update={"done": done, "attempted": (UPDATE,)})
    world.present("sepm01", old("sepm01"))

    result = world.plan()

    assert _ready(result) == [UPDATE]
    assert _state(result, GATE) is StepState.WAITING
    assert all(
        step.state is StepState.WAITING for step in result.steps[result.steps.index(result.ready[-1]) + 1 :]
    )


def test_an_update_done_after_its_gate_closed_reopens_the_gate_until_clients_check_in() -> None:
    """The update is recorded later than the gate's closing: the gate counts from the update again, holds
    the re-enabling until every client checked in after it, then closes at the later time."""
    world = _after_the_certificates_gate()
    assert world.progress is not None
    gate_closed = world.progress.done[GATE].applied_at
    world.advance(MIN)
    later = StepRecord(applied_at=world.now)
    world.progress = world.progress.model_copy(update={"done": {**world.progress.done, UPDATE: later}})
    assert later.applied_at > gate_closed

    held = world.plan()
    assert _state(held, GATE) is not StepState.DONE
    assert not any(step_id.startswith(("enable_", "restore_")) for step_id in _ready(held))

    last = world.run()

    assert last.converged
    assert world.progress is not None
    assert world.progress.done[GATE].applied_at > later.applied_at
    reopened = world.recorded.index(GATE, world.recorded.index(GATE) + 1)
    assert world.recorded[reopened + 1].startswith("enable_secure_communications:")
    assert {s.name: s.presented_fingerprints() for s in world.observed.servers} == {"sepm01": {new("sepm01")}}


def test_a_gate_recorded_after_its_changes_stands() -> None:
    """The ordinary journal: the closed gate is done and the run goes on past it at once."""
    world = _after_the_certificates_gate()
    world.advance(HOUR)

    result = world.plan()

    assert _state(result, GATE) is StepState.DONE
    assert _ready(result)[0].startswith("enable_secure_communications:")
