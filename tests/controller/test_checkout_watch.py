"""The desired-state watch in git-sync's exact layout: every swap is seen within 2 seconds, old worktrees
vanish harmlessly, and files beside the folder (the journal, status files) never count."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import watchfiles
import yaml

from reconciler.controller.desired_source import DesiredSource
from reconciler.controller.revision import read_revision
from tests.controller.gitsync import GitSync

FP = [":".join([f"{n:02X}"] * 32) for n in range(1, 6)]


def site(fingerprint: str) -> str:
    return yaml.safe_dump(
        {
            "site": "hq",
            "api": {"url": "https://127.0.0.1:8446", "username": "admin", "password": {"env": "X"}},
            "servers": [{"name": "sepm01", "address": "127.0.0.1", "certificate": {"sha256": fingerprint}}],
            "managementServerLists": [{"name": "Default", "servers": ["sepm01"]}],
        }
    )


async def _next_change(source: DesiredSource, events: asyncio.Queue[float]) -> None:
    async for _ in source.watch(debounce_ms=100):
        await events.put(time.monotonic())


async def test_three_git_sync_swaps_are_each_seen_within_two_seconds(tmp_path: Path):
    """Each commit published by a symlink swap wakes the watch within 2 s and the reload reads it, with
    its revision; removing the old worktree and writing beside the folder wake nothing."""
    sync = GitSync(tmp_path)
    sync.commit({"desired-state/hq.yaml": site(FP[0])}, "first certificate")
    sync.sync()
    folder = sync.link / "desired-state"
    source = DesiredSource(folder)
    source.reload()
    assert source.sites["hq"].servers[0].certificate.sha256 == FP[0]
    events: asyncio.Queue[float] = asyncio.Queue()
    watcher = asyncio.create_task(_next_change(source, events))
    await asyncio.sleep(0.5)
    try:
        for n in (1, 2, 3):
            commit = sync.commit({"desired-state/hq.yaml": site(FP[n])}, f"rotate hq, step {n}")
            swapped = time.monotonic()
            sync.sync()
            seen = await asyncio.wait_for(events.get(), timeout=5)
            assert seen - swapped < 2.0, f"swap {n} seen after {seen - swapped:.2f}s"
            assert source.reload()
            assert source.sites["hq"].servers[0].certificate.sha256 == FP[n]
            assert (source.revision.commit, source.revision.subject) == (commit, f"rotate hq, step {n}")
            await asyncio.sleep(0.5)
            while not events.empty():  # the old worktree's removal may report in its own batch
                events.get_nowait()
        # The journal, its WAL and status files beside the desired state: never a reload.
        state = sync.root / "state"
        state.mkdir()
        for _ in range(5):
            (state / "journal.db-wal").write_bytes(b"x" * 100)
            (state / "status").mkdir(exist_ok=True)
            (state / "status" / "hq.json").write_text("{}")
            await asyncio.sleep(0.1)
        assert not await _quiet(events, 1.5)
    finally:
        watcher.cancel()


async def _quiet(events: asyncio.Queue[float], seconds: float) -> bool:
    """True when an event arrives within ``seconds``."""
    try:
        await asyncio.wait_for(events.get(), timeout=seconds)
    except TimeoutError:
        return False
    return True


async def test_the_watch_survives_its_folder_vanishing_and_coming_back(tmp_path: Path):
    """A folder removed and made again (a checkout half-way) never ends the watch."""
    folder = tmp_path / "desired-state"
    folder.mkdir()
    (folder / "hq.yaml").write_text(site(FP[0]))
    source = DesiredSource(folder)
    events: asyncio.Queue[float] = asyncio.Queue()
    watcher = asyncio.create_task(_next_change(source, events))
    await asyncio.sleep(0.5)
    try:
        for child in folder.iterdir():
            child.unlink()
        folder.rmdir()
        await asyncio.sleep(0.5)
        folder.mkdir()
        (folder / "hq.yaml").write_text(site(FP[1]))
        await asyncio.wait_for(events.get(), timeout=10)
        assert not watcher.done()
    finally:
        watcher.cancel()


def test_the_revision_is_read_from_a_worktree_owned_by_someone_else_or_without_git(
    tmp_path: Path, monkeypatch
):
    """In git-sync's layout the revision is the worktree's commit and subject; without git on PATH the
    commit still comes from the worktree's name; outside Git it is unknown."""
    sync = GitSync(tmp_path)
    commit = sync.commit({"desired-state/hq.yaml": site(FP[0])}, "first certificate")
    sync.sync()
    folder = sync.link / "desired-state"
    if os.geteuid() == 0:  # hand the checkout to another user, as a mounted volume is: git calls it dubious
        for path in [sync.root, *sync.root.rglob("*")]:
            os.lchown(path, 65534, 65534)
    assert (read_revision(folder).commit, read_revision(folder).subject) == (commit, "first certificate")
    monkeypatch.setenv("PATH", str(tmp_path / "no-git-here"))
    without_git = read_revision(folder)
    assert (without_git.commit, without_git.subject) == (commit, "")
    plain = tmp_path / "plain"
    plain.mkdir()
    assert not read_revision(plain)


async def test_the_folders_parent_is_never_watched_recursively(tmp_path: Path, monkeypatch):
    """Whatever holds the folder (``/`` in a container, a state directory) is watched for the folder's own
    entry only; only the folder itself is watched recursively."""
    calls: list[tuple[Path, bool]] = []
    real = watchfiles.awatch

    def recording(*paths, recursive: bool = True, **options):
        calls.append((Path(paths[0]), recursive))
        return real(*paths, recursive=recursive, **options)

    monkeypatch.setattr(watchfiles, "awatch", recording)
    folder = tmp_path / "desired-state"
    folder.mkdir()
    (folder / "hq.yaml").write_text(site(FP[0]))
    source = DesiredSource(folder)
    events: asyncio.Queue[float] = asyncio.Queue()
    watcher = asyncio.create_task(_next_change(source, events))
    await asyncio.sleep(0.5)
    (folder / "hq.yaml").write_text(site(FP[1]))
    await asyncio.wait_for(events.get(), timeout=5)
    watcher.cancel()

    assert (tmp_path, False) in calls
    assert (folder.resolve(), True) in calls
    assert all(not recursive or path == folder.resolve() for path, recursive in calls)
