"""`run` and `status` on a journal that cannot be used: one clear line on stderr and a non-zero exit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def garbage_journal(tmp_path: Path) -> Path:
    journal = tmp_path / "state" / "journal.db"
    journal.parent.mkdir()
    journal.write_bytes(b"not a journal at all\n" * 500)
    return journal


def test_run_on_an_unreadable_journal_exits_1_with_one_line(tmp_path: Path, garbage_journal: Path):
    """`run` refuses to start: exit 1, the reason in one line naming the file, no traceback."""
    folder = tmp_path / "desired-state"
    folder.mkdir()

    done = _cli("run", str(folder), "--journal", str(garbage_journal), "--metrics-port", "-1")

    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert str(garbage_journal) in lines[0]
    assert "Traceback" not in done.stderr


def test_status_says_the_journal_is_unreadable_and_exits_non_zero(garbage_journal: Path):
    """`status` reports the journal as unreadable (exit 1), whatever status files it may still show."""
    done = _cli("status", "--journal", str(garbage_journal))

    assert done.returncode == 1
    assert "cannot be used" in done.stderr
    assert str(garbage_journal) in done.stderr
