"""``sepm-reconciler demo``: a simulated two-server site with 14.2 clients, rotated end to end, live.

What it does, all on loopback and in a scratch folder:
1. starts the simulator's ``mixed-14-2`` scenario at high speed (real HTTPS listeners, simulated clients);
2. makes a new 2048-bit RSA certificate per server (PKCS#12, password in an environment variable);
3. writes a desired-state file asking for those certificates, whose ``command`` actuators call the
   simulator's console CLI exactly as a site script would call the real server;
4. runs the real controller on that folder (journal included) and draws its progress;
5. reads the simulator's report and says whether any client was orphaned, whether every group and
   location got its original settings back, how long the rotation took in SEPM time against its
   physical bound (`reconciler.cli.figures`), and what a person with fixed timers would have taken.
Exit 0 only when the rotation completed with zero orphaned clients and the originals restored.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from reconciler.cli.figures import duration, rotation_figures
from reconciler.cli.progress import ProgressView
from reconciler.cli.rehearsal import Settings, prepare
from reconciler.controller.runner import Controller
from reconciler.journal.store import Journal
from reconciler.sim.app import Simulator
from reconciler.telemetry.status import SiteStatus

SCENARIO = "mixed-14-2"
TIME_LIMIT_SECONDS = 110.0


def run_demo(*, speed: float, seed: int, keep: Path | None) -> int:
    workdir = keep if keep is not None else Path(tempfile.mkdtemp(prefix="sepm-reconciler-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        return asyncio.run(_demo(workdir, speed=speed, seed=seed))
    finally:
        if keep is None:
            shutil.rmtree(workdir, ignore_errors=True)


async def _demo(workdir: Path, *, speed: float, seed: int) -> int:
    print(f"Starting a simulated SEPM site ({SCENARIO}) at {speed:g}x real time ...")
    with Simulator(SCENARIO, speed=speed, seed=seed) as sim:
        rehearsal = prepare(sim, workdir)
        folder = rehearsal.folder
        before = rehearsal.location_settings()
        clients = len(sim.site.computers())
        print(f"Site {sim.site.name}: {len(sim.site.servers())} servers, {clients:,} clients, "
              f"desired state in {folder}")  # fmt: skip
        print("Rotating every server certificate; each gate waits for 3 heartbeats of evidence per client.\n")
        journal_path = workdir / "state" / "journal.db"
        outcome = await _rotate(folder, journal_path, site=sim.site.name)
        report = rehearsal.report()
        after = rehearsal.location_settings()
    return _final_report(outcome, report, before, after, journal_path, site=sim.site.name)


async def _rotate(folder: Path, journal_path: Path, *, site: str) -> dict[str, Any]:
    view = ProgressView()
    stop = asyncio.Event()
    seen: dict[str, Any] = {"rotation": None, "start": None, "observed": None, "stalled": None, "last": None}
    controller: Controller

    def on_status(status: SiteStatus) -> None:
        view.update(status)
        seen["last"] = status
        worker = controller.workers.get(site)
        if status.rotation_id and seen["rotation"] is None:
            seen["rotation"] = status.rotation_id
            if worker is not None and worker.last_plan is not None:
                seen["start"], seen["observed"] = worker.last_plan, worker.last_observed
        if seen["rotation"] is not None and status.phase == "Ready":
            stop.set()

    controller = Controller(folder=folder, journal_path=journal_path, watch=False, on_status=on_status)
    started = time.monotonic()
    run = asyncio.create_task(controller.run(stop))
    stopped = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait(
        {run, stopped}, timeout=TIME_LIMIT_SECONDS, return_when=asyncio.FIRST_COMPLETED
    )
    if not done:
        seen["stalled"] = "the rotation did not finish within the demo's time limit"
    elif run in done and not stop.is_set():
        seen["stalled"] = "the controller stopped (see its log above)"
    stop.set()
    stopped.cancel()
    await run
    view.finish()
    seen["seconds"] = time.monotonic() - started
    return seen


def _final_report(
    outcome: dict[str, Any],
    report: dict[str, Any],
    before: Settings,
    after: Settings,
    journal_path: Path,
    *,
    site: str,
) -> int:
    orphaned = report.get("orphaned", [])
    cut_off = report.get("cutOff", [])
    changed = sorted(k for k in before if before[k] != after.get(k))
    with Journal(journal_path) as journal:
        started = bool(journal.rotations(site, limit=1))
    figures = (
        rotation_figures(journal_path, site, start=outcome["start"], observed=outcome["observed"])
        if started and outcome["start"] is not None
        else None
    )
    completed = figures is not None and figures.completed
    print("\nReport (read from the simulator)")
    print(f"  rotation:                   {'completed' if completed else 'NOT completed'}"
          f"{'' if completed else ' (' + str(outcome.get('stalled') or _last(outcome)) + ')'}")  # fmt: skip
    print(f"  clients orphaned:           {len(orphaned)}")
    print(f"  clients ever cut off:       {len(cut_off)}")
    print(f"  original settings restored: {'yes' if not changed else 'NO: ' + ', '.join(map(str, changed))}")
    if figures is not None:
        real = outcome.get("seconds", 0)
        print(f"  rotation time (SEPM clock): {duration(figures.duration_ms)}  ({real:.1f} s real)")
        print(f"  physical bound:             {duration(figures.bound_ms)} (every client's 3rd check-in, "
              f"chained over the gates); ratio {_ratio(figures.ratio)}")  # fmt: skip
        print(f"  secure communications off:  {duration(figures.insecure_ms)}, bound "
              f"{duration(figures.insecure_bound_ms)}; ratio {_ratio(figures.insecure_ratio)}")  # fmt: skip
        print(f"  by hand with fixed timers:  {duration(figures.fixed_timers_ms)}; with 24 h waits: "
              f"{duration(figures.english_advice_ms)}")  # fmt: skip
    windows: dict[str, list[list[int | None]]] = report.get("insecureWindows", {})
    insecure_before = {group for (group, _), (_, secure) in before.items() if not secure}
    still_open = sorted(
        group
        for group, spans in windows.items()
        if group not in insecure_before and any(end is None for _, end in spans)
    )
    if windows:
        closed = "all closed again" if not still_open else "STILL OFF: " + ", ".join(still_open)
        print(f"  insecure groups:            {len(windows)} during the rotation, {closed}")
    ok = completed and not orphaned and not changed and not still_open
    print("\nResult: " + ("zero clients orphaned, originals restored." if ok else "FAILED (see above)."))
    return 0 if ok else 1


def _last(outcome: dict[str, Any]) -> str:
    status = outcome.get("last")
    return f"{status.reason}: {status.message}" if isinstance(status, SiteStatus) else "no status"


def _ratio(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else "-"
