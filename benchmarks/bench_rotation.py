"""Benchmark: how close real rotations come to what their evidence allows, on every shipped scenario.

For each scenario and speed, a simulated site (in this process, over loopback HTTPS) is rotated end to end
by the real controller with command actuators, and the figures of `reconciler.cli.figures` are printed in
SEPM time: the rotation's duration, the physical bound taken at its start, their ratio; the time with
secure communications off, its own bound and their ratio; and, for comparison, a person following the
source procedure with fixed timers (N heartbeats after each change) and Broadcom's English advice (24 h).
Prints figures, asserts nothing. Run:

    .venv/bin/python benchmarks/bench_rotation.py [--speed 60 --speed 600] [--scenario NAME ...]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from reconciler.cli.figures import RotationFigures, duration, rotation_figures
from reconciler.cli.rehearsal import prepare
from reconciler.controller.runner import Controller
from reconciler.sim.app import Simulator
from reconciler.sim.scenario_files import shipped_scenarios
from reconciler.telemetry.status import SiteStatus

TIME_LIMIT = 900.0


async def rotate(
    scenario: str, speed: float, seed: int, workdir: Path
) -> tuple[RotationFigures, dict[str, Any], float]:
    with Simulator(scenario, speed=speed, seed=seed) as sim:
        rehearsal = prepare(sim, workdir)
        journal_path = workdir / "state" / "journal.db"
        stop = asyncio.Event()
        seen: dict[str, Any] = {}
        controller: Controller

        def on_status(status: SiteStatus) -> None:
            worker = controller.workers.get(rehearsal.site)
            if status.rotation_id and "start" not in seen and worker is not None:
                seen["start"], seen["observed"] = worker.last_plan, worker.last_observed
            if "start" in seen and status.phase == "Ready":
                stop.set()

        controller = Controller(
            folder=rehearsal.folder, journal_path=journal_path, watch=False, on_status=on_status
        )
        began = time.monotonic()
        run = asyncio.create_task(controller.run(stop))
        try:
            await asyncio.wait_for(stop.wait(), timeout=TIME_LIMIT)
        finally:
            stop.set()
            await run
        real = time.monotonic() - began
        report = rehearsal.report()
    figures = rotation_figures(journal_path, rehearsal.site, start=seen["start"], observed=seen["observed"])
    return figures, report, real


def ratio(value: float | None) -> str:
    return f"{value:.3f}" if value is not None else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", type=float, action="append", help="simulated seconds per real second")
    parser.add_argument("--scenario", action="append", help="a shipped scenario (default: all but large)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    speeds = args.speed or [60.0, 600.0]
    scenarios = args.scenario or [s for s in shipped_scenarios() if s != "large"]
    header = (
        f"{'scenario':<20} {'speed':>5} {'duration':>9} {'bound':>9} {'ratio':>6} {'insecure':>9} "
        f"{'bound':>9} {'ratio':>6} {'fixed timers':>12} {'24h advice':>10} {'orphaned':>8} {'real s':>7}"
    )
    print(header)
    print("-" * len(header))
    for speed in speeds:
        for scenario in scenarios:
            with tempfile.TemporaryDirectory(prefix="bench-rotation-") as workdir:
                f, report, real = asyncio.run(rotate(scenario, speed, args.seed, Path(workdir)))
            print(
                f"{scenario:<20} {speed:>5g} {duration(f.duration_ms):>9} {duration(f.bound_ms):>9} "
                f"{ratio(f.ratio):>6} {duration(f.insecure_ms):>9} {duration(f.insecure_bound_ms):>9} "
                f"{ratio(f.insecure_ratio):>6} {duration(f.fixed_timers_ms):>12} "
                f"{duration(f.english_advice_ms):>10} {len(report.get('orphaned', [])):>8} {real:>7.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
