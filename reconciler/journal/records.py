"""The journal's persisted rows, as the rest of the house reads them.

Times come in two clocks, and the names say which:
- ``started_at``, ``applied_at`` and a gate's ``at`` are **SEPM** epoch milliseconds (ints): the clock all
  gate arithmetic uses (DESIGN.md, Gates).
- Fields ending in ``_wall`` are the controller host's wall clock, epoch seconds (floats): when the
  journal wrote the row. They are for humans and for lease expiry, never for gates.

Each field is named after the column it is read from (``rows`` reads every table by these names).

Free text (``message``, ``note``, ``reason``) is stored as given: the caller redacts it first (the
journal only strips PEM private-key blocks as a last line of defence, see ``hygiene``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NewType, TypedDict

from reconciler.model.progress import Procedure

RotationId = NewType("RotationId", str)
"""Opaque id of one rotation, returned by ``Journal.start_rotation``."""

Outcome = Literal["completed", "aborted"]
"""How a rotation ended: converged on the desired certificates, or restored to the secure original."""

StepOutcome = Literal["ok", "failed"]

Event = Literal[
    "lock_acquired",
    "lock_released",
    "rotation_started",
    "originals_recorded",
    "phase",  # only in files written before schema version 2 (rotations had a phase then)
    "intent",
    "done",
    "failed",
    "rotation_finished",
    "ack",
    "proceed",
    "abort",
    "suspend",
    "resume",
    "adopt",
    "adopted",
]
"""What a history row records; one row per state change, never per renewal or gate poll."""


@dataclass(frozen=True)
class Lease:
    """The right to write for one site, until ``expires_wall`` unless renewed.

    ``token`` is the site's fencing token: it grows by one at every acquisition and every mutating call
    checks it inside its own transaction, so a holder whose lease was taken over cannot write.
    """

    site: str
    owner: str
    token: int
    ttl_seconds: float
    expires_wall: float


class LockRow(TypedDict):
    """Who holds a site's lock (``expires_wall`` may be in the past: expired but not yet taken over)."""

    site: str
    owner: str
    token: int
    acquired_wall: float
    expires_wall: float


class RotationRow(TypedDict):
    """One rotation: what it was started from and how it ended."""

    id: RotationId
    site: str
    desired_digest: str
    git_revision: str
    git_subject: str
    """the subject of the commit ``git_revision`` names ("" when unknown)."""
    desired_json: str
    """The rotation's own desired state, so a desired change mid-rotation cannot re-target it."""
    procedure: Procedure
    started_at: int
    created_wall: float
    finished_wall: float | None
    outcome: Outcome | None
    originals_recorded: bool
    token: int
    """The fencing token of the lease that started it."""


class StepRow(TypedDict):
    """One step of a rotation. ``intent_wall`` without an outcome is a step in flight."""

    rotation_id: RotationId
    step_id: str
    kind: str
    target: str
    intent_wall: float | None
    """None for a step recorded done without acting (already satisfied, or a gate)."""
    done_wall: float | None
    applied_at: int | None
    outcome: StepOutcome | None
    message: str
    token: int
    attempts: int
    """How many intents were recorded: more than one means it was re-run after a crash or failure."""


class GateRow(TypedDict):
    """One measurement of a gate's evidence."""

    rotation_id: RotationId
    gate_id: str
    at: int
    passed: int
    in_scope: int
    dormant: int
    recorded_wall: float
    token: int


class SiteStateRow(TypedDict):
    """Whether a site is suspended, by whom and why (the last change)."""

    site: str
    suspended: bool
    who: str
    reason: str
    changed_wall: float


class AdoptionRow(TypedDict):
    """A request to take over a rotation the journal does not hold (``adopt``), and what became of it."""

    id: int
    site: str
    restore: bool
    """restore the rotation's originals at once instead of continuing it."""
    who: str
    reason: str
    wall: float
    settled_wall: float | None
    rotation_id: RotationId | None
    """the rotation started for it; None while pending, or when there was nothing to adopt."""
    outcome: str


class HistoryRow(TypedDict):
    """One append-only event."""

    id: int
    site: str
    rotation_id: RotationId | None
    event: Event
    step_id: str | None
    who: str
    message: str
    wall: float
