"""The journal file: its tables, their versions, and how a connection to it is opened.

Contract:
- One SQLite file in WAL mode (readers never block the writer), ``synchronous=FULL`` (a committed
  step survives a power cut, not only a kill -9: the journal is what makes restarts safe, and it is
  written a few times a minute at most), foreign keys on, ``busy_timeout`` so that several processes
  (a controller, the CLI) wait for each other instead of failing.
- The schema version lives in the ``meta`` table. ``MIGRATIONS[i]`` takes a file from version ``i`` to
  ``i + 1``; they run in one write transaction, so a crash mid-migration leaves the old version intact.
  A file newer than this release is refused (``SchemaTooNew``) rather than written by code that does
  not know its rules. Migrations are append-only: a released one is never edited.
- Integrity that a bug elsewhere must not be able to break lives in the schema itself: STRICT tables,
  CHECK constraints on every enumeration, one rotation in progress per site (a partial unique index),
  originals and history that triggers make immutable.
- Needs SQLite 3.37 or later (STRICT tables).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from reconciler.journal.errors import JournalError, JournalUnreadable, SchemaTooNew

_IMMUTABLE = "BEGIN SELECT RAISE(ABORT, '{table} rows are written once and never changed'); END"

_V1: tuple[str, ...] = (
    """CREATE TABLE locks (
        site TEXT PRIMARY KEY,
        token INTEGER NOT NULL CHECK (token > 0),
        owner TEXT,
        acquired_wall REAL NOT NULL,
        expires_wall REAL NOT NULL
    ) STRICT""",
    """CREATE TABLE rotations (
        id TEXT PRIMARY KEY,
        site TEXT NOT NULL,
        desired_digest TEXT NOT NULL,
        git_revision TEXT NOT NULL,
        desired_json TEXT NOT NULL,
        procedure TEXT NOT NULL CHECK (procedure IN ('single-server', 'multi-server')),
        phase TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        created_wall REAL NOT NULL,
        finished_wall REAL,
        outcome TEXT CHECK (outcome IN ('completed', 'aborted')),
        originals_recorded_wall REAL,
        token INTEGER NOT NULL,
        CHECK ((outcome IS NULL) = (finished_wall IS NULL))
    ) STRICT""",
    "CREATE UNIQUE INDEX rotations_one_in_progress ON rotations (site) WHERE outcome IS NULL",
    "CREATE INDEX rotations_by_site ON rotations (site, created_wall)",
    """CREATE TABLE original_locations (
        rotation_id TEXT NOT NULL REFERENCES rotations (id),
        key TEXT NOT NULL,
        group_id TEXT NOT NULL,
        group_path TEXT NOT NULL,
        location_id TEXT NOT NULL,
        location_name TEXT NOT NULL,
        management_server_list TEXT NOT NULL,
        secure_communications INTEGER NOT NULL CHECK (secure_communications IN (0, 1)),
        PRIMARY KEY (rotation_id, key)
    ) STRICT""",
    """CREATE TABLE original_certificates (
        rotation_id TEXT NOT NULL REFERENCES rotations (id),
        server TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        PRIMARY KEY (rotation_id, server)
    ) STRICT""",
    """CREATE TABLE steps (
        rotation_id TEXT NOT NULL REFERENCES rotations (id),
        step_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        target TEXT NOT NULL,
        intent_wall REAL,
        done_wall REAL,
        applied_at INTEGER,
        outcome TEXT CHECK (outcome IN ('ok', 'failed')),
        message TEXT NOT NULL DEFAULT '',
        token INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
        PRIMARY KEY (rotation_id, step_id),
        CHECK (outcome IS NOT 'ok' OR applied_at IS NOT NULL),
        CHECK ((outcome IS NULL) = (done_wall IS NULL))
    ) STRICT""",
    """CREATE TABLE gate_measurements (
        id INTEGER PRIMARY KEY,
        rotation_id TEXT NOT NULL REFERENCES rotations (id),
        gate_id TEXT NOT NULL,
        at INTEGER NOT NULL,
        passed INTEGER NOT NULL CHECK (passed >= 0),
        in_scope INTEGER NOT NULL CHECK (in_scope >= 0),
        dormant INTEGER NOT NULL CHECK (dormant >= 0),
        recorded_wall REAL NOT NULL,
        token INTEGER NOT NULL
    ) STRICT""",
    "CREATE INDEX gate_measurements_by_gate ON gate_measurements (rotation_id, gate_id, id)",
    """CREATE TABLE requests (
        id INTEGER PRIMARY KEY,
        rotation_id TEXT NOT NULL REFERENCES rotations (id),
        kind TEXT NOT NULL CHECK (kind IN ('ack', 'proceed', 'abort')),
        subject TEXT NOT NULL,
        who TEXT NOT NULL,
        text TEXT NOT NULL,
        wall REAL NOT NULL
    ) STRICT""",
    "CREATE INDEX requests_by_rotation ON requests (rotation_id, id)",
    """CREATE TABLE site_state (
        site TEXT PRIMARY KEY,
        suspended INTEGER NOT NULL CHECK (suspended IN (0, 1)),
        who TEXT NOT NULL,
        reason TEXT NOT NULL,
        changed_wall REAL NOT NULL
    ) STRICT""",
    """CREATE TABLE history (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        site TEXT NOT NULL,
        rotation_id TEXT,
        event TEXT NOT NULL,
        step_id TEXT,
        who TEXT NOT NULL DEFAULT '',
        message TEXT NOT NULL DEFAULT '',
        wall REAL NOT NULL
    ) STRICT""",
    "CREATE INDEX history_by_site ON history (site, id)",
    *(
        f"CREATE TRIGGER {table}_{verb}_refused BEFORE {verb.upper()} ON {table} "
        + _IMMUTABLE.format(table=table)
        for table in ("history", "original_locations", "original_certificates", "requests")
        for verb in ("update", "delete")
    ),
)

# Version 2: rotations.phase is gone; it never held anything but "started". No index, constraint, trigger
# or view names the column, so SQLite (3.35 or later) drops it in place: the table stays STRICT and keeps
# its CHECKs and its indexes. "phase" events in the history of a version-1 file stay (history is immutable).
_V2: tuple[str, ...] = ("ALTER TABLE rotations DROP COLUMN phase",)

# Version 3: requests to adopt a rotation that SEPM shows under way but the journal lost. Each is settled
# once, by the controller, in the transaction that starts the adopted rotation (or finds nothing to adopt).
# And the subject of the Git commit a rotation was started from, beside its id.
_V3: tuple[str, ...] = (
    "ALTER TABLE rotations ADD COLUMN git_subject TEXT NOT NULL DEFAULT ''",
    """CREATE TABLE adoptions (
        id INTEGER PRIMARY KEY,
        site TEXT NOT NULL,
        restore INTEGER NOT NULL CHECK (restore IN (0, 1)),
        who TEXT NOT NULL,
        reason TEXT NOT NULL,
        wall REAL NOT NULL,
        settled_wall REAL,
        rotation_id TEXT REFERENCES rotations (id),
        outcome TEXT NOT NULL DEFAULT '',
        CHECK (rotation_id IS NULL OR settled_wall IS NOT NULL)
    ) STRICT""",
    "CREATE INDEX adoptions_pending ON adoptions (site, id) WHERE settled_wall IS NULL",
)

MIGRATIONS: tuple[tuple[str, ...], ...] = (_V1, _V2, _V3)
"""``MIGRATIONS[i]`` upgrades a file from schema version ``i`` to ``i + 1``."""

SCHEMA_VERSION = len(MIGRATIONS)

_MIN_SQLITE = (3, 37, 0)


@contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One short write transaction, taken with the write lock up front.

    ``BEGIN IMMEDIATE`` waits (busy_timeout) for the writer lock before reading anything, so the check
    a mutating call makes (fencing token, step state) and the write it then does are one atomic unit:
    no other process can slip a write in between.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        # SQLite rolls back by itself after some errors (disk full, I/O); a second ROLLBACK would
        # then raise and hide the error that matters.
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@contextmanager
def read_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A consistent snapshot across several SELECTs (WAL: it never blocks, nor is blocked by, a writer)."""
    conn.execute("BEGIN")
    try:
        yield conn
    finally:
        if conn.in_transaction:
            conn.execute("COMMIT")


