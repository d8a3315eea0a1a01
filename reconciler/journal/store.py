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
- ``progress`` rebuilds exactly what the planner needs; ``in_flight`` is what a restart must re-check.
- Free text is stored as given, so callers pass already-redacted messages (never a password, token or
  key). As a last line of defence PEM private-key blocks are cut out and each text is capped at
  ``MAX_TEXT`` characters; a desired state that embeds a private key is refused.
- ``clock`` is the wall clock (epoch seconds) for lease expiry and ``*_wall`` fields; tests inject one.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from reconciler.journal import history, locks, requests, rotations, steps
from reconciler.journal.errors import RotationFinished, UnknownRotation
from reconciler.journal.hygiene import scrub
from reconciler.journal.records import (
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
from reconciler.journal.schema import connect, read_transaction, write_transaction
from reconciler.model.progress import LocationOriginal, Procedure, Progress, StepRecord

MAX_TEXT = 4000
"""Longest free text kept (messages, notes, reasons); a command's whole output does not belong here."""


def _text(value: str) -> str:
    cleaned = scrub(value)
    return cleaned if len(cleaned) <= MAX_TEXT else cleaned[: MAX_TEXT - 1] + "…"


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
        self._clock = clock
        self._mutex = threading.Lock()
        self._conn = connect(self.path, busy_timeout_seconds=busy_timeout_seconds)

    def __repr__(self) -> str:
        return f"Journal({str(self.path)!r})"

    def close(self) -> None:
        with self._mutex:
            self._conn.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- transactions -------------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._mutex, write_transaction(self._conn) as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._mutex, read_transaction(self._conn) as conn:
            yield conn

    @contextmanager
    def _fenced(self, lease: Lease, rotation_id: str) -> Iterator[tuple[sqlite3.Connection, RotationRow]]:
        """A write transaction in which ``lease`` holds its site and ``rotation_id`` is in progress there."""
        with self._write() as conn:
            locks.fence(conn, lease)
            yield conn, rotations.for_write(conn, lease, rotation_id)

    # -- locks --------------------------------------------------------------------------------------

    def acquire_lock(self, site: str, *, owner: str, ttl_seconds: float) -> Lease:
        """Take the site (``SiteLocked`` while another lease is live); see ``locks`` for the contract."""
        with self._write() as conn:
            return locks.acquire(conn, site=site, owner=owner, ttl_seconds=ttl_seconds, now=self._clock())

    def renew(self, lease: Lease) -> Lease:
        """Extend the lease by its TTL from now and return it renewed; ``LockLost`` if it was lost."""
        with self._write() as conn:
            return locks.renew(conn, lease, now=self._clock())

    def release(self, lease: Lease) -> bool:
        """Give the site up on a clean exit; False when the lease had already been lost."""
        with self._write() as conn:
            return locks.release(conn, lease, now=self._clock())

    def lock_holder(self, site: str) -> LockRow | None:
        """Who holds the site (possibly with an expired lease nobody has taken over yet)."""
        with self._read() as conn:
            return locks.holder(conn, site)

    # -- rotations ----------------------------------------------------------------------------------

    def start_rotation(
        self,
        lease: Lease,
        *,
        desired_json: str,
        desired_digest: str,
        git_revision: str,
        procedure: Procedure,
        started_at: int,
        originals: Mapping[str, LocationOriginal] | None = None,
        original_certificates: Mapping[str, str] | None = None,
    ) -> RotationId:
        """Start a rotation of the lease's site; with originals given, record them in the same
        transaction (otherwise ``record_originals`` must precede the first step)."""
        with self._write() as conn:
            locks.fence(conn, lease)
            now = self._clock()
            rotation_id = rotations.start(
                conn,
                lease=lease,
                desired_json=desired_json,
                desired_digest=desired_digest,
                git_revision=git_revision,
                procedure=procedure,
                started_at=started_at,
                now=now,
            )
            if originals is not None or original_certificates is not None:
                rotation = rotations.for_write(conn, lease, rotation_id)
                rotations.record_originals(
                    conn,
                    rotation=rotation,
                    originals=originals or {},
                    original_certificates=original_certificates or {},
                    who=lease.owner,
                    now=now,
                )
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
        with self._fenced(lease, rotation_id) as (conn, rotation):
            rotations.record_originals(
                conn,
                rotation=rotation,
                originals=originals,
                original_certificates=original_certificates,
                who=lease.owner,
                now=self._clock(),
            )

    def finish_rotation(self, lease: Lease, *, rotation_id: str, outcome: Outcome) -> None:
        """Close the rotation; repeating the same outcome is a no-op, a different one is refused."""
        with self._write() as conn:
            locks.fence(conn, lease)
            rotation = rotations.get(conn, rotation_id)
            if rotation is not None and rotation["outcome"] is not None:
                if rotation["site"] == lease.site and rotation["outcome"] == outcome:
                    return
                raise RotationFinished(rotation_id=rotation_id, outcome=rotation["outcome"])
            rotation = rotations.for_write(conn, lease, rotation_id)
            rotations.finish(conn, rotation=rotation, outcome=outcome, who=lease.owner, now=self._clock())

    def active_rotation(self, site: str) -> RotationRow | None:
        with self._read() as conn:
            return rotations.active(conn, site)

    def rotation(self, rotation_id: str) -> RotationRow:
        with self._read() as conn:
            return self._existing(conn, rotation_id)

    def rotations(self, site: str, *, limit: int = 20) -> list[RotationRow]:
        """The site's rotations, newest first."""
        with self._read() as conn:
            return rotations.recent(conn, site, limit=limit)

    @staticmethod
    def _existing(conn: sqlite3.Connection, rotation_id: str) -> RotationRow:
        rotation = rotations.get(conn, rotation_id)
        if rotation is None:
            raise UnknownRotation(rotation_id)
        return rotation

    # -- steps and gates ----------------------------------------------------------------------------

    def record_intent(self, lease: Lease, *, rotation_id: str, step_id: str, kind: str, target: str) -> None:
        """Before acting: the step is now in flight until ``record_done`` or ``record_failed``."""
        with self._fenced(lease, rotation_id) as (conn, rotation):
            steps.intent(
                conn,
                lease=lease,
                rotation=rotation,
                step_id=step_id,
                kind=kind,
                target=target,
                now=self._clock(),
            )

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
        with self._fenced(lease, rotation_id) as (conn, rotation):
            return steps.done(
                conn,
                lease=lease,
                rotation=rotation,
                step_id=step_id,
                applied_at=applied_at,
                message=_text(message),
                kind=kind,
                target=target,
                now=self._clock(),
            )

    def record_failed(
        self, lease: Lease, *, rotation_id: str, step_id: str, message: str, kind: str = "", target: str = ""
    ) -> None:
        """Acting failed; ``message`` must already be redacted."""
        with self._fenced(lease, rotation_id) as (conn, rotation):
            steps.failed(
                conn,
                lease=lease,
                rotation=rotation,
                step_id=step_id,
                message=_text(message),
                kind=kind,
                target=target,
                now=self._clock(),
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
        with self._fenced(lease, rotation_id) as (conn, rotation):
            steps.record_gate(
                conn,
                lease=lease,
                rotation=rotation,
                gate_id=gate_id,
                at=at,
                passed=passed,
                in_scope=in_scope,
                dormant=dormant,
                now=self._clock(),
            )

    def steps(self, rotation_id: str) -> list[StepRow]:
        with self._read() as conn:
            self._existing(conn, rotation_id)
            return steps.all_of(conn, rotation_id)

    def in_flight(self, rotation_id: str) -> list[StepRow]:
        """Intent without outcome: what a restart must re-check by observation before anything else."""
        with self._read() as conn:
            self._existing(conn, rotation_id)
            return steps.in_flight(conn, rotation_id)

    def gate_measurements(
        self, rotation_id: str, *, gate_id: str | None = None, limit: int = 100
    ) -> list[GateRow]:
        """Measurements of one gate (or all), newest first."""
        with self._read() as conn:
            self._existing(conn, rotation_id)
            return steps.gates(conn, rotation_id, gate_id=gate_id, limit=limit)

    def progress(self, rotation_id: str) -> Progress:
        """The planner's view of the rotation, read in one snapshot."""
        with self._read() as conn:
            rotation = self._existing(conn, rotation_id)
            originals, certificates = rotations.originals(conn, rotation_id)
            acknowledged, proceeded, aborted = requests.for_rotation(conn, rotation_id)
            rows = steps.all_of(conn, rotation_id)
            done = {
                row["step_id"]: StepRecord(applied_at=row["applied_at"], message=row["message"])
                for row in rows
                if row["outcome"] == "ok" and row["applied_at"] is not None
            }
            attempted = tuple(
                sorted(
                    row["step_id"]
                    for row in rows
                    if row["intent_wall"] is not None and row["step_id"] not in done
                )
            )
        return Progress(
            rotation_id=rotation["id"],
            desired_digest=rotation["desired_digest"],
            procedure=rotation["procedure"],
            started_at=rotation["started_at"],
            originals=originals,
            original_certificates=certificates,
            done=done,
            acknowledged=acknowledged,
            proceeded=proceeded,
            aborted=aborted or rotation["outcome"] == "aborted",
            attempted=attempted,
        )

    # -- requests from people -----------------------------------------------------------------------

    def request_ack(self, site: str, step_id: str, *, who: str, note: str = "") -> RotationId:
        """Acknowledge an operator step of the site's rotation in progress (``NoActiveRotation``)."""
        if not step_id:
            raise ValueError("an acknowledgement names the step it acknowledges")
        with self._write() as conn:
            return requests.add(
                conn,
                site=site,
                kind="ack",
                subject=step_id,
                who=_text(who),
                text=_text(note),
                now=self._clock(),
            )

    def request_proceed(self, site: str, gate_id: str, *, reason: str, who: str) -> RotationId:
        """Break-glass: let a gate of the rotation in progress open without its evidence."""
        if not gate_id:
            raise ValueError("proceed names the gate it opens")
        if not reason.strip():
            raise ValueError("proceeding past a gate without its evidence needs a reason")
        with self._write() as conn:
            return requests.add(
                conn,
                site=site,
                kind="proceed",
                subject=gate_id,
                who=_text(who),
                text=_text(reason),
                now=self._clock(),
            )

    def request_abort(self, site: str, *, who: str, reason: str) -> RotationId:
        """Ask the controller to restore the secure original (never "stop where you are")."""
        with self._write() as conn:
            return requests.add(
                conn,
                site=site,
                kind="abort",
                subject="",
                who=_text(who),
                text=_text(reason),
                now=self._clock(),
            )

    def set_suspended(self, site: str, suspended: bool, *, who: str, reason: str = "") -> bool:
        """Suspend (freeze) or resume a site; False when it already was in that state."""
        with self._write() as conn:
            return requests.set_suspended(
                conn, site=site, suspended=suspended, who=_text(who), reason=_text(reason), now=self._clock()
            )

    def suspended(self, site: str) -> bool:
        with self._read() as conn:
            return requests.is_suspended(conn, site)

    def site_state(self, site: str) -> SiteStateRow | None:
        """The last suspend or resume of the site, with who and why."""
        with self._read() as conn:
            return requests.get_state(conn, site)

    def history(self, site: str, *, limit: int = 50) -> list[HistoryRow]:
        """The site's newest events, newest first."""
        with self._read() as conn:
            return history.read(conn, site=site, limit=limit)
