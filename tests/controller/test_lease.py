"""A worker's hold on its site: renewed in the background, checked before every act."""

from __future__ import annotations

import asyncio

import pytest

from reconciler.controller.lease import LeaseLost, SiteLease
from reconciler.journal.errors import SiteLocked
from reconciler.journal.store import Journal


async def test_keep_renews_so_nobody_takes_the_site_while_the_worker_runs(tmp_path):
    """With keep() running, the lease outlives several of its lifetimes and a second owner stays out."""
    journal = Journal(tmp_path / "journal.db")
    lease = SiteLease(journal=journal, site="hq", owner="a", ttl=0.6)
    await lease.hold()
    stop = asyncio.Event()
    keeper = asyncio.create_task(lease.keep(stop))
    await asyncio.sleep(1.5)
    with pytest.raises(SiteLocked):
        journal.acquire_lock("hq", owner="b", ttl_seconds=5)
    stop.set()
    await keeper
    await lease.release()
    journal.acquire_lock("hq", owner="b", ttl_seconds=5)
    journal.close()


async def test_fence_fails_once_another_controller_took_the_site(tmp_path):
    """Without renewal the lease expires; after another owner takes the site, fence() raises LeaseLost."""
    journal = Journal(tmp_path / "journal.db")
    lease = SiteLease(journal=journal, site="hq", owner="a", ttl=0.2)
    await lease.hold()
    await asyncio.sleep(0.3)
    journal.acquire_lock("hq", owner="b", ttl_seconds=5)
    with pytest.raises(LeaseLost):
        await lease.fence()
    assert lease.lost
    journal.close()
