"""Steps (intent before acting, done after observing) and gate measurements.

The restart contract (DESIGN.md, safety invariant 5):
- ``intent`` is written before the act; ``done`` after the effect was re-observed, with the SEPM time
  of that observation. A step with an intent and no outcome is **in flight**: the process may have died
  before, during or after the act, so a restart must re-check it by observation (every step is an
  idempotent "ensure"), never assume it happened and never skip it.
- What is done stays done: a second ``done`` for the same step keeps the first record (its SEPM time
  is what gates count from; moving it later would not be unsafe, moving it earlier would be), and an
  intent or failure for a done step is ``StepAlreadyDone``: the planner never re-plans a done step.
- A step may be recorded done without an intent: a step observation already shows satisfied, or a
  gate that opened. Nothing was acted on, so there was nothing in flight.
- A failed step may be tried again: a new intent clears the failure and counts the attempt.
Functions here run inside the caller's write transaction, after it has fenced the lease.
"""

from __future__ import annotations

import sqlite3

from reconciler.journal import history, rows
from reconciler.journal.errors import StepAlreadyDone
from reconciler.journal.records import GateRow, Lease, RotationRow, StepOutcome, StepRow


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


def _is_done(conn: sqlite3.Connection, rotation_id: str, step_id: str) -> bool:
    existing = get(conn, rotation_id, step_id)
    return existing is not None and existing["outcome"] == "ok"


def intent(
    conn: sqlite3.Connection,
    *,
    lease: Lease,
    rotation: RotationRow,
    step_id: str,
    kind: str,
    target: str,
    now: float,
) -> None:
    """Record that the step is about to be acted on (again, after a crash or a failure)."""
    existing = get(conn, rotation["id"], step_id)
    if existing is not None and existing["outcome"] == "ok":
        raise StepAlreadyDone(rotation_id=rotation["id"], step_id=step_id)
    attempts = 1 if existing is None else existing["attempts"] + 1
    conn.execute(
        "INSERT INTO steps (rotation_id, step_id, kind, target, intent_wall, token, attempts) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (rotation_id, step_id) DO UPDATE SET "
        "kind = excluded.kind, target = excluded.target, intent_wall = excluded.intent_wall, "
        "token = excluded.token, attempts = excluded.attempts, done_wall = NULL, applied_at = NULL, "
        "outcome = NULL, message = ''",
        (rotation["id"], step_id, kind, target, now, lease.token, attempts),
    )
    again = f" (attempt {attempts})" if attempts > 1 else ""
    history.append(
        conn,
        site=rotation["site"],
        event="intent",
        wall=now,
        rotation_id=rotation["id"],
        step_id=step_id,
        who=lease.owner,
        message=f"{kind} {target}{again}".strip(),
    )


def _finish(
    conn: sqlite3.Connection,
    *,
    lease: Lease,
    rotation: RotationRow,
    step_id: str,
    outcome: StepOutcome,
    applied_at: int | None,
    message: str,
    kind: str,
    target: str,
    now: float,
) -> None:
    conn.execute(
        "INSERT INTO steps (rotation_id, step_id, kind, target, done_wall, applied_at, outcome, message, "
        "token) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (rotation_id, step_id) DO UPDATE SET "
        "done_wall = excluded.done_wall, applied_at = excluded.applied_at, outcome = excluded.outcome, "
        "message = excluded.message, token = excluded.token",
        (rotation["id"], step_id, kind, target, now, applied_at, outcome, message, lease.token),
    )
    history.append(
        conn,
        site=rotation["site"],
        event="done" if outcome == "ok" else "failed",
        wall=now,
        rotation_id=rotation["id"],
        step_id=step_id,
        who=lease.owner,
        message=message,
    )


def done(
    conn: sqlite3.Connection,
    *,
    lease: Lease,
    rotation: RotationRow,
    step_id: str,
    applied_at: int,
    message: str,
    kind: str,
    target: str,
    now: float,
) -> bool:
    """Record the step's effect as observed at SEPM time ``applied_at``; False if it already was."""
    if _is_done(conn, rotation["id"], step_id):
        return False
    _finish(
        conn,
        lease=lease,
        rotation=rotation,
        step_id=step_id,
        outcome="ok",
        applied_at=applied_at,
        message=message,
        kind=kind,
        target=target,
        now=now,
    )
    return True


def failed(
    conn: sqlite3.Connection,
    *,
    lease: Lease,
    rotation: RotationRow,
    step_id: str,
    message: str,
    kind: str,
    target: str,
    now: float,
) -> None:
    """Record that acting on the step failed (it is no longer in flight; a new intent may retry it)."""
    if _is_done(conn, rotation["id"], step_id):
        raise StepAlreadyDone(rotation_id=rotation["id"], step_id=step_id)
    _finish(
        conn,
        lease=lease,
        rotation=rotation,
        step_id=step_id,
        outcome="failed",
        applied_at=None,
        message=message,
        kind=kind,
        target=target,
        now=now,
    )


def record_gate(
    conn: sqlite3.Connection,
    *,
    lease: Lease,
    rotation: RotationRow,
    gate_id: str,
    at: int,
    passed: int,
    in_scope: int,
    dormant: int,
    now: float,
) -> None:
    """Store one measurement of a gate (not an event: gates are polled)."""
    if min(passed, in_scope, dormant) < 0 or passed > in_scope:
        raise ValueError(
            f"gate {gate_id!r}: impossible measurement passed={passed} in_scope={in_scope} dormant={dormant}"
        )
    conn.execute(
        "INSERT INTO gate_measurements (rotation_id, gate_id, at, passed, in_scope, dormant, "
        "recorded_wall, token) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (rotation["id"], gate_id, at, passed, in_scope, dormant, now, lease.token),
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
