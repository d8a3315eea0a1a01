"""Requests from people (the CLI) to a running controller, carried by the journal.

Contract:
- ``ack``, ``proceed`` and ``abort`` belong to the site's rotation in progress at the moment they are
  written (``NoActiveRotation`` otherwise), so a request never leaks into a later rotation that happens
  to have a step with the same id. They need no lease: a person may write them while a controller holds
  the site, which is the point. The controller sees them in ``Progress`` on its next reconcile.
- Requests are append-only facts. The first ack of a step and the first proceed of a gate are the ones
  that count (later ones are kept in the history); an abort cannot be withdrawn.
- Suspension is per site and independent of rotations: the latest ``suspend`` or ``resume`` wins.
- An ack names its step, a proceed its gate and its reason (``check``, before any transaction).
- ``who`` and the free text are stored as given; the caller redacts them.
"""

from __future__ import annotations

import sqlite3
from typing import Literal

from reconciler.journal import history, rotations, rows
from reconciler.journal.errors import NoActiveRotation
from reconciler.journal.records import RotationId, SiteStateRow

RequestKind = Literal["ack", "proceed", "abort"]


def check(kind: RequestKind, *, subject: str, text: str) -> None:
    """Refuse a request that cannot mean anything, with ``ValueError``."""
    if kind == "ack" and not subject:
        raise ValueError("an acknowledgement names the step it acknowledges")
    if kind == "proceed" and not subject:
        raise ValueError("proceed names the gate it opens")
    if kind == "proceed" and not text.strip():
        raise ValueError("proceeding past a gate without its evidence needs a reason")


def add(
    conn: sqlite3.Connection,
    *,
    site: str,
    kind: RequestKind,
    subject: str,
    who: str,
    text: str,
    now: float,
) -> RotationId:
    """Attach a request to the site's rotation in progress and return that rotation's id."""
    if not who.strip():
        raise ValueError("a request must say who made it")
    rotation = rotations.active(conn, site)
    if rotation is None:
        raise NoActiveRotation(site=site)
    conn.execute(
        "INSERT INTO requests (rotation_id, kind, subject, who, text, wall) VALUES (?, ?, ?, ?, ?, ?)",
        (rotation["id"], kind, subject, who, text, now),
    )
    history.append(
        conn,
        site=site,
        event=kind,
        wall=now,
        rotation_id=rotation["id"],
        step_id=subject or None,
        who=who,
        message=text,
    )
    return rotation["id"]


def for_rotation(conn: sqlite3.Connection, rotation_id: str) -> tuple[dict[str, str], dict[str, str], bool]:
    """``(acknowledged, proceeded, aborted)`` as ``Progress`` holds them."""
    acknowledged: dict[str, str] = {}
    proceeded: dict[str, str] = {}
    aborted = False
    for row in conn.execute(
        "SELECT kind, subject, who, text FROM requests WHERE rotation_id = ? ORDER BY id", (rotation_id,)
    ):
        if row["kind"] == "ack":
            note = f"{row['who']}: {row['text']}" if row["text"] else row["who"]
            acknowledged.setdefault(row["subject"], note)
        elif row["kind"] == "proceed":
            proceeded.setdefault(row["subject"], f"{row['text']} ({row['who']})")
        else:
            aborted = True
    return acknowledged, proceeded, aborted


def set_suspended(
    conn: sqlite3.Connection, *, site: str, suspended: bool, who: str, reason: str, now: float
) -> bool:
    """Suspend or resume a site; False (nothing written) when it already was in that state."""
    if not who.strip():
        raise ValueError("suspending or resuming a site must say who did it")
    if is_suspended(conn, site) == suspended:
        return False
    conn.execute(
        "INSERT INTO site_state (site, suspended, who, reason, changed_wall) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (site) DO UPDATE SET suspended = excluded.suspended, who = excluded.who, "
        "reason = excluded.reason, changed_wall = excluded.changed_wall",
        (site, int(suspended), who, reason, now),
    )
    history.append(
        conn, site=site, event="suspend" if suspended else "resume", wall=now, who=who, message=reason
    )
    return True


def get_state(conn: sqlite3.Connection, site: str) -> SiteStateRow | None:
    state = rows.first(rows.select(conn, SiteStateRow, "FROM site_state WHERE site = ?", (site,)))
    if state is not None:
        state["suspended"] = bool(state["suspended"])  # SQLite has no bool
    return state


def is_suspended(conn: sqlite3.Connection, site: str) -> bool:
    state = get_state(conn, site)
    return state is not None and state["suspended"]
