"""`abort`, `suspend`/`resume`, `proceed` and `status` against a controller rotating a simulated site."""

from __future__ import annotations

import asyncio
import json

from reconciler.cli.main import main
from reconciler.journal.store import Journal
from tests.e2e.harness import presented, run_controller


def cli(journal_path, *args: str) -> int:
    return main([*args, "--journal", str(journal_path)])


async def test_abort_restores_the_secure_originals_and_suspends(rehearse, journal_path):
    """`abort` during the first gate restores every location's original settings, leaves the certificates
    as they were, finishes the rotation as aborted and suspends the site so it does not start again."""
    rehearsal = rehearse("single-server")
    before = rehearsal.location_settings()
    old = {s["name"]: s["certificate"]["previousSha256"][0] for s in rehearsal.desired["servers"]}
    state = {"asked": False}

    def hook(status) -> None:
        if not state["asked"] and status.reason == "WaitingForGate":
            state["asked"] = True
            assert cli(journal_path, "abort", rehearsal.site, "--reason", "change window closed") == 0

    run = await run_controller(
        rehearsal, journal_path, on_status=hook, until=lambda s, _seen: s.phase == "Suspended", timeout=90
    )

    assert not run.timed_out, f"{run.last.reason}: {run.last.message}"
    assert "aborted" in run.last.message
    assert rehearsal.location_settings() == before
    assert presented(rehearsal) == old
    assert rehearsal.report()["orphaned"] == []
    with Journal(journal_path) as journal:
        assert journal.rotations(rehearsal.site, limit=1)[0]["outcome"] == "aborted"
        assert journal.suspended(rehearsal.site)


async def test_suspend_freezes_the_site_until_resume(rehearse, journal_path):
    """A suspended site is shown as Suspended and nothing is changed on SEPM until `resume`."""
    rehearsal = rehearse("single-server")
    before = rehearsal.location_settings()
    state: dict = {}

    def hook(status) -> None:
        if "suspended" not in state and status.reason == "WaitingForGate":
            state["suspended"] = len(rehearsal.sim.site.report()["events"])
            assert cli(journal_path, "suspend", rehearsal.site, "--reason", "freeze for audit") == 0
        elif status.phase == "Suspended" and "resumed" not in state:
            state["resumed"] = True

            def resume() -> None:
                state["events_while_suspended"] = len(rehearsal.sim.site.report()["events"])
                assert cli(journal_path, "resume", rehearsal.site) == 0

            # Long enough in simulated time for the gate to have opened: still nothing may happen.
            asyncio.get_running_loop().call_later(3.0, resume)

    run = await run_controller(rehearsal, journal_path, on_status=hook, timeout=120)

    assert not run.timed_out, f"{run.last.reason}: {run.last.message}"
    assert any(s.phase == "Suspended" and "freeze for audit" in s.message for s in run.statuses)
    assert state["events_while_suspended"] == state["suspended"]
    assert presented(rehearsal) == rehearsal.new_fingerprints
    assert rehearsal.location_settings() == before


async def test_stalled_gate_is_passed_only_with_a_recorded_reason(rehearse, journal_path):
    """A gate that cannot open before its deadline stalls the site (GateDeadlineExceeded, never an automatic
    proceed); `proceed --reason` opens it and the reason is kept in the journal."""
    rehearsal = rehearse("two-server-failover", gates={"heartbeatCycles": 40, "timeout": "30m"})
    proceeded: list[str] = []

    def hook(status) -> None:
        if status.reason == "GateDeadlineExceeded" and status.current_step not in proceeded:
            proceeded.append(status.current_step)
            assert "proceed" in status.message
            assert (
                cli(
                    journal_path,
                    "proceed",
                    rehearsal.site,
                    status.current_step,
                    "--reason",
                    "CAB-1234 approved",
                )
                == 0
            )

    run = await run_controller(rehearsal, journal_path, on_status=hook, timeout=120)

    assert not run.timed_out, f"{run.last.reason}: {run.last.message}"
    stalled = [s for s in run.statuses if s.reason == "GateDeadlineExceeded"]
    assert stalled
    assert all(s.phase == "Stalled" for s in stalled)
    assert proceeded == ["gate:certificate:sepm01", "gate:certificate:sepm02"]
    with Journal(journal_path) as journal:
        rotation = journal.rotations(rehearsal.site, limit=1)[0]
        gates = {
            r["step_id"]: r["message"]
            for r in journal.steps(rotation["id"])
            if r["step_id"].startswith("gate:")
        }
    assert all("CAB-1234 approved" in gates[g] for g in proceeded)


async def test_status_command_shows_gate_progress_and_dormant_clients(rehearse, journal_path, capsys):
    """`status` prints the phase, the current step and the gate's "n/m clients through 3 heartbeats";
    `status --json` gives the same as data."""
    rehearsal = rehearse("mixed-14-2")
    shown: dict = {}

    def hook(status) -> None:
        if "text" not in shown and status.reason == "WaitingForGate":
            capsys.readouterr()
            assert cli(journal_path, "status") == 0
            shown["text"] = capsys.readouterr().out
            assert cli(journal_path, "status", "--json") == 0
            shown["json"] = json.loads(capsys.readouterr().out)

    run = await run_controller(rehearsal, journal_path, on_status=hook, timeout=90)

    assert not run.timed_out
    text = shown["text"]
    assert text.startswith(f"{rehearsal.site}: Reconciling (WaitingForGate)")
    assert "clients through 3 heartbeats" in text
    assert "gate: " in text
    assert "deadline" in text
    site = shown["json"][0]
    assert site["site"] == rehearsal.site
    assert site["gate"]["cycles"] == 3
    assert site["gate"]["in_scope"] > 0
