"""Steps (intent before acting, done after observing) and gate measurements.

The restart contract (DESIGN.md, safety invariant 5):
- ``intent`` is written before the act; ``done`` after the effect was re-observed, with the SEPM time
  of that observation. A step with an intent and no outcome is **in flight**: the process may have died
  before, during or after the act, so a restart must re-check it by observation (every step is an
  idempotent "ensure"), never assume it happened and never skip it.
- What is done stays done: a second ``done`` for the same step keeps the first record (its SEPM time
  is what gates count from; moving it later would not be unsafe, moving it earlier would be), and an
  intent or failure for a done step is ``StepAlreadyDone``: the planner never re-plans a done step.
  One exception, which only moves a time later: a gate closed again at a later SEPM time takes that
  time. The planner measures a gate afresh when its record is older than one of the changes it waits
  for (``reconciler.plan.planner``); without the new time it would measure that gate on every pass.
- A step may be recorded done without an intent: a step observation already shows satisfied, or a
  gate that opened. Nothing was acted on, so there was nothing in flight.
- A failed step may be tried again: a new intent clears the failure and counts the attempt.

Writes take a ``Fenced`` (the caller's transaction, after the lease passed the fence) and the rotation
``rotations.for_write`` loaded in it; reads take a connection.
"""

from __future__ import annotations

import sqlite3

from reconciler.journal import rows
from reconciler.journal.errors import StepAlreadyDone
from reconciler.journal.locks import Fenced
from reconciler.journal.records import GateRow, RotationRow, StepOutcome, StepRow
from reconciler.model.plan import StepKind


def get(conn: sqlite3.Connection, rotation_id: str, step_id: str) -> StepRow | None:
    return rows.first(
        rows.select(conn, StepRow, "FROM steps WHERE rotation_id = ? AND step_id = ?", (rotation_id, step_id))
    )


def all_of(conn: sqlite3.Connection, rotation_id: str) -> list[StepRow]:
    """Every step recorded for the rotation, in the order it was first recorded."""
    return rows.select(conn, StepRow, "FROM steps WHERE rotation_id = ? ORDER BY rowid", (rotation_id,))


def in_flight(conn: sqlite3.Connection, rotation_id: str) -> list[StepRow]:
    """Steps with an intent and no outcome: what a restart must re-check before anything else."""
    return rows.select(
        conn,
        StepRow,
        "FROM steps WHERE rotation_id = ? AND intent_wall IS NOT NULL AND outcome IS NULL "
        "ORDER BY intent_wall, rowid",
        (rotation_id,),
    )


def _is_done(step: StepRow | None) -> bool:
    return step is not None and step["outcome"] == "ok"


def _closed_again_later(existing: StepRow, applied_at: int | None) -> bool:
    """A done gate recorded done again at a later SEPM time (see the module docstring)."""
    previous = existing["applied_at"]
    return (
        existing["kind"] == StepKind.GATE
        and applied_at is not None
        and previous is not None
        and applied_at > previous
    )


def intent(w: Fenced, rotation: RotationRow, *, step_id: str, kind: str, target: str) -> None:
    """Record that the step is about to be acted on (again, after a crash or a failure)."""
    existing = get(w.conn, rotation["id"], step_id)
    if _is_done(existing):
        raise StepAlreadyDone(rotation_id=rotation["id"], step_id=step_id)
    attempts = 1 if existing is None else existing["attempts"] + 1
    w.conn.execute(
        "INSERT INTO steps (rotation_id, step_id, kind, target, intent_wall, token, attempts) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (rotation_id, step_id) DO UPDATE SET "
        "kind = excluded.kind, target = excluded.target, intent_wall = excluded.intent_wall, "
        "token = excluded.token, attempts = excluded.attempts, done_wall = NULL, applied_at = NULL, "
        "outcome = NULL, message = ''",
        (rotation["id"], step_id, kind, target, w.now, w.lease.token, attempts),
    )
    again = f" (attempt {attempts})" if attempts > 1 else ""
    w.event("intent", rotation_id=rotation["id"], step_id=step_id, message=f"{kind} {target}{again}".strip())


def finish(
    w: Fenced,
    rotation: RotationRow,
    *,
    step_id: str,
    outcome: StepOutcome,
    applied_at: int | None,
    message: str,
    kind: str,
    target: str,
) -> bool:
    """Record the step's outcome: ``ok`` once its effect was observed at SEPM time ``applied_at``,
    ``failed`` when acting on it failed (no longer in flight; a new intent may retry it).

    A step already done stays done: ``ok`` again writes nothing and returns False, ``failed`` is
    ``StepAlreadyDone``.
    """
    existing = get(w.conn, rotation["id"], step_id)
    if existing is not None and _is_done(existing):
        if outcome != "ok":
            raise StepAlreadyDone(rotation_id=rotation["id"], step_id=step_id)
        if not _closed_again_later(existing, applied_at):
            return False
        message = f"closed again at a later SEPM time; {message}" if message else "closed again"
    w.conn.execute(
        "INSERT INTO steps (rotation_id, step_id, kind, target, done_wall, applied_at, outcome, message, "
        "token) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (rotation_id, step_id) DO UPDATE SET "
        "done_wall = excluded.done_wall, applied_at = excluded.applied_at, outcome = excluded.outcome, "
        "message = excluded.message, token = excluded.token",
        (rotation["id"], step_id, kind, target, w.now, applied_at, outcome, message, w.lease.token),
    )
    w.event(
        "done" if outcome == "ok" else "failed", rotation_id=rotation["id"], step_id=step_id, message=message
    )
    return True


def record_gate(
    w: Fenced, rotation: RotationRow, *, gate_id: str, at: int, passed: int, in_scope: int, dormant: int
) -> None:
    """Store one measurement of a gate (not an event: gates are polled)."""
    if min(passed, in_scope, dormant) < 0 or passed > in_scope:
        raise ValueError(
            f"gate {gate_id!r}: impossible measurement passed={passed} in_scope={in_scope} dormant={dormant}"
        )
    w.conn.execute(
        "INSERT INTO gate_measurements (rotation_id, gate_id, at, passed, in_scope, dormant, "
        "recorded_wall, token) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (rotation["id"], gate_id, at, passed, in_scope, dormant, w.now, w.lease.token),
    )


def gates(conn: sqlite3.Connection, rotation_id: str, *, gate_id: str | None, limit: int) -> list[GateRow]:
    """Gate measurements of a rotation (one gate, or all), newest first."""
    return rows.select(
        conn,
        GateRow,
        "FROM gate_measurements WHERE rotation_id = ? AND (? IS NULL OR gate_id = ?) "
        "ORDER BY id DESC LIMIT ?",
        (rotation_id, gate_id, gate_id, limit),
    )
