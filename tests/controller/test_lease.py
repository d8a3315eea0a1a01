"""A worker's hold on its site: renewed in the background, checked before every act."""

from __future__ import annotations

import asyncio
import time

import pytest

from reconciler.controller.lease import LeaseLost, SiteLease
from reconciler.journal.errors import SiteLocked
from reconciler.journal.store import Journal


async def test_keep_renews_so_nobody_takes_the_site_while_the_worker_runs(tmp_path):
    """With keep() running, the lease outlives several of its lifetimes and a second owner stays out."""
    journal = Journal(tmp_path / "journal.db")
    lease = SiteLease(journal=journal, site="hq", owner="a", ttl=0.6)
    lease.hold()
    stop = asyncio.Event()
    keeper = asyncio.create_task(lease.keep(stop))
    await asyncio.sleep(1.5)
    with pytest.raises(SiteLocked):
        journal.acquire_lock("hq", owner="b", ttl_seconds=5)
    stop.set()
    await keeper
    lease.release()
    journal.acquire_lock("hq", owner="b", ttl_seconds=5)
    journal.close()


def test_fence_fails_once_another_controller_took_the_site(tmp_path):
    """Without renewal the lease expires; after another owner takes the site, fence() raises LeaseLost."""
    journal = Journal(tmp_path / "journal.db")
    lease = SiteLease(journal=journal, site="hq", owner="a", ttl=0.2)
    lease.hold()
    time.sleep(0.3)
    journal.acquire_lock("hq", owner="b", ttl_seconds=5)
    with pytest.raises(LeaseLost):
        lease.fence()
    assert lease.lost
    journal.close()
