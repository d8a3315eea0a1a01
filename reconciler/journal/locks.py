"""One writer per site: leases with fencing tokens.

Contract:
- ``acquire`` succeeds when the site has no lock, a released one, or one whose lease has expired; each
  success stores and returns the site's next fencing token (1, 2, 3, ... never reused, because the row
  is kept on release). While a lease is live, every other acquisition fails with ``SiteLocked``, even
  under the same owner name: two processes may well share a name, and a restarted controller simply
  waits out its predecessor's lease (keep the TTL short and renew).
- The fence is the token, checked by ``fence`` inside the transaction of every mutating call: a write
  succeeds only while the lease's token is the site's current one and not released. Expiry alone does
  not fence: it only allows someone else to take over, and once they have, the old token is dead.
  A holder that finds its lease lost (``LockLost``) must stop acting on SEPM and exit.
- ``fenced`` returns a ``Fenced``: the transaction, the lease that passed the fence in it, and one wall
  time. Every change a lease makes to a rotation is written through one, so none can skip the fence,
  and its history events all carry the lease's site and owner.
- Expiry is judged on the wall clock of the process that acquires. Every process sharing a journal is
  on one host (WAL needs shared memory), so they share that clock.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, replace

from reconciler.journal import history, rows
from reconciler.journal.errors import LockLost, SiteLocked
from reconciler.journal.records import Event, Lease, LockRow


def _validate(*, owner: str, ttl_seconds: float) -> None:
    if not owner.strip():
        raise ValueError("a lock owner must be named (host and process, for `status` to show)")
    if not ttl_seconds > 0:
        raise ValueError(f"a lease needs a positive time to live, got {ttl_seconds!r}")


def acquire(conn: sqlite3.Connection, *, site: str, owner: str, ttl_seconds: float, now: float) -> Lease:
    """Take the site's lock with the next fencing token, or raise ``SiteLocked``."""
    _validate(owner=owner, ttl_seconds=ttl_seconds)
    row = conn.execute("SELECT token, owner, expires_wall FROM locks WHERE site = ?", (site,)).fetchone()
    if row is not None and row["owner"] is not None and row["expires_wall"] > now:
        raise SiteLocked(site=site, owner=row["owner"], expires=row["expires_wall"])
    token = 1 if row is None else row["token"] + 1
    expires = now + ttl_seconds
    conn.execute(
        "INSERT INTO locks (site, token, owner, acquired_wall, expires_wall) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (site) DO UPDATE SET token = excluded.token, owner = excluded.owner, "
        "acquired_wall = excluded.acquired_wall, expires_wall = excluded.expires_wall",
        (site, token, owner, now, expires),
    )
    taken_over = row is not None and row["owner"] is not None
    message = f"token {token}" + (f"; the lease of {row['owner']!r} had expired" if taken_over else "")
    history.append(conn, site=site, event="lock_acquired", wall=now, who=owner, message=message)
    return Lease(site=site, owner=owner, token=token, ttl_seconds=ttl_seconds, expires_wall=expires)


def current_token(conn: sqlite3.Connection, site: str) -> int | None:
    """The site's live fencing token, or None when the lock was never taken or was released."""
    row = conn.execute("SELECT token, owner FROM locks WHERE site = ?", (site,)).fetchone()
    return None if row is None or row["owner"] is None else int(row["token"])


def fence(conn: sqlite3.Connection, lease: Lease) -> None:
    """Raise ``LockLost`` unless ``lease`` still holds its site."""
    current = current_token(conn, lease.site)
    if current != lease.token:
        raise LockLost(site=lease.site, token=lease.token, current=current)


@dataclass(frozen=True)
class Fenced:
    """Inside a write transaction in which ``lease`` holds its site, at wall time ``now`` (see ``fenced``)."""

    conn: sqlite3.Connection
    lease: Lease
    now: float

    def event(self, event: Event, *, rotation_id: str, step_id: str | None = None, message: str = "") -> None:
        """Append ``event`` to the site's history, by the lease's owner, in this transaction."""
        history.append(
            self.conn,
            site=self.lease.site,
            event=event,
            wall=self.now,
            rotation_id=rotation_id,
            step_id=step_id,
            who=self.lease.owner,
            message=message,
        )


def fenced(conn: sqlite3.Connection, lease: Lease, *, now: float) -> Fenced:
    """``fence`` the lease, and return what a change under it is written through."""
    fence(conn, lease)
    return Fenced(conn=conn, lease=lease, now=now)


def renew(conn: sqlite3.Connection, lease: Lease, *, now: float) -> Lease:
    """Extend a lease that still holds its site by its TTL from ``now``; ``LockLost`` otherwise."""
    fence(conn, lease)
    expires = now + lease.ttl_seconds
    conn.execute("UPDATE locks SET expires_wall = ? WHERE site = ?", (expires, lease.site))
    return replace(lease, expires_wall=expires)


def release(conn: sqlite3.Connection, lease: Lease, *, now: float) -> bool:
    """Give the site up; False (and nothing written) when the lease had already been lost."""
    if current_token(conn, lease.site) != lease.token:
        return False
    # The row stays, so that the next acquisition continues the token sequence.
    conn.execute("UPDATE locks SET owner = NULL, expires_wall = ? WHERE site = ?", (now, lease.site))
    history.append(
        conn,
        site=lease.site,
        event="lock_released",
        wall=now,
        who=lease.owner,
        message=f"token {lease.token}",
    )
    return True


def holder(conn: sqlite3.Connection, site: str) -> LockRow | None:
    """The site's lock, or None when it was never taken or was released."""
    return rows.first(rows.select(conn, LockRow, "FROM locks WHERE site = ? AND owner IS NOT NULL", (site,)))
