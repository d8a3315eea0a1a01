"""The journal file: WAL, versioned schema, migrations, permissions, immutable tables, default path."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest
from journal_helpers import SITE, FakeClock

from reconciler.journal import (
    SCHEMA_VERSION,
    STATE_DIR_VARIABLE,
    Journal,
    JournalUnreadable,
    Lease,
    RotationId,
    SchemaTooNew,
    default_journal_path,
    schema,
)
from reconciler.journal.schema import MIGRATIONS


def test_journal_file_is_in_wal_mode(journal: Journal, journal_path: Path) -> None:
    """A new journal file is switched to WAL, which persists for every later connection."""
    with sqlite3.connect(journal_path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_schema_version_is_recorded(journal: Journal, journal_path: Path) -> None:
    """The meta table holds the schema version this release writes."""
    with sqlite3.connect(journal_path) as raw:
        value = raw.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
    assert int(value) == SCHEMA_VERSION == len(MIGRATIONS)


def test_reopening_keeps_data_and_version(journal_path: Path, clock: FakeClock) -> None:
    """Opening an existing journal migrates nothing and loses nothing."""
    with Journal(journal_path, clock=clock) as first:
        first.set_suspended(SITE, True, who="ops", reason="change freeze")
    with Journal(journal_path, clock=clock) as second:
        assert second.suspended(SITE)
    with sqlite3.connect(journal_path) as raw:
        assert raw.execute("SELECT count(*) FROM meta").fetchone()[0] == 1


def test_newer_schema_is_refused(journal_path: Path, clock: FakeClock) -> None:
    """A file written by a newer release is refused instead of written by code that does not know it."""
    Journal(journal_path, clock=clock).close()
    with sqlite3.connect(journal_path) as raw:
        raw.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(SchemaTooNew) as caught:
        Journal(journal_path, clock=clock)
    assert caught.value.found == SCHEMA_VERSION + 1
    assert str(journal_path) in str(caught.value)


def test_file_is_private_to_its_owner(journal: Journal, journal_path: Path) -> None:
    """The journal file is created readable and writable by its owner only."""
    assert stat.S_IMODE(journal_path.stat().st_mode) == 0o600


@pytest.mark.parametrize("table", ["history", "original_locations", "original_certificates", "requests"])
@pytest.mark.parametrize("statement", ["UPDATE {table} SET rowid = rowid", "DELETE FROM {table}"])
def test_append_only_tables_refuse_changes(
    journal: Journal, lease: Lease, rotation: RotationId, journal_path: Path, table: str, statement: str
) -> None:
    """History, originals and requests cannot be rewritten, even by SQL that bypasses the API."""
    journal.request_ack(SITE, "copy_msl:x", who="ops")
    with sqlite3.connect(journal_path) as raw:
        assert raw.execute(f"SELECT count(*) FROM {table}").fetchone()[0] > 0
        with pytest.raises(sqlite3.IntegrityError, match="written once"):
            raw.execute(statement.format(table=table))


def test_one_rotation_in_progress_per_site_is_a_schema_rule(
    journal: Journal, rotation: RotationId, journal_path: Path
) -> None:
    """Even raw SQL cannot give a site a second rotation in progress."""
    with sqlite3.connect(journal_path) as raw, pytest.raises(sqlite3.IntegrityError):
        raw.execute(
            "INSERT INTO rotations (id, site, desired_digest, git_revision, desired_json, procedure, "
            "started_at, created_wall, token) SELECT 'other', site, desired_digest, git_revision, "
            "desired_json, procedure, started_at, created_wall, token FROM rotations"
        )


@pytest.mark.parametrize(
    ("environ", "is_root", "expected"),
    [
        pytest.param({STATE_DIR_VARIABLE: "/data/state"}, True, "/data/state/journal.db", id="variable-wins"),
        pytest.param({}, True, "/var/lib/sepm-reconciler/journal.db", id="root"),
        pytest.param(
            {"XDG_STATE_HOME": "/home/u/.xdg"}, False, "/home/u/.xdg/sepm-reconciler/journal.db", id="xdg"
        ),
        pytest.param(
            {"XDG_STATE_HOME": "relative"},
            False,
            "/home/u/.local/state/sepm-reconciler/journal.db",
            id="relative-xdg-ignored",
        ),
        pytest.param({}, False, "/home/u/.local/state/sepm-reconciler/journal.db", id="user"),
        pytest.param(
            {STATE_DIR_VARIABLE: "  "}, False, "/home/u/.local/state/sepm-reconciler/journal.db", id="blank"
        ),
    ],
)
def test_default_journal_path(environ: dict[str, str], is_root: bool, expected: str) -> None:
    """The journal's default location follows the documented order."""
    assert default_journal_path(environ, is_root=is_root, home=Path("/home/u")) == Path(expected)


def test_new_migrations_apply_in_order_to_an_existing_file(
    journal_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file at this release's version gets only the migrations after it; the recorded version follows."""
    with Journal(journal_path, clock=clock) as old:
        old.set_suspended(SITE, True, who="ops", reason="kept across the upgrade")
    v2 = ("CREATE TABLE added_in_v2 (x INTEGER) STRICT",)
    v3 = ("INSERT INTO added_in_v2 (x) VALUES (3)",)
    monkeypatch.setattr(schema, "MIGRATIONS", (*MIGRATIONS, v2, v3))
    monkeypatch.setattr(schema, "SCHEMA_VERSION", len(MIGRATIONS) + 2)
    with Journal(journal_path, clock=clock) as new:
        assert new.suspended(SITE)
    with sqlite3.connect(journal_path) as raw:
        assert raw.execute("SELECT value FROM meta").fetchone()[0] == str(len(MIGRATIONS) + 2)
        assert raw.execute("SELECT x FROM added_in_v2").fetchall() == [(3,)]


def test_failed_migration_leaves_the_old_version_whole(
    journal_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A migration that fails half-way is rolled back entirely: old version, no half-made tables."""
    Journal(journal_path, clock=clock).close()
    broken = ("CREATE TABLE half_done (x INTEGER) STRICT", "INSERT INTO no_such_table VALUES (1)")
    monkeypatch.setattr(schema, "MIGRATIONS", (*MIGRATIONS, broken))
    monkeypatch.setattr(schema, "SCHEMA_VERSION", len(MIGRATIONS) + 1)
    with pytest.raises(JournalUnreadable, match="no_such_table") as caught:
        Journal(journal_path, clock=clock)
    assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
    with sqlite3.connect(journal_path) as raw:
        assert raw.execute("SELECT value FROM meta").fetchone()[0] == str(len(MIGRATIONS))
        names = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "half_done" not in names
