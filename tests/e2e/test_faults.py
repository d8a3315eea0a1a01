"""Faults from the simulator during a rotation: the controller waits them out, never acts blind."""

from __future__ import annotations

import asyncio

import pytest

from tests.e2e.harness import presented, run_controller
from tests.e2e.test_rotations import assert_rotated_safely

FAULT_SECONDS = 3.0


def switch_on_at_first_gate(
    rehearsal, switch_on, switch_off, seen_events: dict, seconds: float = FAULT_SECONDS
):
    """An on_status hook: at the first gate wait, switch the fault on; ``seconds`` later, off."""
    state = {"on": False}

    def hook(status) -> None:
        if state["on"] or status.reason != "WaitingForGate":
            return
        state["on"] = True
        seen_events["at_on"] = len(rehearsal.sim.site.report()["events"])
        switch_on(rehearsal.sim.faults)

        def off() -> None:
            seen_events["at_off"] = len(rehearsal.sim.site.report()["events"])
            switch_off(rehearsal.sim.faults)
            seen_events["cleared"] = True

        asyncio.get_running_loop().call_later(seconds, off)

    return hook


@pytest.mark.parametrize(
    ("scenario", "switch_on"),
    [
        pytest.param("mixed-14-2", lambda f: f.fail_share(0.4, status=503), id="5xx-share"),
        pytest.param("mixed-14-2", lambda f: f.too_many_requests(20, retry_after_s=1), id="429"),
        pytest.param("mixed-14-2", lambda f: f.expire_tokens(), id="token-expiry"),
        pytest.param("two-server-failover", lambda f: f.server_down("sepm02"), id="server-stops-answering"),
        pytest.param("single-server", lambda f: f.delay(0.2), id="slow-responses"),
    ],
)
async def test_rotation_survives_fault(rehearse, journal_path, scenario, switch_on):
    """With a fault switched on mid-rotation, the rotation still completes with 0 orphaned clients and the
    originals restored."""
    rehearsal = rehearse(scenario)
    before = rehearsal.location_settings()
    seen: dict = {}
    hook = switch_on_at_first_gate(rehearsal, switch_on, lambda f: f.clear(), seen)

    run = await run_controller(rehearsal, journal_path, on_status=hook, timeout=120)

    assert seen.get("cleared"), "the fault was never switched on and off during the rotation"
    assert not run.timed_out, f"{run.last.reason}: {run.last.message}"
    assert_rotated_safely(rehearsal, journal_path, before)


async def test_failing_page_means_no_act_until_it_clears(rehearse, journal_path):
    """While a page of computers fails, observation is incomplete: the controller changes nothing on SEPM
    (not even when the gate's time has long passed), reports that it is retrying, and finishes afterwards."""
    rehearsal = rehearse("single-server")
    before = rehearsal.location_settings()
    seen: dict = {}
    statuses_during: list = []

    def on(faults) -> None:
        faults.fail_page(1, resource="computers")

    def record(status) -> None:
        if "at_on" in seen and "cleared" not in seen:
            statuses_during.append(status)

    # Longer than the client's own retries, so the failure reaches the controller's backoff.
    hook = switch_on_at_first_gate(rehearsal, on, lambda f: f.clear(), seen, seconds=8.0)

    def both(status) -> None:
        hook(status)
        record(status)

    run = await run_controller(rehearsal, journal_path, on_status=both, timeout=120)

    assert not run.timed_out, f"{run.last.reason}: {run.last.message}"
    assert seen["at_off"] == seen["at_on"], "the controller changed SEPM while its observation was incomplete"
    assert any(s.reason == "Retrying" for s in statuses_during)
    assert not any(s.reason == "Acting" for s in statuses_during)
    assert presented(rehearsal) == rehearsal.new_fingerprints
    assert_rotated_safely(rehearsal, journal_path, before)
