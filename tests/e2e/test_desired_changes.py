"""Desired state edited while a rotation runs: the rotation finishes as started, then the new state."""

from __future__ import annotations

import copy

from reconciler.journal.store import Journal
from tests.e2e.harness import presented, run_controller


def at_first_gate(action):
    """An on_status hook running ``action`` once, when the rotation first waits on a gate."""
    state = {"done": False}

    def hook(status) -> None:
        if not state["done"] and status.reason == "WaitingForGate":
            state["done"] = True
            action()

    return hook


async def test_new_fingerprint_mid_rotation_is_queued_then_rotated(rehearse, journal_path):
    """A new fingerprint committed mid-rotation does not re-target it: the rotation completes to the first
    target, and a second rotation then takes the site to the new one."""
    rehearsal = rehearse("single-server")
    server = rehearsal.desired["servers"][0]
    first = server["certificate"]["sha256"]
    original = server["certificate"]["previousSha256"][0]
    second = rehearsal.new_keystore(server["name"])
    edited = copy.deepcopy(rehearsal.desired)
    keystore = next(
        p.name for p in (rehearsal.workdir / "keystores").iterdir() if p.name != f"{server['name']}.p12"
    )
    edited["servers"][0]["certificate"] = {
        "sha256": second,
        "previousSha256": [original, first],
        "keystore": {
            "path": f"../keystores/{keystore}",
            "password": server["certificate"]["keystore"]["password"],
        },
    }

    def two_rotations_done(status, seen) -> bool:
        rotations = {s.rotation_id for s in seen if s.rotation_id}
        return status.phase == "Ready" and len(rotations) >= 2

    run = await run_controller(
        rehearsal,
        journal_path,
        watch=True,
        on_status=at_first_gate(lambda: rehearsal.write(edited)),
        until=two_rotations_done,
        timeout=120,
    )

    assert not run.timed_out, f"{run.last.reason}: {run.last.message}"
    assert any(s.queued_change for s in run.statuses), "the queued change was never shown in status"
    with Journal(journal_path) as journal:
        rotations = list(reversed(journal.rotations(rehearsal.site, limit=5)))
        installed = [
            [r["step_id"] for r in journal.steps(rot["id"]) if r["step_id"].startswith("update_certificate")]
            for rot in rotations
        ]
    assert [r["outcome"] for r in rotations] == ["completed", "completed"]
    assert '"sha256":"' + first in rotations[0]["desired_json"].replace(" ", "")
    assert '"sha256":"' + second in rotations[1]["desired_json"].replace(" ", "")
    assert all(steps for steps in installed)
    assert presented(rehearsal) == {server["name"]: second}
    assert rehearsal.report()["orphaned"] == []


async def test_invalid_file_mid_rotation_is_reported_and_never_acted_on(rehearse, journal_path):
    """An invalid desired-state file committed mid-rotation is reported in status; the rotation finishes
    with the last valid state, and nothing is done on SEPM because of the invalid file."""
    rehearsal = rehearse("single-server")
    before = rehearsal.location_settings()
    broken = rehearsal.desired_file.read_text() + "\nsurprise: [unclosed\n"

    def break_it() -> None:
        rehearsal.desired_file.write_text(broken)

    def finished_and_reported(status, seen) -> bool:
        return status.phase == "Ready" and any(s.rotation_id for s in seen) and bool(status.desired_errors)

    run = await run_controller(
        rehearsal,
        journal_path,
        watch=True,
        on_status=at_first_gate(break_it),
        until=finished_and_reported,
        timeout=120,
    )

    assert not run.timed_out, f"{run.last.reason}: {run.last.message}"
    errors = run.last.desired_errors
    assert any(f"{rehearsal.desired_file.name}:" in e for e in errors), errors
    assert presented(rehearsal) == rehearsal.new_fingerprints
    assert rehearsal.location_settings() == before
    with Journal(journal_path) as journal:
        assert [r["outcome"] for r in journal.rotations(rehearsal.site, limit=5)] == ["completed"]
    assert rehearsal.report()["orphaned"] == []
