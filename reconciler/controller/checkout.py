"""Watching a desired-state folder the way Git and git-sync change it.

Contract:
- git-sync publishes each commit as a new worktree and swaps a symlink (``root/current ->
  .worktrees/<rev>``); the folder lives inside it (``root/current/desired-state``). A plain Git
  checkout may swap the folder itself the same way. watchfiles does not follow a swapped symlink, so
  the watch is on the **parent of the nearest symlink** on the folder's path (the folder's own parent
  when there is none), recursively, and every event is filtered:
  - the symlink itself (swapped), or the folder itself (created, removed, replaced), always counts;
  - a site file (``.yaml``/``.yml``, any case) counts only when it is in the folder *as it resolves
    now*: a new worktree being filled before its swap, old worktrees being removed after, ``.git``
    churn, the journal and status files beside the folder never reload anything.
- ``changes()`` yields once per debounced batch of relevant events, for ever: an error of the watch
  (its directory gone, a limit of the OS) is logged and the watch is set up again after a pause, so one
  odd moment never leaves the controller blind (the periodic resync is the second line of defence).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import watchfiles

log = logging.getLogger(__name__)

SITE_SUFFIXES = (".yaml", ".yml")
RETRY_SECONDS = 2.0


def watched(folder: Path) -> tuple[Path, Path | None]:
    """(the directory to watch, the nearest symlink on the folder's path or None)."""
    path = folder.absolute()
    link = next((p for p in (path, *path.parents) if p.is_symlink()), None)
    return (link.parent if link is not None else path.parent), link


class Relevant(watchfiles.DefaultFilter):
    """watchfiles' default filter (editor swap files, ``.git`` noise), then the contract's rules."""

    def __init__(self, folder: Path, link: Path | None) -> None:
        super().__init__()
        self._folder = folder.absolute()
        self._always = {self._folder, *([link] if link is not None else [])}

    def __call__(self, change: watchfiles.Change, path: str) -> bool:
        changed = Path(path)
        if changed in self._always:
            return True
        if changed.suffix.lower() not in SITE_SUFFIXES or not super().__call__(change, path):
            return False
        try:
            return changed.parent.resolve() == self._folder.resolve()
        except OSError:  # a symlink loop or a path half-removed: not the folder
            return False


async def changes(folder: Path, *, debounce_ms: int = 400) -> AsyncIterator[None]:
    """Yield once per debounced batch of changes to the folder's site files (module contract)."""
    while True:
        root, link = watched(folder)
        try:
            async for _ in watchfiles.awatch(
                root, watch_filter=Relevant(folder, link), debounce=debounce_ms, recursive=True
            ):
                yield None
                if watched(folder) != (root, link):
                    break  # the layout itself changed (a link appeared or went): watch anew
        except Exception as error:  # the watch must outlive anything the OS throws at it
            log.warning("watching %s failed (%s); watching again in %.0fs", root, error, RETRY_SECONDS)
            await asyncio.sleep(RETRY_SECONDS)
        else:
            if not root.exists():
                await asyncio.sleep(RETRY_SECONDS)
