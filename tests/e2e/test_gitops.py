"""GitOps end to end: the controller on git-sync's layout, its journal beside the checkout, the applied
revision carried into status, /status, the metrics and the journal."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import pytest
import yaml

from reconciler.controller.desired_source import DesiredSource
from reconciler.journal.store import Journal
from tests.controller.gitsync import GitSync
from tests.e2e.harness import run_controller, scrape
from tests.e2e.test_rotations import assert_rotated_safely
from tests.e2e.test_telemetry import samples


def _files(rehearsal, desired: dict) -> dict[str, str]:
    """The desired-state file and the keystores it names (relative paths), as the repository holds them."""
    files = {f"desired-state/{rehearsal.site}.yaml": yaml.safe_dump(desired, sort_keys=False)}
    for keystore in (rehearsal.workdir / "keystores").iterdir():
        files[f"keystores/{keystore.name}"] = keystore.read_bytes().decode("latin-1")
    return files


async def test_controller_follows_git_sync_swaps_and_tells_the_applied_revision(
    rehearse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """A rotation from commit 1 completes with zero orphaned; its journal (beside the checkout) never
    reloads the desired state; then three more commits, each swapped in by git-sync with old worktrees
    removed, are picked up (reloaded) within 2 s and shown in /status, the revision metric and the journal."""
    rehearsal = rehearse("single-server")
    before = rehearsal.location_settings()
    sync = GitSync(tmp_path / "gitops")
    files = _files(rehearsal, rehearsal.desired)
    # Keystores are binary: write them as bytes, not text.
    binary = {
        name: (rehearsal.workdir / "keystores" / Path(name).name)
        for name in files
        if name.startswith("keystores/")
    }
    for name in binary:
        files.pop(name)
    for name, source in binary.items():
        (sync.origin / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, sync.origin / name)
    first = sync.commit(files, "rotate hq to the 2026 certificates")
    sync.sync()
    rehearsal.folder = sync.link / "desired-state"
    journal_path = sync.root / "state" / "journal.db"
    reloads: list[float] = []
    real_reload = DesiredSource.reload

    def counting_reload(self: DesiredSource) -> bool:
        reloads.append(time.monotonic())
        return real_reload(self)

    monkeypatch.setattr(DesiredSource, "reload", counting_reload)
    holder: dict = {}
    seen: dict = {"commits": [], "applied": {}}

    async def push_three_commits() -> None:
        reloads_during_rotation = len(reloads)
        seen["reloads_during_rotation"] = reloads_during_rotation
        for n in (1, 2, 3):
            desired = dict(rehearsal.desired)
            desired["controller"] = {"pollInterval": f"{250 + 10 * n}ms"}
            commit = sync.commit(
                {f"desired-state/{rehearsal.site}.yaml": yaml.safe_dump(desired)}, f"poll tweak {n}"
            )
            swapped = time.monotonic()
            sync.sync()
            while time.monotonic() - swapped < 10:
                status = (await scrape(holder["controller"], "/status")).json()[0]
                if status["revision"]["commit"] == commit:
                    # Reacted: the first reload after the swap (the status follows one observation later).
                    seen["applied"][commit] = min(t for t in reloads if t >= swapped) - swapped
                    break
                await asyncio.sleep(0.05)
            seen["commits"].append(commit)
        seen["metrics"] = samples((await scrape(holder["controller"], "/metrics")).text)
        seen["done"] = True

    def hook(status) -> None:
        rotated = any(s.rotation_id for s in run_statuses)
        if status.phase == "Ready" and status.rotation_id is None and "task" not in seen and rotated:
            seen["task"] = asyncio.get_running_loop().create_task(push_three_commits())

    run_statuses: list = []

    def record(status) -> None:
        run_statuses.append(status)
        hook(status)

    run = await run_controller(
        rehearsal,
        journal_path,
        watch=True,
        on_status=record,
        until=lambda _s, _seen: seen.get("done", False),
        timeout=120,
        metrics_port=0,
        controller_hook=lambda c: holder.update(controller=c),
    )

    assert not run.timed_out, f"{run.last.reason}: {run.last.message}"
    assert_rotated_safely(rehearsal, journal_path, before)
    assert seen["reloads_during_rotation"] <= 2, (
        "journal writes beside the checkout reloaded the desired state"
    )
    assert len(seen["applied"]) == 3, f"not every commit was applied: {seen}"
    assert all(seconds < 2.0 for seconds in seen["applied"].values()), seen["applied"]
    last = seen["commits"][-1]
    info = [labels for (name, labels) in seen["metrics"] if name == "sepm_reconciler_applied_revision_info"]
    assert info == [(("revision", last), ("site", rehearsal.site), ("subject", "poll tweak 3"))]
    with Journal(journal_path) as journal:
        rotation = journal.rotations(rehearsal.site, limit=1)[0]
    assert (rotation["git_revision"], rotation["git_subject"]) == (
        first,
        "rotate hq to the 2026 certificates",
    )
