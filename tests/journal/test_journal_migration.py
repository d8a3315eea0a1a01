"""A journal written by release 1 (schema version 1, with ``rotations.phase``) opened by this release.

The version-1 file is made here as release 1 made it, by running its statements (``_V1``) by hand, and
filled with a rotation caught mid-way: originals, steps in every state, gate measurements, requests
from people, history, a lock and a suspension. Opening it must keep every row, drop the column, keep
the schema's rules, and leave version 1 whole when the process dies mid-migration.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
from journal_helpers import CERT_A, SITE, FakeClock, original, originals_of, start

from reconciler.journal import (
    SCHEMA_VERSION,
    GateRow,
    HistoryRow,
    Journal,
    LockRow,
    RotationId,
    RotationRow,
    SiteStateRow,
    StepOutcome,
    StepRow,
)
from reconciler.journal.schema import _V1
from reconciler.model.fingerprint import normalize_fingerprint
from reconciler.model.progress import Progress, StepRecord

WORKER = Path(__file__).with_name("journal_worker.py")
IMMUTABLE = ("history", "original_locations", "original_certificates", "requests")
V1_ROTATION_COLUMNS = [
    "id",
    "site",
    "desired_digest",
    "git_revision",
    "desired_json",
    "procedure",
    "phase",
    "started_at",
    "created_wall",
    "finished_wall",
    "outcome",
    "originals_recorded_wall",
    "token",
]

T0 = 1_699_984_800.0
"""When the rotation in progress started (wall clock); the times below are seconds after it."""

ACTIVE = RotationRow(
    id=RotationId("r-20231114T180000Z-0000bbbb"),
    site=SITE,
    desired_digest="sha256:new",
    git_revision="cafe01",
    git_subject="",
    desired_json='{"site": "hq", "rev": 2}',
    procedure="multi-server",
    started_at=int(T0 * 1000),
    created_wall=T0,
    finished_wall=None,
    outcome=None,
    originals_recorded=True,
    token=3,
)
FINISHED: RotationRow = {
    **ACTIVE,
    "id": RotationId("r-20231101T090000Z-0000aaaa"),
    "desired_digest": "sha256:old",
    "procedure": "single-server",
    "created_wall": T0 - 86_400,
    "finished_wall": T0 - 3_600,
    "outcome": "completed",
    "originals_recorded": False,
    "token": 1,
}
R = ACTIVE["id"]
ORIGINALS = originals_of(original("g1", "l1"), original("g2", "l2", msl="Branch MSL", secure=False))
CERTIFICATES = {"sepm01": normalize_fingerprint(CERT_A)}


def _step(
    step_id: str, *, intent: float | None, done: float | None, outcome: StepOutcome | None, message: str = ""
) -> StepRow:
    """A step of the rotation in progress, by the seconds after T0 of its intent and its outcome."""
    kind, _, target = step_id.partition(":")
    return StepRow(
        rotation_id=R,
        step_id=step_id,
        kind=kind,
        target=target,
        intent_wall=None if intent is None else T0 + intent,
        done_wall=None if done is None else T0 + done,
        applied_at=int((T0 + done) * 1000) if done is not None and outcome == "ok" else None,
        outcome=outcome,
        message=message,
        token=3,
        attempts=0 if intent is None else 1,
    )


STEPS = [
    _step("assign_msl:g1/l1", intent=10, done=12, outcome="ok", message="MSL copy"),
    _step("gate:prepared", intent=None, done=3_600, outcome="ok"),
    {**_step("update_certificate:sepm01", intent=3_610, done=3_620, outcome="failed"), "attempts": 2},
    _step("update_certificate:sepm02", intent=3_630, done=None, outcome=None),
]
GATES = [
    GateRow(
        rotation_id=R,
        gate_id="gate:prepared",
        at=int((T0 + after) * 1000),
        passed=passed,
        in_scope=5,
        dormant=1,
        recorded_wall=T0 + after,
        token=3,
    )
    for after, passed in [(1_200, 2), (3_600, 5)]
]
REQUESTS = [
    {
        "kind": "ack",
        "subject": "copy_msl:Default",
        "who": "alice",
        "text": "copied in console",
        "wall": T0 + 5,
    },
    {
        "kind": "proceed",
        "subject": "gate:prepared",
        "who": "carol",
        "text": "12 laptops are scrapped",
        "wall": T0 + 3_590,
    },
    {"kind": "abort", "subject": "", "who": "dave", "text": "wrong certificate", "wall": T0 + 3_640},
]
# (seconds after T0, rotation, event, step, who, message) of each history event, oldest first
EVENTS = [
    (-10, None, "lock_acquired", None, "controller-1", "token 3"),
    (0, R, "rotation_started", None, "controller-1", "multi-server rotation"),
    (0, R, "originals_recorded", None, "controller-1", "2 locations, 1 server certificates"),
    (5, R, "ack", "copy_msl:Default", "alice", "copied in console"),
    (10, R, "intent", "assign_msl:g1/l1", "controller-1", "assign_msl g1/l1"),
    (12, R, "done", "assign_msl:g1/l1", "controller-1", "MSL copy"),
    (3_620, R, "failed", "update_certificate:sepm01", "controller-1", "command exited 3"),
    (3_640, R, "abort", None, "dave", "wrong certificate"),
    (3_650, None, "suspend", None, "ops", "change freeze"),
]
HISTORY = [
    HistoryRow(id=n, site=SITE, rotation_id=rot, event=ev, step_id=step, who=who, message=msg, wall=T0 + at)
    for n, (at, rot, ev, step, who, msg) in enumerate(EVENTS, start=1)
]
LOCK = LockRow(site=SITE, owner="controller-1", token=3, acquired_wall=T0 - 10, expires_wall=T0 + 3_660)
STATE = SiteStateRow(site=SITE, suspended=True, who="ops", reason="change freeze", changed_wall=T0 + 3_650)


def _insert(raw: sqlite3.Connection, table: str, row: dict[str, object]) -> None:
    columns = ", ".join(row)
    raw.execute(f"INSERT INTO {table} ({columns}) VALUES ({', '.join('?' * len(row))})", tuple(row.values()))


def _write_version_1(path: Path) -> None:
    """The file release 1 would have left: its schema, version 1 in ``meta``, and the rows above."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path, isolation_level=None)) as raw:
        raw.execute("PRAGMA journal_mode = WAL")
        raw.execute("PRAGMA foreign_keys = ON")
        raw.execute("BEGIN")
        raw.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT")
        for statement in _V1:
            raw.execute(statement)
        raw.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '1')")
        _insert(raw, "locks", dict(LOCK))
        for rotation, recorded in [(FINISHED, None), (ACTIVE, T0)]:
            # Version 1 had no git_subject (version 3 adds it, "" for older rotations).
            columns = {k: v for k, v in rotation.items() if k not in ("originals_recorded", "git_subject")}
            _insert(raw, "rotations", {**columns, "phase": "started", "originals_recorded_wall": recorded})
        for key, location in ORIGINALS.items():  # booleans are stored as 0 and 1 (Python's sqlite3 does it)
            _insert(raw, "original_locations", {"rotation_id": R, "key": key, **location.model_dump()})
        for server, sha256 in CERTIFICATES.items():
            _insert(raw, "original_certificates", {"rotation_id": R, "server": server, "sha256": sha256})
        for step in STEPS:
            _insert(raw, "steps", dict(step))
        for gate in GATES:
            _insert(raw, "gate_measurements", dict(gate))
        for request in REQUESTS:
            _insert(raw, "requests", {"rotation_id": R, **request})
        for event in HISTORY:
            _insert(raw, "history", dict(event))
        _insert(raw, "site_state", dict(STATE))
        raw.execute("COMMIT")


