"""Several processes on one journal file: lock contention, and kill -9 at any instant.

These start real Python processes (tests/journal/journal_worker.py) against a real file, because
what is under test is SQLite's locking and recovery between processes, which no in-process double
can stand in for.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from journal_helpers import SITE

from reconciler.journal import Journal, SiteLocked

WORKER = Path(__file__).with_name("journal_worker.py")
CONTENDERS = 4


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-u", str(WORKER), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _read_until(
    process: subprocess.Popen[str], predicate: Callable[[str], bool], *, timeout: float = 60.0
) -> list[str]:
    """Lines the process printed, up to and including the first that satisfies ``predicate``."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    lines: list[str] = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            _, err = process.communicate(timeout=5)
            pytest.fail(f"worker exited early: {err}")
        lines.append(line.strip())
        if predicate(line.strip()):
            return lines
    pytest.fail("worker did not get there in time")


def _kill(process: subprocess.Popen[str]) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL


def _assert_sound(path: Path) -> None:
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert raw.execute("PRAGMA foreign_key_check").fetchall() == []


def test_exactly_one_of_several_processes_gets_the_site(tmp_path: Path) -> None:
    """Processes racing to create the journal and lock one site: one wins, the others see it hold."""
    db = tmp_path / "journal.db"
    go = tmp_path / "go"
    workers = [_spawn("contend", str(db), SITE, f"controller-{i}", str(go)) for i in range(CONTENDERS)]
    time.sleep(0.5)  # let the interpreters start, so they race on the open and the lock, not on imports
    go.touch()
    results = []
    for worker in workers:
        out, err = worker.communicate(timeout=60)
        assert worker.returncode == 0, err
        results.append(json.loads(out))
    winners = [r for r in results if r["won"]]
    assert len(winners) == 1
    assert winners[0]["token"] == 1
    assert {r["holder"] for r in results if not r["won"]} == {winners[0]["owner"]}
    _assert_sound(db)


def test_kill_during_writes_leaves_a_consistent_journal(tmp_path: Path) -> None:
    """A writer killed at an arbitrary instant leaves whole steps or none, and its work can be resumed."""
    db = tmp_path / "journal.db"
    worker = _spawn("churn", str(db), SITE)
    _read_until(worker, lambda line: line == "step-4")
    time.sleep(random.uniform(0, 0.05))
    _kill(worker)
    _assert_sound(db)

    with Journal(db) as journal:
        rotation = journal.active_rotation(SITE)
        assert rotation is not None
        steps = journal.steps(rotation["id"])
        done = [s["step_id"] for s in steps if s["outcome"] == "ok"]
        in_flight = journal.in_flight(rotation["id"])
        assert done == [f"step-{i}" for i in range(len(done))]
        assert len(done) >= 5
        assert [s["step_id"] for s in in_flight] in ([], [f"step-{len(done)}"])
        assert len(steps) == len(done) + len(in_flight)
        gates = journal.gate_measurements(rotation["id"], limit=100_000)
        assert len(gates) - len(done) in ((0, 1) if in_flight else (0,))
        events = journal.history(SITE, limit=100_000)
        assert sum(e["event"] == "done" for e in events) == len(done)
        assert sum(e["event"] == "intent" for e in events) == len(steps)

        # The dead writer's lease still holds the site until it expires; then the next controller
        # takes over with a higher token and finishes what was in flight.
        with pytest.raises(SiteLocked):
            journal.acquire_lock(SITE, owner="successor", ttl_seconds=30)
    with Journal(db, clock=lambda: time.time() + 31) as later:
        lease = later.acquire_lock(SITE, owner="successor", ttl_seconds=30)
        assert lease.token == 2
        for step in in_flight:
            later.record_done(lease, rotation_id=rotation["id"], step_id=step["step_id"], applied_at=99)
        assert later.in_flight(rotation["id"]) == []
        assert len(later.progress(rotation["id"]).done) == len(done) + len(in_flight)


def test_kill_mid_transaction_rolls_it_back(tmp_path: Path) -> None:
    """Uncommitted pages already in the WAL when the writer dies are discarded on the next open."""
    db = tmp_path / "journal.db"
    worker = _spawn("hold", str(db), SITE)
    _read_until(worker, lambda line: line == "holding")
    wal = db.with_name(db.name + "-wal")
    assert wal.stat().st_size > 500_000  # the uncommitted rewrite really reached the disk
    _kill(worker)
    _assert_sound(db)
    with Journal(db) as journal:
        rotation = journal.active_rotation(SITE)
        assert rotation is not None
        assert rotation["outcome"] is None
        assert journal.steps(rotation["id"]) == []
        assert journal.in_flight(rotation["id"]) == []
