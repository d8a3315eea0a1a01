"""One site never stops the others: invalid files, a file turned hostile mid-rotation, a crashing site."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import yaml

from reconciler.controller.runner import Controller
from reconciler.controller.worker import SiteWorker
from tests.e2e.harness import run_at_first_gate, unreachable_site
from tests.e2e.test_rotations import assert_rotated_safely
from tests.e2e.test_telemetry import samples

DEEP = "site: osaka\nextra: " + "[" * 20_000 + "]" * 20_000 + "\n"


async def test_invalid_and_hostile_files_stay_with_their_site(rehearse, journal_path):
    """With a second site's file invalid from the start, and the rotating site's own file replaced by YAML
    nested 20,000 deep half-way, the rotation completes safely on its last valid state; the invalid site
    is reported InvalidDesiredState in /status and metrics; the controller and its watch go on."""
    rehearsal = rehearse("single-server")
    before = rehearsal.location_settings()
    (rehearsal.folder / "osaka.yaml").write_text("site: osaka\napi: {url: 'https://x:8446'}\nbogus: 1\n")
    seen: dict = {}
    good_text = rehearsal.desired_file.read_text()

    async def turn_hostile_then_scrape(controller) -> None:
        seen["controller"] = controller
        temporary = rehearsal.desired_file.with_suffix(".tmp")
        temporary.write_text(DEEP)
        temporary.replace(rehearsal.desired_file)
        await asyncio.sleep(1.5)
        port = controller.telemetry.port
        async with httpx.AsyncClient() as client:
            seen["status"] = {
                s["site"]: s for s in (await client.get(f"http://127.0.0.1:{port}/status")).json()
            }
            seen["metrics"] = samples((await client.get(f"http://127.0.0.1:{port}/metrics")).text)
        rehearsal.desired_file.write_text(good_text)

    run = await run_at_first_gate(rehearsal, journal_path, turn_hostile_then_scrape, watch=True, timeout=120)

    assert not run.timed_out, f"{run.last.reason}: {run.last.message}"
    assert_rotated_safely(rehearsal, journal_path, before)
    osaka = seen["status"]["osaka"]
    assert (osaka["phase"], osaka["reason"]) == ("Unknown", "InvalidDesiredState")
    assert any("osaka.yaml" in error for error in osaka["desired_errors"])
    hq = seen["status"][rehearsal.site]
    assert hq["phase"] == "Reconciling"
    assert hq["desired_errors"], "the hostile file's errors were not reported for its site"
    metrics = seen["metrics"]
    assert metrics[("sepm_reconciler_desired_state_valid", (("site", "osaka"),))] == 0.0
    assert metrics[("sepm_reconciler_desired_state_valid", (("site", rehearsal.site),))] == 0.0
    assert not seen["controller"]._fatal.is_set()


async def test_a_site_whose_reconcile_crashes_stalls_alone(tmp_path: Path, monkeypatch):
    """A reconcile that raises unexpectedly stalls its site (InternalError) and is retried; the other site
    keeps reconciling and the controller does not exit."""
    monkeypatch.setenv("UNUSED_PASSWORD", "x")
    folder = tmp_path / "desired-state"
    folder.mkdir()
    for name in ("hq", "osaka"):
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(unreachable_site(name)))
    real = SiteWorker.reconcile_once

    async def sometimes_broken(self: SiteWorker) -> float:
        if self.site == "osaka":
            raise KeyError("a bug in the controller")
        return await real(self)

    monkeypatch.setattr(SiteWorker, "reconcile_once", sometimes_broken)
    statuses: list = []
    controller = Controller(
        folder=folder, journal_path=tmp_path / "state" / "journal.db", watch=False, on_status=statuses.append
    )
    stop = asyncio.Event()
    task = asyncio.create_task(controller.run(stop))
    await asyncio.sleep(9)
    stop.set()
    code = await task

    assert code == 0
    osaka = [s for s in statuses if s.site == "osaka"]
    hq = [s for s in statuses if s.site == "hq"]
    assert osaka
    assert (osaka[-1].phase, osaka[-1].reason) == ("Stalled", "InternalError")
    assert "a bug in the controller" in osaka[-1].message
    assert len(hq) >= 2, "the healthy site stopped reconciling"
    assert {s.reason for s in hq} == {"Retrying"}
