"""The controller's view of the desired-state folder: last valid state in force, Git's symlink swaps."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import yaml

from reconciler.controller.desired_source import DesiredSource

FP1 = ":".join(["AB"] * 32)
FP2 = ":".join(["CD"] * 32)


def site(name: str, fingerprint: str) -> dict:
    return {
        "site": name,
        "api": {"url": "https://127.0.0.1:8446", "username": "admin", "password": {"env": "X"}},
        "servers": [{"name": "sepm01", "address": "127.0.0.1", "certificate": {"sha256": fingerprint}}],
        "managementServerLists": [{"name": "Default", "servers": ["sepm01"]}],
    }


def write(folder: Path, name: str, body: dict | str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(body if isinstance(body, str) else yaml.safe_dump(body))
    return path


def test_invalid_file_keeps_the_last_valid_state_in_force(tmp_path):
    """A site file that becomes invalid keeps its last valid state, and its errors are reported for it."""
    folder = tmp_path / "desired-state"
    path = write(folder, "hq", site("hq", FP1))
    source = DesiredSource(folder)
    assert source.reload()
    assert source.sites["hq"].servers[0].certificate.sha256 == FP1

    path.write_text(path.read_text() + "\nunexpected: 1\n")
    assert not source.reload(), "an invalid edit changes nothing in force"
    assert source.sites["hq"].servers[0].certificate.sha256 == FP1
    assert len(source.errors["hq"]) == 1
    assert source.errors["hq"][0].startswith(f"{path}:")
    assert "unexpected" in source.errors["hq"][0]

    write(folder, "hq", site("hq", FP2))
    assert source.reload()
    assert source.sites["hq"].servers[0].certificate.sha256 == FP2
    assert source.errors == {}


def test_a_new_invalid_file_is_reported_without_a_site(tmp_path):
    """A file that was never valid cannot be tied to a site: its errors are reported on their own."""
    folder = tmp_path / "desired-state"
    write(folder, "hq", site("hq", FP1))
    write(folder, "broken", "site: [")
    source = DesiredSource(folder)
    source.reload()
    assert set(source.sites) == {"hq"}
    assert any("broken.yaml" in e for e in source.unattributed_errors)


def test_a_loop_of_links_is_reported_and_the_other_sites_stay(tmp_path):
    """A site file that is a loop of symbolic links is an error of the folder; reload does not raise."""
    folder = tmp_path / "desired-state"
    write(folder, "hq", site("hq", FP1))
    (folder / "loop.yaml").symlink_to("loop.yaml")
    source = DesiredSource(folder)
    assert source.reload()
    assert list(source.sites) == ["hq"]
    assert source.unattributed_errors == [f"{folder / 'loop.yaml'}: cannot read: a loop of symbolic links"]


def test_removed_file_drops_its_site(tmp_path):
    """Deleting a site's file drops the site (its worker finishes any active rotation first)."""
    folder = tmp_path / "desired-state"
    path = write(folder, "hq", site("hq", FP1))
    write(folder, "osaka", site("osaka", FP2))
    source = DesiredSource(folder)
    source.reload()
    path.unlink()
    assert source.reload()
    assert set(source.sites) == {"osaka"}


async def test_watch_sees_a_git_style_symlink_swap(tmp_path):
    """A checkout that swaps the folder's symlink to a new revision wakes the watch, and the reload
    reads the new revision."""
    write(tmp_path / "rev1", "hq", site("hq", FP1))
    write(tmp_path / "rev2", "hq", site("hq", FP2))
    link = tmp_path / "desired-state"
    link.symlink_to(tmp_path / "rev1")
    source = DesiredSource(link)
    source.reload()
    assert source.sites["hq"].servers[0].certificate.sha256 == FP1

    async def swap() -> None:
        await asyncio.sleep(0.5)
        staging = tmp_path / ".desired-state.tmp"
        staging.symlink_to(tmp_path / "rev2")
        os.replace(staging, link)  # atomic rename over the old link, as git-sync does

    async def first_change() -> None:
        async for _ in source.watch(debounce_ms=100):
            return

    swapper = asyncio.create_task(swap())
    await asyncio.wait_for(first_change(), timeout=10)
    await swapper
    assert source.reload()
    assert source.sites["hq"].servers[0].certificate.sha256 == FP2
