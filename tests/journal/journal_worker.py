"""A separate process using the journal, driven by test_journal_processes.py (not a test module).

journal_worker.py contend DB SITE OWNER GO_FILE
    wait until GO_FILE exists, open the journal (perhaps creating it), try to lock SITE; print JSON
journal_worker.py churn DB SITE
    lock SITE, start a rotation, then step after step: intent, gate, done; print each step id once
    it is done, forever (until killed)
journal_worker.py hold DB SITE
    lock SITE and start a rotation through the API, then open a raw write transaction that rewrites
    a lot and spills it to the WAL without committing; print "holding" and wait to be killed
journal_worker.py die-migrating DB
    open an older journal and kill itself (SIGKILL) once the last migration's statements have run,
    before the new version is recorded and committed
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from journal_helpers import start

from reconciler.journal import Journal, Lease, RotationId, SiteLocked, schema


def contend(db: Path, site: str, owner: str, go: Path) -> None:
    while not go.exists():
        time.sleep(0.005)
    with Journal(db) as journal:
        try:
            lease = journal.acquire_lock(site, owner=owner, ttl_seconds=600)
        except SiteLocked as locked:
            print(json.dumps({"owner": owner, "won": False, "holder": locked.owner}))
        else:
            print(json.dumps({"owner": owner, "won": True, "token": lease.token}))


def _start(journal: Journal, site: str) -> tuple[Lease, RotationId]:
    lease = journal.acquire_lock(site, owner="worker", ttl_seconds=30)
    return lease, start(journal, lease, originals={}, original_certificates={})


def churn(db: Path, site: str) -> None:
    with Journal(db) as journal:
        lease, rotation = _start(journal, site)
        print(f"rotation {rotation}", flush=True)
        step = 0
        while True:
            step_id = f"step-{step}"
            journal.record_intent(lease, rotation_id=rotation, step_id=step_id, kind="gate", target="t")
            journal.record_gate(
                lease, rotation_id=rotation, gate_id=step_id, at=step, passed=1, in_scope=1, dormant=0
            )
            journal.record_done(lease, rotation_id=rotation, step_id=step_id, applied_at=step)
            print(step_id, flush=True)
            step += 1


def hold(db: Path, site: str) -> None:
    with Journal(db) as journal:
        _, rotation = _start(journal, site)
    raw = sqlite3.connect(db, isolation_level=None)
    raw.execute("PRAGMA cache_size = 8")  # a tiny page cache forces the uncommitted pages into the WAL
    raw.execute("BEGIN IMMEDIATE")
    raw.executemany(
        "INSERT INTO steps (rotation_id, step_id, kind, target, token) VALUES (?, ?, 'gate', ?, 1)",
        [(rotation, f"uncommitted-{i}", "x" * 200) for i in range(5000)],
    )
    raw.execute("UPDATE rotations SET outcome = 'completed', finished_wall = 1 WHERE id = ?", (rotation,))
    print("holding", flush=True)
    time.sleep(120)


class _ThenDie(tuple[str, ...]):
    """A migration's statements, then a kill -9 where the next step would have been the COMMIT."""

    def __iter__(self) -> Iterator[str]:
        yield from super().__iter__()
        os.kill(os.getpid(), signal.SIGKILL)


def die_migrating(db: Path) -> None:
    schema.MIGRATIONS = (*schema.MIGRATIONS[:-1], _ThenDie(schema.MIGRATIONS[-1]))
    Journal(db)
    raise SystemExit("the migration ran to its end")


if __name__ == "__main__":
    command, db_path, *rest = sys.argv[1:]
    if command == "contend":
        contend(Path(db_path), rest[0], rest[1], Path(rest[2]))
    elif command == "churn":
        churn(Path(db_path), rest[0])
    elif command == "hold":
        hold(Path(db_path), rest[0])
    elif command == "die-migrating":
        die_migrating(Path(db_path))
    else:
        raise SystemExit(f"unknown command {command!r}")
