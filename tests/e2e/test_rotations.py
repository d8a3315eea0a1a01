"""Full rotations of every shipped scenario by the real controller against the real simulator."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from reconciler.cli.main import main
from reconciler.journal.store import Journal
from tests.e2e.harness import last_rotation, presented, run_controller


def assert_rotated_safely(rehearsal, journal_path: Path, before) -> dict:
    """The rotation completed, every server presents its new certificate, no client is orphaned,
    every location has exactly its original settings, and no insecure window is left open."""
    rotation = last_rotation(journal_path, rehearsal.site)
    assert rotation["outcome"] == "completed"
    assert presented(rehearsal) == rehearsal.new_fingerprints
    report = rehearsal.report()
    assert report["orphaned"] == []
    assert rehearsal.location_settings() == before
    insecure_before = {group for (group, _), (_, secure) in before.items() if not secure}
    for group, windows in report["insecureWindows"].items():
        if group not in insecure_before:
            assert all(end is not None for _, end in windows), f"{group} left insecure"
    return report


@pytest.mark.parametrize(
    "scenario",
    [
        pytest.param("single-server", id="single-server"),
        pytest.param("two-server-failover", id="failover"),
        pytest.param("mixed-14-2", id="mixed-14-2"),
        pytest.param("failover-14-2-ru1", id="failover-14-2-ru1"),
        pytest.param("failover-14-2-ru2", id="failover-14-2-ru2"),
        pytest.param("nested-overrides", id="nested-overrides"),
        pytest.param("custom-http-port", id="custom-http-port"),
        pytest.param("already-insecure", id="already-insecure"),
        pytest.param("one-server-msl", id="one-server-msl"),
    ],
)
async def test_full_rotation_orphans_nobody_and_restores_originals(rehearse, journal_path, scenario):
    """Each shipped scenario is rotated end to end with zero orphaned clients and originals restored."""
    rehearsal = rehearse(scenario)
    before = rehearsal.location_settings()
    msls_before = sorted(m.name for m in rehearsal.sim.site.msls())

    run = await run_controller(rehearsal, journal_path)

    assert not run.timed_out, f"did not finish: {run.last.reason}: {run.last.message}"
    assert_rotated_safely(rehearsal, journal_path, before)
    assert sorted(m.name for m in rehearsal.sim.site.msls()) == msls_before, "HTTP copies were not deleted"


async def test_failover_site_rolls_servers_one_gate_at_a_time(rehearse, journal_path):
    """On a failover site no client is ever cut off: each server is updated only after the previous gate."""
    rehearsal = rehearse("two-server-failover")
    run = await run_controller(rehearsal, journal_path)
    assert not run.timed_out
    with Journal(journal_path) as journal:
        rotation = journal.rotations(rehearsal.site, limit=1)[0]
        order = [row["step_id"] for row in journal.steps(rotation["id"]) if row["done_wall"] is not None]
    assert rotation["procedure"] == "multi-server"
    updates = [i for i, step in enumerate(order) if step.startswith("update_certificate:")]
    assert len(updates) == 2
    assert any(step.startswith("gate:") for step in order[updates[0] + 1 : updates[1]])
    assert not any(step.startswith("disable_secure") for step in order), (
        "failover site needs no insecure window"
    )
    assert rehearsal.report()["cutOff"] == []


async def test_custom_http_port_reaches_the_msl_copy(rehearse, journal_path):
    """The HTTP copy of the MSL carries the site's custom HTTP port, not 8014."""
    rehearsal = rehearse("custom-http-port")
    custom = {s["name"]: s["ports"]["http"] for s in rehearsal.desired["servers"]}
    assert set(custom.values()) != {8014}
    run = await run_controller(rehearsal, journal_path)
    assert not run.timed_out
    copies = [e for e in rehearsal.report()["events"] if e["action"] == "copy-msl"]
    assert copies, "no MSL copy was made"
    ports = {entry[0]: entry[2] for entry in copies[0]["after"]["entries"]}
    assert ports == custom
    assert copies[0]["after"]["protocol"] == "http"


async def test_already_insecure_group_is_not_reenabled(rehearse, journal_path):
    """A group whose secure communication an administrator had disabled stays disabled afterwards."""
    rehearsal = rehearse("already-insecure")
    before = rehearsal.location_settings()
    insecure = {key for key, (_, secure) in before.items() if not secure}
    assert insecure, "the scenario must start with an insecure location"
    run = await run_controller(rehearsal, journal_path)
    assert not run.timed_out
    after = rehearsal.location_settings()
    assert {key for key, (_, secure) in after.items() if not secure} == insecure
    flips = [
        e["target"]
        for e in rehearsal.report()["events"]
        if e["action"] == "patch-location-settings"
        and e["before"]["secureCommunications"] != e["after"]["secureCommunications"]
    ]
    assert flips, "the other groups were made insecure and secure again"
    assert not any(
        target.startswith(group + " ") or target == group for target in flips for (group, _) in insecure
    )


async def test_operator_actuator_waits_for_acknowledgements(rehearse, journal_path):
    """With operator actuators the controller publishes console tasks, completes the MSL copy only on an
    acknowledgement and the certificate update only when TLS shows it."""
    rehearsal = rehearse("single-server", operator=True, delete_copies=False)
    before = rehearsal.location_settings()
    console = rehearsal.console()
    done_tasks: set[str] = set()
    tasks_seen: list[tuple[str, tuple[str, ...]]] = []

    def operator(status) -> None:
        for task in status.operator_tasks:
            if task.step in done_tasks:
                continue
            done_tasks.add(task.step)
            tasks_seen.append((task.step, task.instructions))
            asyncio.get_running_loop().call_soon(perform, task.step)

    def perform(step: str) -> None:
        if step.startswith("copy_msl:"):
            source = step.split(":", 1)[1]
            console.call(
                "POST", "msls/copy", {"source": source, "name": f"{source} (HTTP)", "protocol": "http"}
            )
            code = main(
                [
                    "ack",
                    rehearsal.site,
                    step,
                    "--note",
                    "copied in the console",
                    "--journal",
                    str(journal_path),
                ]
            )
            assert code == 0
        elif step.startswith("update_certificate:"):
            server = step.split(":", 1)[1]
            keystore = rehearsal.workdir / "keystores" / f"{server}.p12"
            import base64
            import os

            from reconciler.cli.rehearsal import KEYSTORE_VARIABLE

            console.call(
                "POST",
                f"servers/{server}/certificate",
                {
                    "pkcs12": base64.b64encode(keystore.read_bytes()).decode(),
                    "password": os.environ[KEYSTORE_VARIABLE],
                },
            )

    run = await run_controller(rehearsal, journal_path, on_status=operator)

    assert not run.timed_out, f"did not finish: {run.last.reason}: {run.last.message}"
    kinds = [step.split(":")[0] for step, _ in tasks_seen]
    assert kinds == ["copy_msl", "update_certificate"]
    copy_instructions = tasks_seen[0][1]
    assert any("Use HTTP protocol" in line for line in copy_instructions)
    assert any("sepm-reconciler ack" in line for line in copy_instructions)
    assert_rotated_safely(rehearsal, journal_path, before)
    with Journal(journal_path) as journal:
        rotation = journal.rotations(rehearsal.site, limit=1)[0]
        copy_row = next(r for r in journal.steps(rotation["id"]) if r["step_id"].startswith("copy_msl:"))
    assert "acknowledged" in copy_row["message"]
