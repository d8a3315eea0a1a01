"""Holding one site's lease in the journal for as long as a worker runs.

Contract:
- ``hold()`` acquires the lease (raising `SiteLocked` while another controller holds it) or returns the
  current one, renewing it when half its lifetime is gone.
- ``keep(stop)`` renews it every third of its lifetime in the background, so a long command or a long
  sleep never lets it lapse; losing it sets ``lost`` and calls ``on_lost``.
- ``fence()`` renews it right before an act on SEPM. Journal writes are fenced by the token inside their
  own transaction, but a REST PATCH or a command is not: this is the last check that nobody else took
  the site. A lost lease raises `LeaseLost`; the worker stops.
- ``release()`` on a clean exit, so the next controller need not wait for the lease to expire.
- Every journal call runs in a worker thread: SQLite may wait up to its busy timeout for another
  process's lock, and the event loop (health checks, the other sites) must not wait with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from reconciler.journal.errors import LockLost
from reconciler.journal.records import Lease
from reconciler.journal.store import Journal

log = logging.getLogger(__name__)


class LeaseLost(Exception):
    """Another controller took the site: this worker must stop at once."""


@dataclass
class SiteLease:
    journal: Journal
    site: str
    owner: str
    ttl: float
    on_lost: Callable[[], None] = lambda: None
    lost: bool = False
    _lease: Lease | None = field(default=None, repr=False)

    async def hold(self) -> Lease:
        if self._lease is not None and self._lease.expires_wall - time.time() > self.ttl / 2:
            return self._lease
        if self._lease is not None:
            return await self.fence()
        self._lease = await asyncio.to_thread(
            self.journal.acquire_lock, self.site, owner=self.owner, ttl_seconds=self.ttl
        )
        return self._lease

    async def fence(self) -> Lease:
        if self._lease is None:
            raise LeaseLost(f"site {self.site}: no lease held")
        try:
            self._lease = await asyncio.to_thread(self.journal.renew, self._lease)
        except LockLost as lost:
            self.lost = True
            raise LeaseLost(f"site {self.site}: lease lost ({lost}); stopping this worker") from lost
        return self._lease

    async def keep(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.ttl / 3)
            if self._lease is None or stop.is_set():
                continue
            try:
                await self.fence()
            except LeaseLost as lost:
                log.error("%s", lost)
                self.on_lost()
                return

    async def release(self) -> None:
        if self._lease is not None:
            lease, self._lease = self._lease, None
            with contextlib.suppress(LockLost):
                await asyncio.to_thread(self.journal.release, lease)
