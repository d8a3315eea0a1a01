"""The append-only event log: one row per change of state, for ``status`` and for the post-mortem.

Contract: rows are only ever inserted, in the same transaction as the change they describe (so the log
and the state it explains cannot disagree after a crash); schema triggers refuse UPDATE and DELETE.
Lease renewals and gate polls are not events: they would drown the ones a human needs.
"""

from __future__ import annotations

import sqlite3

from reconciler.journal import rows
from reconciler.journal.records import Event, HistoryRow


def append(
    conn: sqlite3.Connection,
    *,
    site: str,
    event: Event,
    wall: float,
    rotation_id: str | None = None,
    step_id: str | None = None,
    who: str = "",
    message: str = "",
) -> None:
    """Insert one event; call it inside the write transaction of the change it records."""
    conn.execute(
        "INSERT INTO history (site, rotation_id, event, step_id, who, message, wall) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (site, rotation_id, event, step_id, who, message, wall),
    )


def read(conn: sqlite3.Connection, *, site: str, limit: int) -> list[HistoryRow]:
    """The newest ``limit`` events of a site, newest first."""
    return rows.select(
        conn, HistoryRow, "FROM history WHERE site = ? ORDER BY id DESC LIMIT ?", (site, limit)
    )
