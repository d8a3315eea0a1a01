"""kill -9 of the controller at step boundaries and at random instants; every restart resumes safely."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from reconciler.journal.store import Journal
from tests.e2e.harness import presented

KILLS = 24


def start_controller(rehearsal, journal_path: Path, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reconciler.cli",
            "run",
            str(rehearsal.folder),
            "--journal",
            str(journal_path),
            "--lease-ttl",
            "1.5",
            "--metrics-port",
            "0",
            "--log-level",
            "WARNING",
        ],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # kill -9 hits the controller only, as a crash would
    )


def done_steps(journal_path: Path, site: str) -> tuple[int, str | None]:
    """How many steps are done, and the rotation's outcome (None while it runs)."""
    if not journal_path.exists():
        return 0, None
    with Journal(journal_path) as journal:
        rotations = journal.rotations(site, limit=1)
        if not rotations:
            return 0, None
        rows = journal.steps(rotations[0]["id"])
        return sum(1 for r in rows if r["done_wall"] is not None), rotations[0]["outcome"]


def wait_holds_lease(
    journal_path: Path, site: str, process: subprocess.Popen[bytes], timeout: float = 60
) -> None:
    """Wait until ``process`` holds the site's lease in the journal."""
    until = time.monotonic() + timeout
    while time.monotonic() < until and process.poll() is None:
        with Journal(journal_path) as journal:
            holder = journal.lock_holder(site)
        if holder is not None and holder["owner"].endswith(f":{process.pid}"):
            return
        time.sleep(0.05)
    raise AssertionError(f"controller {process.pid} did not take the lease of {site} in {timeout:.0f}s")


def setting_changes(events: list[dict]) -> Counter[tuple[str, str]]:
    """How many times each location's MSL and secure flag changed, from the simulator's event log."""
    counts: Counter[tuple[str, str]] = Counter()
    for event in events:
        if event["action"] == "patch-location-settings":
            for field in ("msl", "secureCommunications"):
                if event["before"][field] != event["after"][field]:
                    counts[(event["target"], field)] += 1
    return counts


def test_kill9_at_every_boundary_and_random_instants_orphans_nobody(rehearse, journal_path, tmp_path):
    """24 kill -9s, half right after a step is journaled done and half at random instants inside steps:
    the rotation still completes, orphans nobody, applies no certificate or flag change twice, and
    restores the originals."""
    rehearsal = rehearse("mixed-14-2", speed=400.0)
    before = rehearsal.location_settings()
    rng = random.Random(20261129)
    log = tmp_path / "controller.log"
    kills = 0
    outcome = None
    deadline = time.monotonic() + 240
    process = start_controller(rehearsal, journal_path, log)
    try:
        while outcome is None and time.monotonic() < deadline:
            if kills < KILLS:
                done_before, _ = done_steps(journal_path, rehearsal.site)
                if kills % 2 == 0:
                    # A step boundary: kill as soon as the journal shows one more step done.
                    until = time.monotonic() + 20
                    while (
                        time.monotonic() < until
                        and done_steps(journal_path, rehearsal.site)[0] == done_before
                    ):
                        time.sleep(0.02)
                else:
                    time.sleep(rng.uniform(0.05, 1.2))
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
                kills += 1
                process = start_controller(rehearsal, journal_path, log)
            else:
                time.sleep(0.3)
            _, outcome = done_steps(journal_path, rehearsal.site)
        # The last controller may have been started a moment ago: SIGTERM is only its to handle once it
        # runs (it holds the site's lease after its signal handlers are in place).
        wait_holds_lease(journal_path, rehearsal.site, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()

    assert kills >= 20
    assert outcome == "completed", log.read_text()[-3000:]
    assert presented(rehearsal) == rehearsal.new_fingerprints
    report = rehearsal.report()
    assert report["orphaned"] == []
    assert rehearsal.location_settings() == before
    changes = Counter((e["action"], e["target"]) for e in report["events"])
    updates = {target: n for (action, target), n in changes.items() if action == "update-certificate"}
    assert updates == dict.fromkeys(rehearsal.new_fingerprints, 1), "a certificate was installed twice"
    field_changes = setting_changes(report["events"])
    assert field_changes, "the mixed site has a group given the single-server treatment"
    for (target, field), n in field_changes.items():
        assert n == 2, f"{target}: {field} changed {n} times, not once there and once back"
    assert process.returncode == 0, "the last controller must shut down cleanly on SIGTERM"


SLOW_IMPORT = """
import os, subprocess, sys
counter, server, keystore, *console = sys.argv[1:]
with open(counter, "a") as out:
    out.write(server + "\\n")
# Like a real import: the command returns at once, SEPM shows the new certificate seconds later.
subprocess.Popen(
    [sys.executable, "-c", "import subprocess, sys, time; time.sleep(3); subprocess.run(sys.argv[1:], check=True)",
     *console, "update-certificate", "--server", server, "--keystore", keystore, "--password-env", "KEYSTORE_PASSWORD"],
    start_new_session=True,
)
"""


def test_kill9_while_a_certificate_import_settles_does_not_import_twice(rehearse, journal_path, tmp_path):
    """The controller is killed right after it ran a certificate import whose effect shows only seconds
    later; the restarted controller waits for the change (read from the journal) instead of importing
    again, and the rotation completes."""
    from reconciler.cli.rehearsal import console_argv

    rehearsal = rehearse("single-server", speed=400.0)
    script = tmp_path / "slow_import.py"
    script.write_text(SLOW_IMPORT)
    counter = tmp_path / "imports.txt"
    update = rehearsal.desired["actuators"]["certificateUpdate"]["command"]
    update["argv"] = [
        sys.executable,
        str(script),
        str(counter),
        "{server}",
        "{keystore}",
        *console_argv(rehearsal.endpoints_file),
    ]
    update["timeout"] = "10s"
    update["settle"] = "60s"
    rehearsal.write()
    log = tmp_path / "controller.log"
    process = start_controller(rehearsal, journal_path, log)
    try:
        deadline = time.monotonic() + 60
        while not counter.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        process = start_controller(rehearsal, journal_path, log)
        deadline = time.monotonic() + 90
        while done_steps(journal_path, rehearsal.site)[1] is None and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert done_steps(journal_path, rehearsal.site)[1] == "completed", log.read_text()[-3000:]
    assert counter.read_text().splitlines() == list(rehearsal.new_fingerprints), "the import ran twice"
    assert presented(rehearsal) == rehearsal.new_fingerprints
    assert rehearsal.report()["orphaned"] == []
