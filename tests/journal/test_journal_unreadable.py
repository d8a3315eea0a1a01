"""A journal file that cannot be used is one clear error naming the file, never a traceback of SQLite's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from journal_helpers import SITE, start

from reconciler.journal import Journal, JournalUnreadable, schema


def _assert_one_clear_line(error: JournalUnreadable, path: Path) -> None:
    text = str(error)
    assert "\n" not in text
    assert str(path) in text
    assert "restore it from a backup" in text


def test_a_file_that_is_not_sqlite(tmp_path: Path):
    """Random bytes where the journal should be: JournalUnreadable, saying it is not a database."""
    path = tmp_path / "journal.db"
    path.write_bytes(b"this is not a journal, it is a shopping list\n" * 200)
    with pytest.raises(JournalUnreadable, match="not a database") as caught:
        Journal(path)
    _assert_one_clear_line(caught.value, path)


def test_a_damaged_journal(tmp_path: Path):
    """A journal whose pages were overwritten is refused at open, not half-read later."""
    path = tmp_path / "journal.db"
    with Journal(path) as journal:
        lease = journal.acquire_lock(SITE, owner="c", ttl_seconds=30)
        for n in range(40):
            padded = json.dumps({"site": "hq", "pad": "x" * 2000 + str(n)})
            rotation = start(journal, lease, desired_json=padded)
            journal.finish_rotation(lease, rotation_id=rotation, outcome="completed")
    data = bytearray(path.read_bytes())
    page = 4096
    for offset in range(2 * page, len(data) - page, 3 * page):
        data[offset : offset + 512] = b"\xff" * 512
    path.write_bytes(bytes(data))
    with pytest.raises(JournalUnreadable) as caught:
        Journal(path)
    _assert_one_clear_line(caught.value, path)


def test_a_journal_where_no_file_can_be_made(tmp_path: Path):
    """A journal path under a regular file (or any path the OS refuses) is JournalUnreadable, not OSError."""
    blocker = tmp_path / "state"
    blocker.write_text("a file, not a folder")
    path = blocker / "journal.db"
    with pytest.raises(JournalUnreadable) as caught:
        Journal(path)
    _assert_one_clear_line(caught.value, path)


def test_probe_reads_without_writing_and_tells_what_is_wrong(tmp_path: Path):
    """probe() accepts a good journal without changing it, and refuses an empty or foreign file."""
    good = tmp_path / "good.db"
    Journal(good).close()
    before = good.read_bytes()
    schema.probe(good)
    assert good.read_bytes() == before
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    with pytest.raises(JournalUnreadable, match="holds no journal"):
        schema.probe(empty)
    foreign = tmp_path / "foreign.db"
    foreign.write_bytes(b"\x00garbage" * 1000)
    with pytest.raises(JournalUnreadable):
        schema.probe(foreign)
