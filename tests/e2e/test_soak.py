"""Soak: many rotations across the shipped scenarios with random simulator faults, random kill -9s of the
controller and, once, its journal deleted mid-rotation. Nothing may be orphaned, stay cut off, be left
changed, or be applied twice. Marked ``soak``; CI runs it (a few minutes). Prints its figures.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler.cli.main import main
from reconciler.cli.rehearsal import Rehearsal, prepare
from reconciler.sim.app import Simulator
from tests.e2e.harness import presented
from tests.e2e.test_kill9 import done_steps, setting_changes, start_controller
from tests.e2e.test_lost_journal import lose

SCENARIOS = (
    "single-server",
    "two-server-failover",
    "mixed-14-2",
    "nested-overrides",
    "custom-http-port",
    "already-insecure",
    "one-server-msl",
    "failover-14-2-ru1",
    "failover-14-2-ru2",
)
ROTATIONS = 20
SPEED = 900.0
PER_ROTATION_SECONDS = 300.0
"""A rotation takes 7 to 20 s here; a kill -9 while a command may be running holds that step for the
command's timeout plus settle (22 s of wall time in a rehearsal), and up to four kills land per rotation."""


@dataclass
class Figures:
    scenario: str
    kills: int = 0
    faults: int = 0
    journal_lost: bool = False
    seconds: float = 0.0
    outcome: str | None = None
    done: int = 0
    """steps done when last looked at (says where a rotation that did not complete stood)."""


def _fault(sim: Simulator, rng: random.Random) -> str:
    """Switch one random fault on (they are cleared before the next)."""
    kind = rng.choice(["errors", "429", "tokens", "delay", "page", "server-down"])
    if kind == "errors":
        sim.faults.fail_share(rng.choice([0.1, 0.3]), status=rng.choice([500, 503]))
    elif kind == "429":
        sim.faults.too_many_requests(rng.randint(1, 5), retry_after_s=1)
    elif kind == "tokens":
        sim.faults.expire_tokens()
    elif kind == "delay":
        sim.faults.delay(rng.choice([0.02, 0.1]))
    elif kind == "page":
        sim.faults.fail_page(rng.choice([1, 2]))
    else:
        sim.faults.server_down(rng.choice([v.name for v in sim.site.servers()]))
    return kind


def _rotate(
    index: int, scenario: str, workdir: Path, rng: random.Random, *, lose_journal: bool
) -> tuple[Figures, dict, Rehearsal]:
    figures = Figures(scenario)
    sim = Simulator(scenario, speed=SPEED, seed=index)
    sim.start()
    rehearsal = prepare(sim, workdir)
    before = rehearsal.location_settings()
    journal_path = workdir / "state" / "journal.db"
    log = workdir / "controller.log"
    started = time.monotonic()
    process = start_controller(rehearsal, journal_path, log)
    fault_until = 0.0
    adopted = False
    try:
        while time.monotonic() - started < PER_ROTATION_SECONDS:
            time.sleep(rng.uniform(0.2, 1.0))
            done, outcome = done_steps(journal_path, rehearsal.site)
            figures.done = done
            if outcome is not None:
                figures.outcome = outcome
                break
            now = time.monotonic()
            if fault_until and now > fault_until:
                sim.faults.clear()
                fault_until = 0.0
            roll = rng.random()
            if lose_journal and not figures.journal_lost and done >= 3:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
                lose(journal_path)
                figures.journal_lost = True
                process = start_controller(rehearsal, journal_path, log)
            elif figures.journal_lost and not adopted and journal_path.exists():
                adopted = (
                    main(["adopt", rehearsal.site, "--journal", str(journal_path), "--reason", "soak"]) == 0
                )
            elif roll < 0.15 and figures.kills < 4:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
                figures.kills += 1
                process = start_controller(rehearsal, journal_path, log)
            elif roll < 0.35 and not fault_until:
                _fault(sim, rng)
                figures.faults += 1
                fault_until = now + rng.uniform(0.5, 2.0)
    finally:
        sim.faults.clear()
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
    figures.seconds = time.monotonic() - started
    return figures, before, rehearsal


def _tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else "(no log)"


@pytest.mark.soak
def test_soak_many_rotations_with_faults_kills_and_a_lost_journal(tmp_path: Path):
    """At least 20 rotations over every small shipped scenario, with random faults and kill -9s and one
    journal deleted mid-rotation (then adopted): every rotation completes, nobody is orphaned, no client
    stays cut off, originals come back exactly, and no certificate or setting is changed twice."""
    rng = random.Random(20261130)
    lost_at = rng.randrange(ROTATIONS)
    rows: list[Figures] = []
    for index in range(ROTATIONS):
        scenario = SCENARIOS[index % len(SCENARIOS)]
        figures, before, rehearsal = _rotate(
            index, scenario, tmp_path / f"r{index:02d}", rng, lose_journal=index == lost_at
        )
        try:
            report, after = rehearsal.report(), rehearsal.location_settings()
            rows.append(figures)
            where = f"rotation {index} ({scenario})"
            assert figures.outcome == "completed", (
                f"{where} did not complete in {PER_ROTATION_SECONDS:.0f}s ({figures}); the controller's "
                f"last lines:\n{_tail(tmp_path / f'r{index:02d}' / 'controller.log')}"
            )
            assert report["orphaned"] == [], f"{where}: orphaned {report['orphaned'][:3]}"
            assert all(run.get("to") is not None for run in report["cutOff"]), (
                f"{where}: a client stays cut off"
            )
            assert after == before, f"{where}: originals not restored"
            updates = Counter(e["target"] for e in report["events"] if e["action"] == "update-certificate")
            assert set(updates.values()) == {1}, f"{where}: a certificate was installed twice: {updates}"
            for (target, field), n in setting_changes(report["events"]).items():
                assert n == 2, f"{where}: {target} {field} changed {n} times"
            assert presented(rehearsal) == rehearsal.new_fingerprints, f"{where}: not every server rotated"
        finally:
            rehearsal.sim.stop()
    print("\nsoak:", f"{len(rows)} rotations")
    print(f"{'scenario':<20} {'kills':>5} {'faults':>6} {'lost journal':>12} {'seconds':>8} outcome")
    for row in rows:
        print(f"{row.scenario:<20} {row.kills:>5} {row.faults:>6} {'yes' if row.journal_lost else '':>12} "
              f"{row.seconds:>8.1f} {row.outcome}")  # fmt: skip
    print(f"kills {sum(r.kills for r in rows)}, faults {sum(r.faults for r in rows)}, "
          f"journal lost {sum(r.journal_lost for r in rows)}, {sum(r.seconds for r in rows):.0f} s")  # fmt: skip
    assert len(rows) >= 20
    assert any(r.journal_lost for r in rows)
