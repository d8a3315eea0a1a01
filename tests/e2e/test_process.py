"""The controller as a process: SIGTERM leaves nothing half-recorded; a second controller cannot act."""

from __future__ import annotations

import asyncio
import os
import signal
import time

from reconciler.controller.runner import Controller
from reconciler.journal.store import Journal
from tests.e2e.harness import presented, run_controller
from tests.e2e.test_kill9 import done_steps, start_controller


def test_sigterm_finishes_the_step_in_flight_and_exits_cleanly(rehearse, journal_path, tmp_path):
    """SIGTERM mid-rotation: the controller exits 0 with no step left between intent and done, and a new
    controller completes the rotation from the journal."""
    rehearsal = rehearse("mixed-14-2", speed=300.0)
    log = tmp_path / "controller.log"
    process = start_controller(rehearsal, journal_path, log)
    deadline = time.monotonic() + 60
    while done_steps(journal_path, rehearsal.site)[0] < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGTERM)
    assert process.wait(timeout=45) == 0, log.read_text()[-2000:]
    with Journal(journal_path) as journal:
        rotation = journal.rotations(rehearsal.site, limit=1)[0]
        assert rotation["outcome"] is None, "stopped mid-rotation, as intended"
        assert journal.in_flight(rotation["id"]) == []
        assert journal.lock_holder(rehearsal.site) is None, "a clean exit releases the site's lease"

    process = start_controller(rehearsal, journal_path, log)
    try:
        deadline = time.monotonic() + 90
        while done_steps(journal_path, rehearsal.site)[1] is None and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        process.terminate()
        process.wait(timeout=45)
    assert done_steps(journal_path, rehearsal.site)[1] == "completed"
    assert rehearsal.report()["orphaned"] == []


async def test_second_controller_on_the_same_journal_cannot_act(rehearse, journal_path):
    """While one controller holds a site, a second one on the same journal acts on nothing: every step of
    the rotation carries the first controller's fencing token."""
    rehearsal = rehearse("single-server")
    intruder = Controller(
        folder=rehearsal.folder, journal_path=journal_path, watch=False, owner="intruder", lease_ttl=10.0
    )
    stop_intruder = asyncio.Event()
    intruding: list[asyncio.Task[int]] = []

    def hook(status) -> None:
        if not intruding and status.rotation_id:
            intruding.append(asyncio.create_task(intruder.run(stop_intruder)))

    run = await run_controller(rehearsal, journal_path, on_status=hook, timeout=90)
    stop_intruder.set()
    assert await intruding[0] == 0

    assert not run.timed_out
    assert presented(rehearsal) == rehearsal.new_fingerprints
    with Journal(journal_path) as journal:
        rotation = journal.rotations(rehearsal.site, limit=1)[0]
        tokens = {row["token"] for row in journal.steps(rotation["id"])}
    assert tokens == {rotation["token"]}, "a step was written under another lease"
