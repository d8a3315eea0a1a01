"""A separate process using the journal, driven by test_journal_processes.py (not a test module).

journal_worker.py contend DB SITE OWNER GO_FILE
    wait until GO_FILE exists, open the journal (perhaps creating it), try to lock SITE; print JSON
journal_worker.py churn DB SITE
    lock SITE, start a rotation, then step after step: intent, gate, done; print each step id once
    it is done, forever (until killed)
journal_worker.py hold DB SITE
    lock SITE and start a rotation through the API, then open a raw write transaction that rewrites
    a lot and spills it to the WAL without committing; print "holding" and wait to be killed
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from pathlib import Path

from journal_helpers import start

from reconciler.journal import Journal, Lease, RotationId, SiteLocked


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


if __name__ == "__main__":
    command, db_path, site_name, *rest = sys.argv[1:]
    if command == "contend":
        contend(Path(db_path), site_name, rest[0], Path(rest[1]))
    elif command == "churn":
        churn(Path(db_path), site_name)
    elif command == "hold":
        hold(Path(db_path), site_name)
    else:
        raise SystemExit(f"unknown command {command!r}")
