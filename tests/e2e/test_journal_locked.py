"""A journal locked by another process holds the site's writes back, never the event loop."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time

import httpx

from tests.e2e.harness import run_at_first_gate
from tests.e2e.test_rotations import assert_rotated_safely

HOLD_SECONDS = 2.0
"""How long the other process keeps the write lock: well inside the journal's 10 s busy timeout."""

TICK = 0.01


async def test_a_locked_journal_never_blocks_the_loop(rehearse, journal_path):
    """While another connection holds the journal's write lock mid-rotation, a lease renewal waits for it,
    but the event loop never stalls for more than 100 ms and /healthz answers at once; the rotation
    then completes safely."""
    rehearsal = rehearse("single-server")
    before = rehearsal.location_settings()
    seen: dict = {}

    def hold_the_lock(locked: threading.Event, release: threading.Event) -> None:
        other = sqlite3.connect(journal_path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # the write lock, as the CLI or a second controller takes it
        locked.set()
        release.wait()
        other.execute("COMMIT")
        other.close()

    async def while_locked(controller) -> None:
        loop = asyncio.get_running_loop()
        locked, release = threading.Event(), threading.Event()
        thread = threading.Thread(target=hold_the_lock, args=(locked, release), daemon=True)
        thread.start()
        await asyncio.to_thread(locked.wait)
        worker = controller.workers[rehearsal.site]
        started = loop.time()
        renewal = loop.create_task(worker.lease.fence())
        worst = 0.0
        health: list[float] = []
        async with httpx.AsyncClient() as client:
            port = controller.telemetry.port
            while loop.time() - started < HOLD_SECONDS:
                before_tick = loop.time()
                await asyncio.sleep(TICK)
                worst = max(worst, loop.time() - before_tick - TICK)
                if len(health) < 3:
                    asked = time.monotonic()
                    answer = await client.get(f"http://127.0.0.1:{port}/healthz")
                    assert answer.status_code == 200
                    health.append(time.monotonic() - asked)
        seen["renewal_done_while_locked"] = renewal.done()
        release.set()
        await renewal
        seen["renewal_seconds"] = loop.time() - started
        seen["worst_lag"] = worst
        seen["health"] = health
        await asyncio.to_thread(thread.join)

    run = await run_at_first_gate(rehearsal, journal_path, while_locked)

    assert not seen["renewal_done_while_locked"], "the lease renewal did not wait for the lock"
    assert seen["renewal_seconds"] >= HOLD_SECONDS
    assert seen["worst_lag"] < 0.1, f"the event loop stalled {seen['worst_lag']:.3f} s on the journal"
    assert max(seen["health"]) < 0.1
    assert not run.timed_out, f"{run.last.reason}: {run.last.message}"
    assert_rotated_safely(rehearsal, journal_path, before)
