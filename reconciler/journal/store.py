"""``Journal``: the controller's memory, one SQLite file shared by the controller and the CLI.

Contract:
- Synchronous and thread-safe (one connection behind a mutex); the controller calls it through
  ``asyncio.to_thread``. Every write is one short ``BEGIN IMMEDIATE`` transaction, so several processes
  can share the file (they wait for each other up to ``busy_timeout_seconds``) and a kill -9 at any
  instant leaves either the whole write or none of it.
- Every call that changes a rotation takes the site's ``Lease`` and checks its fencing token in the
  same transaction (``LockLost`` when it is not current): a second controller cannot act on a locked
  site, and a controller that lost its lock cannot write. Requests from people (``request_*``,
  ``set_suspended``) take no lease.
- Each method is one of the shapes of ``transactions`` around one function of a sub-module
  (``locks``, ``rotations``, ``steps``, ``requests``, ``progress``, ``history``), which holds the rules.
- ``progress`` rebuilds exactly what the planner needs; ``in_flight`` is what a restart must re-check.
- Free text is stored as given, so callers pass already-redacted messages (never a password, token or
  key). As a last line of defence PEM private-key blocks are cut out and each text is capped at
  ``MAX_TEXT`` characters; a desired state that embeds a private key is refused.
- ``clock`` is the wall clock (epoch seconds) for lease expiry and ``*_wall`` fields; tests inject one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType

from reconciler.journal import adoptions, history, locks, progress, requests, rotations, steps
from reconciler.journal.hygiene import clean
from reconciler.journal.records import (
    AdoptionRow,
    GateRow,
    HistoryRow,
    Lease,
    LockRow,
    Outcome,
    RotationId,
    RotationRow,
    SiteStateRow,
    StepRow,
)
from reconciler.journal.requests import RequestKind
from reconciler.journal.schema import connect
from reconciler.journal.transactions import Transactions
from reconciler.model.progress import LocationOriginal, Procedure, Progress


class Journal:
    """The journal file at ``path`` (created and migrated on open)."""

    def __init__(
        self,
        path: Path,
        *,
        clock: Callable[[], float] = time.time,
        busy_timeout_seconds: float = 10.0,
    ) -> None:
        self.path = Path(path)
        self._tx = Transactions(connect(self.path, busy_timeout_seconds=busy_timeout_seconds), clock=clock)

    def __repr__(self) -> str:
        return f"Journal({str(self.path)!r})"

    def close(self) -> None:
        self._tx.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- locks --------------------------------------------------------------------------------------

    def acquire_lock(self, site: str, *, owner: str, ttl_seconds: float) -> Lease:
        """Take the site (``SiteLocked`` while another lease is live); see ``locks`` for the contract."""
        with self._tx.write() as conn:
            return locks.acquire(conn, site=site, owner=owner, ttl_seconds=ttl_seconds, now=self._tx.now())

    def renew(self, lease: Lease) -> Lease:
        """Extend the lease by its TTL from now and return it renewed; ``LockLost`` if it was lost."""
        with self._tx.write() as conn:
            return locks.renew(conn, lease, now=self._tx.now())

    def release(self, lease: Lease) -> bool:
        """Give the site up on a clean exit; False when the lease had already been lost."""
        with self._tx.write() as conn:
            return locks.release(conn, lease, now=self._tx.now())

    def lock_holder(self, site: str) -> LockRow | None:
        """Who holds the site (possibly with an expired lease nobody has taken over yet)."""
        with self._tx.read() as conn:
            return locks.holder(conn, site)

    # -- rotations ----------------------------------------------------------------------------------

    def start_rotation(
        self,
        lease: Lease,
        *,
        desired_json: str,
        desired_digest: str,
        git_revision: str,
        git_subject: str = "",
        procedure: Procedure,
        started_at: int,
        originals: Mapping[str, LocationOriginal] | None = None,
        original_certificates: Mapping[str, str] | None = None,
        adoption: AdoptionRow | None = None,
    ) -> RotationId:
        """Start a rotation of the lease's site; with originals given, record them in the same
        transaction (otherwise ``record_originals`` must precede the first step). With ``adoption``, the
        rotation is the one that request asked to take over, settled in the same transaction."""
        with self._tx.fenced(lease) as w:
            rotation_id = rotations.start(
                w,
                desired_json=desired_json,
                desired_digest=desired_digest,
                git_revision=git_revision,
                git_subject=clean(git_subject),
                procedure=procedure,
                started_at=started_at,
                originals=originals,
                original_certificates=original_certificates,
            )
            if adoption is not None:
                adoptions.adopted(w, adoption, rotation_id)
            return rotation_id

    def record_originals(
        self,
        lease: Lease,
        *,
        rotation_id: str,
        originals: Mapping[str, LocationOriginal],
        original_certificates: Mapping[str, str],
    ) -> None:
        """Write the originals once, before any step (``OriginalsAlreadyRecorded`` otherwise)."""
        self._tx.change(
            lease,
            rotation_id,
            rotations.record_originals,
            originals=originals,
            original_certificates=original_certificates,
        )

    def finish_rotation(self, lease: Lease, *, rotation_id: str, outcome: Outcome) -> None:
        """Close the rotation; repeating the same outcome is a no-op, a different one is refused."""
        with self._tx.fenced(lease) as w:
            rotations.finish(w, rotation_id=rotation_id, outcome=outcome)

    def active_rotation(self, site: str) -> RotationRow | None:
        with self._tx.read() as conn:
            return rotations.active(conn, site)

    def rotation(self, rotation_id: str) -> RotationRow:
        with self._tx.read_rotation(rotation_id) as (_, rotation):
            return rotation

    def rotations(self, site: str, *, limit: int = 20) -> list[RotationRow]:
        """The site's rotations, newest first."""
        with self._tx.read() as conn:
            return rotations.recent(conn, site, limit=limit)

    def progress(self, rotation_id: str) -> Progress:
        """The planner's view of the rotation, read in one snapshot."""
        with self._tx.read_rotation(rotation_id) as (conn, rotation):
            return progress.read(conn, rotation)

    # -- steps and gates ----------------------------------------------------------------------------

    def record_intent(self, lease: Lease, *, rotation_id: str, step_id: str, kind: str, target: str) -> None:
        """Before acting: the step is now in flight until ``record_done`` or ``record_failed``."""
        self._tx.change(lease, rotation_id, steps.intent, step_id=step_id, kind=kind, target=target)

    def record_done(
        self,
        lease: Lease,
        *,
        rotation_id: str,
        step_id: str,
        applied_at: int,
        message: str = "",
        kind: str = "",
        target: str = "",
    ) -> bool:
        """After observing the effect at SEPM time ``applied_at``; idempotent (False when already done).

        ``kind`` and ``target`` describe a step recorded done without an intent (already satisfied, or a
        gate); for a step with an intent they are ignored.
        """
        return self._tx.change(
            lease,
            rotation_id,
            steps.finish,
            step_id=step_id,
            outcome="ok",
            applied_at=applied_at,
            message=clean(message),
            kind=kind,
            target=target,
        )

    def record_failed(
        self, lease: Lease, *, rotation_id: str, step_id: str, message: str, kind: str = "", target: str = ""
    ) -> None:
        """Acting failed; ``message`` must already be redacted."""
        self._tx.change(
            lease,
            rotation_id,
            steps.finish,
            step_id=step_id,
            outcome="failed",
            applied_at=None,
            message=clean(message),
            kind=kind,
            target=target,
        )

    def record_gate(
        self,
        lease: Lease,
        *,
        rotation_id: str,
        gate_id: str,
        at: int,
        passed: int,
        in_scope: int,
        dormant: int,
    ) -> None:
        """One measurement of a gate at SEPM time ``at``."""
        self._tx.change(
            lease,
            rotation_id,
            steps.record_gate,
            gate_id=gate_id,
            at=at,
            passed=passed,
            in_scope=in_scope,
            dormant=dormant,
        )

    def steps(self, rotation_id: str) -> list[StepRow]:
        with self._tx.read_rotation(rotation_id) as (conn, _):
            return steps.all_of(conn, rotation_id)

    def in_flight(self, rotation_id: str) -> list[StepRow]:
        """Intent without outcome: what a restart must re-check by observation before anything else."""
        with self._tx.read_rotation(rotation_id) as (conn, _):
            return steps.in_flight(conn, rotation_id)

    def gate_measurements(
        self, rotation_id: str, *, gate_id: str | None = None, limit: int = 100
    ) -> list[GateRow]:
        """Measurements of one gate (or all), newest first."""
        with self._tx.read_rotation(rotation_id) as (conn, _):
            return steps.gates(conn, rotation_id, gate_id=gate_id, limit=limit)

    # -- requests from people -----------------------------------------------------------------------

    def _request(self, site: str, kind: RequestKind, subject: str, *, who: str, text: str) -> RotationId:
        requests.check(kind, subject=subject, text=text)
        who, text = clean(who), clean(text)
        with self._tx.write() as conn:
            return requests.add(
                conn, site=site, kind=kind, subject=subject, who=who, text=text, now=self._tx.now()
            )

    def request_ack(self, site: str, step_id: str, *, who: str, note: str = "") -> RotationId:
        """Acknowledge an operator step of the site's rotation in progress (``NoActiveRotation``)."""
        return self._request(site, "ack", step_id, who=who, text=note)

    def request_proceed(self, site: str, gate_id: str, *, reason: str, who: str) -> RotationId:
        """Break-glass: let a gate of the rotation in progress open without its evidence."""
        return self._request(site, "proceed", gate_id, who=who, text=reason)

    def request_abort(self, site: str, *, who: str, reason: str) -> RotationId:
        """Ask the controller to restore the secure original (never "stop where you are")."""
        return self._request(site, "abort", "", who=who, text=reason)

    def request_adopt(self, site: str, *, restore: bool, who: str, reason: str = "") -> int:
        """Ask the controller to take over a rotation SEPM shows under way but the journal does not hold
        (``RotationActive`` when the journal holds one); returns the request's id."""
        who, reason = clean(who), clean(reason)
        with self._tx.write() as conn:
            return adoptions.add(conn, site=site, restore=restore, who=who, reason=reason, now=self._tx.now())

    def pending_adoption(self, site: str) -> AdoptionRow | None:
        with self._tx.read() as conn:
            return adoptions.pending(conn, site)

    def settle_adoption(self, lease: Lease, adoption: AdoptionRow, *, outcome: str) -> None:
        """Settle a pending adoption without a rotation (there was nothing to adopt), under the lease."""
        with self._tx.fenced(lease) as w:
            adoptions.settle(w, adoption, outcome=clean(outcome))

    def set_suspended(self, site: str, suspended: bool, *, who: str, reason: str = "") -> bool:
        """Suspend (freeze) or resume a site; False when it already was in that state."""
        who, reason = clean(who), clean(reason)
        with self._tx.write() as conn:
            return requests.set_suspended(
                conn, site=site, suspended=suspended, who=who, reason=reason, now=self._tx.now()
            )

    def suspended(self, site: str) -> bool:
        with self._tx.read() as conn:
            return requests.is_suspended(conn, site)

    def site_state(self, site: str) -> SiteStateRow | None:
        """The last suspend or resume of the site, with who and why."""
        with self._tx.read() as conn:
            return requests.get_state(conn, site)

    def history(self, site: str, *, limit: int = 50) -> list[HistoryRow]:
        """The site's newest events, newest first."""
        with self._tx.read() as conn:
            return history.read(conn, site=site, limit=limit)
