"""Requests to adopt a rotation that SEPM shows under way but the journal does not hold (it was lost).

Contract:
- ``add`` records a request for a site with no rotation in progress (``RotationActive`` otherwise: the
  journal holds that rotation, there is nothing to adopt) and no adoption already waiting. It takes no
  lease: a person writes it while a controller holds the site, which carries it out at its next
  reconcile.
- ``pending`` is the site's oldest request not yet settled.
- A request is settled exactly once, under the site's lease: by ``adopted``, in the very transaction
  that starts the adopted rotation (with ``restore``, that transaction also asks for the rotation's
  abort, so the originals come back first), or by ``settle`` when there was nothing to adopt.
"""

from __future__ import annotations

import sqlite3

from reconciler.journal import history, rotations, rows
from reconciler.journal.errors import RotationActive
from reconciler.journal.locks import Fenced
from reconciler.journal.records import AdoptionRow, RotationId


def add(conn: sqlite3.Connection, *, site: str, restore: bool, who: str, reason: str, now: float) -> int:
    if not who.strip():
        raise ValueError("an adoption must say who asked for it")
    active = rotations.active(conn, site)
    if active is not None:
        raise RotationActive(site=site, rotation_id=active["id"])
    waiting = pending(conn, site)
    if waiting is not None:
        raise ValueError(
            f"site {site} already has an adoption waiting for the controller (by {waiting['who']})"
        )
    cursor = conn.execute(
        "INSERT INTO adoptions (site, restore, who, reason, wall) VALUES (?, ?, ?, ?, ?)",
        (site, int(restore), who, reason, now),
    )
    mode = "restore the originals" if restore else "continue the rotation"
    history.append(conn, site=site, event="adopt", wall=now, who=who, message=f"{mode}: {reason}".strip(": "))
    return int(cursor.lastrowid or 0)


def pending(conn: sqlite3.Connection, site: str) -> AdoptionRow | None:
    found = rows.first(
        rows.select(
            conn,
            AdoptionRow,
            "FROM adoptions WHERE site = ? AND settled_wall IS NULL ORDER BY id LIMIT 1",
            (site,),
        )
    )
    if found is not None:
        found["restore"] = bool(found["restore"])  # SQLite has no bool
    return found


def adopted(w: Fenced, adoption: AdoptionRow, rotation_id: RotationId) -> None:
    """Settle ``adoption`` with the rotation just started for it (same transaction); abort it at once
    when the request said ``restore``."""
    _settle(w, adoption, rotation_id=rotation_id, outcome="adopted")
    w.event("adopted", rotation_id=rotation_id, message=f"adoption {adoption['id']} by {adoption['who']}")
    if adoption["restore"]:
        w.conn.execute(
            "INSERT INTO requests (rotation_id, kind, subject, who, text, wall) "
            "VALUES (?, 'abort', '', ?, ?, ?)",
            (rotation_id, adoption["who"], f"adopted to restore: {adoption['reason']}".strip(": "), w.now),
        )


def settle(w: Fenced, adoption: AdoptionRow, *, outcome: str) -> None:
    """Settle ``adoption`` without a rotation (SEPM showed nothing to adopt)."""
    _settle(w, adoption, rotation_id=None, outcome=outcome)


def _settle(w: Fenced, adoption: AdoptionRow, *, rotation_id: RotationId | None, outcome: str) -> None:
    changed = w.conn.execute(
        "UPDATE adoptions SET settled_wall = ?, rotation_id = ?, outcome = ? WHERE id = ? AND site = ? "
        "AND settled_wall IS NULL",
        (w.now, rotation_id, outcome, adoption["id"], w.lease.site),
    ).rowcount
    if changed != 1:
        raise ValueError(f"adoption {adoption['id']} of site {w.lease.site} is not pending")
