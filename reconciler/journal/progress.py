"""The planner's view of a rotation (``Progress``), rebuilt from the journal.

Contract: exactly what the planner needs, read by the caller in one snapshot.
- ``done``: the steps whose effect was recorded, with the SEPM time of that observation (gates count
  from it) and their message.
- ``attempted``: the steps acted on and not done (in flight, or failed), sorted.
- ``acknowledged``, ``proceeded``: the first ack of each step and the first proceed of each gate.
- ``aborted``: an abort was requested, or the rotation already ended aborted.
"""

from __future__ import annotations

import sqlite3

from reconciler.journal import requests, rotations, steps
from reconciler.journal.records import RotationRow
from reconciler.model.progress import Progress, StepRecord


def read(conn: sqlite3.Connection, rotation: RotationRow) -> Progress:
    """The planner's view of ``rotation``; call it inside a read transaction."""
    rotation_id = rotation["id"]
    originals, certificates = rotations.originals(conn, rotation_id)
    acknowledged, proceeded, aborted = requests.for_rotation(conn, rotation_id)
    rows = steps.all_of(conn, rotation_id)
    done = {
        row["step_id"]: StepRecord(applied_at=row["applied_at"], message=row["message"])
        for row in rows
        if row["outcome"] == "ok" and row["applied_at"] is not None
    }
    attempted = sorted(
        row["step_id"] for row in rows if row["intent_wall"] is not None and row["step_id"] not in done
    )
    return Progress(
        rotation_id=rotation_id,
        desired_digest=rotation["desired_digest"],
        procedure=rotation["procedure"],
        started_at=rotation["started_at"],
        originals=originals,
        original_certificates=certificates,
        done=done,
        acknowledged=acknowledged,
        proceeded=proceeded,
        aborted=aborted or rotation["outcome"] == "aborted",
        attempted=tuple(attempted),
    )
