"""A journal lost mid-rotation: SEPM's own state stops the controller from acting blindly, and `adopt`
(continue, or restore) takes the rotation over without orphaning anyone."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from reconciler.cli.main import main
from reconciler.journal.store import Journal
from tests.e2e.harness import presented, run_controller
from tests.e2e.test_rotations import assert_rotated_safely


def cli(journal_path: Path, *args: str) -> int:
    return main([*args, "--journal", str(journal_path)])


def lose(journal_path: Path) -> None:
    """What a deleted volume or a new pod without its PVC leaves: no journal, no status files."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{journal_path}{suffix}").unlink(missing_ok=True)
    shutil.rmtree(journal_path.parent / "status", ignore_errors=True)


async def _prepare_then_lose_the_journal(rehearsal, journal_path: Path) -> dict:
    """Run until the site is prepared (waiting at the prepare gate), then stop and lose the journal."""
    run = await run_controller(
        rehearsal, journal_path, until=lambda s, _seen: s.current_step == "gate:prepared", timeout=60
    )
    assert not run.timed_out, f"{run.last.reason}: {run.last.message}"
    lose(journal_path)
    return rehearsal.location_settings()


@pytest.mark.parametrize("scenario", ["single-server", "mixed-14-2"])
async def test_without_its_journal_a_prepared_site_is_never_acted_on_blindly(
    rehearse, journal_path, scenario
):
    """Restarted on an empty journal, the controller stalls with RotationWithoutJournal and the way out,
    and changes nothing on SEPM: no certificate update, no location touched."""
    rehearsal = rehearse(scenario)
    old = presented(rehearsal)
    prepared = await _prepare_then_lose_the_journal(rehearsal, journal_path)

    run = await run_controller(
        rehearsal,
        journal_path,
        until=lambda s, seen: sum(x.reason == "RotationWithoutJournal" for x in seen) >= 8,
        timeout=30,
    )

    assert not run.timed_out, f"{run.last.reason}: {run.last.message}"
    assert run.last.phase == "Stalled"
    assert f"sepm-reconciler adopt {rehearsal.site}" in run.last.message
    assert presented(rehearsal) == old, "a certificate was updated without the journal"
    assert rehearsal.location_settings() == prepared, "a location was changed without the journal"
    with Journal(journal_path) as journal:
        assert journal.rotations(rehearsal.site) == []


async def test_adopt_continues_the_rotation_and_restores_the_originals_at_the_end(rehearse, journal_path):
    """`adopt` rebuilds the originals from the desired state; the rotation then completes with zero
    orphaned and every location exactly as before the first rotation began."""
    rehearsal = rehearse("single-server")
    before = rehearsal.location_settings()
    await _prepare_then_lose_the_journal(rehearsal, journal_path)
    asked = {"adopt": False}

    def adopt_once(status) -> None:
        if status.reason == "RotationWithoutJournal" and not asked["adopt"]:
            asked["adopt"] = True
            assert cli(journal_path, "adopt", rehearsal.site, "--reason", "journal volume lost") == 0

    run = await run_controller(rehearsal, journal_path, on_status=adopt_once, timeout=90)

    assert asked["adopt"]
    assert not run.timed_out, f"{run.last.reason}: {run.last.message}"
    assert_rotated_safely(rehearsal, journal_path, before)


async def test_adopt_with_restore_puts_the_originals_back_without_updating(rehearse, journal_path):
    """`adopt --restore` restores every location, leaves the certificates as they were, ends the
    rotation as aborted and suspends the site."""
    rehearsal = rehearse("single-server")
    before = rehearsal.location_settings()
    old = presented(rehearsal)
    await _prepare_then_lose_the_journal(rehearsal, journal_path)

    def adopt_to_restore(status) -> None:
        if status.reason == "RotationWithoutJournal":
            assert cli(journal_path, "adopt", rehearsal.site, "--restore") in (0, 1)

    run = await run_controller(
        rehearsal,
        journal_path,
        on_status=adopt_to_restore,
        until=lambda s, _seen: s.phase == "Suspended",
        timeout=90,
    )

    assert not run.timed_out, f"{run.last.reason}: {run.last.message}"
    assert rehearsal.location_settings() == before
    assert presented(rehearsal) == old
    assert rehearsal.report()["orphaned"] == []
    with Journal(journal_path) as journal:
        assert journal.rotations(rehearsal.site, limit=1)[0]["outcome"] == "aborted"