def _ensure_file(path: Path) -> None:
    # Created owner-only before SQLite sees it: the file holds the sites' desired state and history.
    # SQLite gives the -wal and -shm files the same permissions.
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def _enable_wal(conn: sqlite3.Connection, *, deadline: float) -> None:
    # Switching a fresh file to WAL needs an exclusive lock and SQLite may answer "locked" without
    # consulting the busy handler while another process is doing the same: retry until the deadline.
    while True:
        try:
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            if mode != "wal":
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)
            continue
        if mode != "wal":
            raise JournalError(f"the journal could not switch to WAL mode (got {mode!r}); is it on NFS?")
        return


def _version(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return 0 if row is None else int(row[0])


def migrate(conn: sqlite3.Connection, *, path: Path) -> int:
    """Bring the file to ``SCHEMA_VERSION`` (or refuse a newer one) and return the version found."""
    with write_transaction(conn):
        conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT")
        found = _version(conn)
        if found > SCHEMA_VERSION:
            raise SchemaTooNew(path=str(path), found=found, supported=SCHEMA_VERSION)
        for version in range(found, SCHEMA_VERSION):
            for statement in MIGRATIONS[version]:
                conn.execute(statement)
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (str(SCHEMA_VERSION),),
        )
    return found


def connect(path: Path, *, busy_timeout_seconds: float) -> sqlite3.Connection:
    """Open (creating if needed) and migrate the journal at ``path``; the connection is in autocommit
    mode and every transaction is explicit (``write_transaction`` / ``read_transaction``)."""
    if sqlite3.sqlite_version_info < _MIN_SQLITE:
        raise JournalError(
            f"the journal needs SQLite {'.'.join(map(str, _MIN_SQLITE))} or later, "
            f"this Python has {sqlite3.sqlite_version}"
        )
    try:
        _ensure_file(path)
        conn = sqlite3.connect(
            path, timeout=busy_timeout_seconds, isolation_level=None, check_same_thread=False
        )
    except (OSError, sqlite3.Error) as error:
        raise JournalUnreadable(path=str(path), why=_why(error)) from error
    try:
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_seconds * 1000)}")
        _enable_wal(conn, deadline=time.monotonic() + busy_timeout_seconds)
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        damage = conn.execute("PRAGMA quick_check").fetchone()[0]
        if damage != "ok":
            raise JournalUnreadable(path=str(path), why=f"it is damaged ({damage})")
        migrate(conn, path=path)
    except (OSError, sqlite3.Error) as error:
        conn.close()
        raise JournalUnreadable(path=str(path), why=_why(error)) from error
    except BaseException:
        conn.close()
        raise
    return conn


def probe(path: Path) -> None:
    """Check, read-only and without creating anything, that the journal at ``path`` can be used
    (``JournalUnreadable`` otherwise): for ``status`` and other readers beside a running controller."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
    except sqlite3.Error as error:
        raise JournalUnreadable(path=str(path), why=_why(error)) from error
    try:
        damage = conn.execute("PRAGMA quick_check").fetchone()[0]
        if damage != "ok":
            raise JournalUnreadable(path=str(path), why=f"it is damaged ({damage})")
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone() is None:
            raise JournalUnreadable(path=str(path), why="it holds no journal (empty, or never initialised)")
        _version(conn)
    except sqlite3.Error as error:
        raise JournalUnreadable(path=str(path), why=_why(error)) from error
    finally:
        conn.close()


def _why(error: BaseException) -> str:
    """SQLite's or the OS's reason, in a few words (never a traceback)."""
    if isinstance(error, OSError):
        return error.strerror or type(error).__name__
    return str(error) or type(error).__name__
