"""A rotation whose saved desired state a newer release refuses stalls its site with the way out, and
changes nothing (it is never planned with rules it was not started under)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import yaml

from reconciler.controller.runner import Controller
from reconciler.journal.store import Journal
from tests.e2e.harness import unreachable_site


async def test_a_rotation_started_under_older_rules_stalls_with_the_way_out(tmp_path: Path, monkeypatch):
    """The journal's rotation was saved with heartbeatCycles 500 (refused today): the site stalls with
    RotationDesiredStateRefused naming the field, and SEPM is never contacted."""
    monkeypatch.setenv("UNUSED_PASSWORD", "x")
    folder = tmp_path / "desired-state"
    folder.mkdir()
    (folder / "hq.yaml").write_text(yaml.safe_dump(unreachable_site("hq")))
    journal_path = tmp_path / "state" / "journal.db"
    old_rules = {**unreachable_site("hq"), "gates": {"heartbeatCycles": 500}}
    with Journal(journal_path) as journal:
        lease = journal.acquire_lock("hq", owner="old-release", ttl_seconds=0.01)
        rotation = journal.start_rotation(
            lease,
            desired_json=json.dumps(old_rules),
            desired_digest="sha256:old",
            git_revision="",
            procedure="single-server",
            started_at=1,
            originals={},
            original_certificates={},
        )
    await asyncio.sleep(0.05)
    statuses: list = []
    controller = Controller(folder=folder, journal_path=journal_path, watch=False, on_status=statuses.append)
    stop = asyncio.Event()
    task = asyncio.create_task(controller.run(stop))
    await asyncio.sleep(2)
    stop.set()
    assert await task == 0

    assert statuses
    last = statuses[-1]
    assert (last.phase, last.reason) == ("Stalled", "RotationDesiredStateRefused")
    assert rotation in last.message
    assert "gates.heartbeatCycles" in last.message
    assert "the release that started it" in last.message