def _version_and_columns(path: Path) -> tuple[int, list[str]]:
    with closing(sqlite3.connect(path)) as raw:
        version = raw.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
        return int(version), [row[1] for row in raw.execute("PRAGMA table_info(rotations)")]


def _dump(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, as stored."""
    with closing(sqlite3.connect(path)) as raw:
        tables = [row[0] for row in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {table: raw.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall() for table in tables}


@pytest.fixture
def v1_path(journal_path: Path) -> Path:
    _write_version_1(journal_path)
    assert _version_and_columns(journal_path) == (1, V1_ROTATION_COLUMNS)
    return journal_path


def test_version_1_file_is_migrated_with_every_row(v1_path: Path, clock: FakeClock) -> None:
    """Opening a version-1 journal drops rotations.phase and every row reads back as it was written."""
    with Journal(v1_path, clock=clock) as journal:
        assert journal.rotations(SITE) == [ACTIVE, FINISHED]
        assert journal.rotation(R) == journal.active_rotation(SITE) == ACTIVE
        assert journal.steps(R) == STEPS
        assert journal.in_flight(R) == STEPS[-1:]
        assert journal.gate_measurements(R) == GATES[::-1]
        assert journal.progress(R) == Progress(
            rotation_id=R,
            desired_digest="sha256:new",
            procedure="multi-server",
            started_at=ACTIVE["started_at"],
            originals=ORIGINALS,
            original_certificates=CERTIFICATES,
            done={
                "assign_msl:g1/l1": StepRecord(applied_at=STEPS[0]["applied_at"], message="MSL copy"),
                "gate:prepared": StepRecord(applied_at=STEPS[1]["applied_at"], message=""),
            },
            acknowledged={"copy_msl:Default": "alice: copied in console"},
            proceeded={"gate:prepared": "12 laptops are scrapped (carol)"},
            aborted=True,
            attempted=("update_certificate:sepm01", "update_certificate:sepm02"),
        )
        assert journal.history(SITE, limit=100) == HISTORY[::-1]
        assert journal.lock_holder(SITE) == LOCK
        assert journal.site_state(SITE) == STATE
    version, columns = _version_and_columns(v1_path)
    assert version == SCHEMA_VERSION
    assert columns == [*(c for c in V1_ROTATION_COLUMNS if c != "phase"), "git_subject"]


def test_migrated_file_keeps_the_schema_rules(v1_path: Path, clock: FakeClock) -> None:
    """Once migrated, history, originals and requests stay immutable; a site has one rotation in progress."""
    Journal(v1_path, clock=clock).close()
    with closing(sqlite3.connect(v1_path)) as raw:
        for table in IMMUTABLE:
            assert raw.execute(f"SELECT count(*) FROM {table}").fetchone()[0] > 0
            for statement in (f"UPDATE {table} SET rowid = rowid", f"DELETE FROM {table}"):
                with pytest.raises(sqlite3.IntegrityError, match="written once"):
                    raw.execute(statement)
        with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
            raw.execute(
                "UPDATE rotations SET outcome = NULL, finished_wall = NULL WHERE id = ?", (FINISHED["id"],)
            )
        assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert raw.execute("PRAGMA foreign_key_check").fetchall() == []


def test_migrated_rotation_carries_on(v1_path: Path, clock: FakeClock) -> None:
    """A successor takes the expired lease, re-checks the step in flight, finishes, and starts anew."""
    with Journal(v1_path, clock=clock) as journal:
        lease = journal.acquire_lock(SITE, owner="controller-2", ttl_seconds=30)
        assert lease.token == LOCK["token"] + 1
        assert journal.record_done(lease, rotation_id=R, step_id="update_certificate:sepm02", applied_at=1)
        journal.finish_rotation(lease, rotation_id=R, outcome="aborted")
        nxt = start(journal, lease)
        assert [r["id"] for r in journal.rotations(SITE)] == [nxt, R, FINISHED["id"]]
        assert journal.history(SITE, limit=100)[-len(HISTORY) :] == HISTORY[::-1]


def test_crash_mid_migration_leaves_version_1(v1_path: Path, clock: FakeClock) -> None:
    """A process killed after the migration's statements, before its commit, leaves version 1 whole."""
    before = _dump(v1_path)
    died = subprocess.run(
        [sys.executable, str(WORKER), "die-migrating", str(v1_path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert died.returncode == -signal.SIGKILL, died.stderr
    assert _version_and_columns(v1_path) == (1, V1_ROTATION_COLUMNS)
    assert _dump(v1_path) == before
    with Journal(v1_path, clock=clock) as journal:
        assert journal.steps(R) == STEPS
    assert _version_and_columns(v1_path)[0] == SCHEMA_VERSION
