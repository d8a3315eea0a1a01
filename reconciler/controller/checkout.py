"""Watching a desired-state folder the way Git and git-sync change it.

Contract:
- git-sync publishes each commit as a new worktree and swaps a symlink (``root/current ->
  .worktrees/<rev>``); the folder lives inside it (``root/current/desired-state``). A plain Git
  checkout may swap or replace the folder itself. watchfiles does not follow a swapped symlink, so two
  watches run side by side:
  - the **parent of the nearest symlink** on the folder's path (the folder's own parent when there is
    none), *not* recursively: it sees the link swapped, or the folder itself created, removed or
    replaced, and nothing else (it may be ``/`` in a container, or a directory holding the journal);
  - the **folder as it resolves now**, recursively, for its site files (``.yaml``/``.yml``, any case).
  After a swap, or when the folder's watch ends (an old worktree removed), both are set up again on
  the new layout. A new worktree being filled before its swap, ``.git`` churn, the journal and status
  files beside the folder never count.
- ``changes()`` yields once per debounced batch of relevant events, for ever: an error of a watch (its
  directory gone or not there yet, a limit of the OS) is logged and the watch is set up again after a
  pause, so one odd moment never leaves the controller blind (the periodic resync is the second line of
  defence).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import watchfiles

log = logging.getLogger(__name__)

SITE_SUFFIXES = (".yaml", ".yml")
RETRY_SECONDS = 2.0


def watched(folder: Path) -> tuple[Path, Path]:
    """(the directory whose entries are watched, the entry there that leads to the folder)."""
    path = folder.absolute()
    link = next((p for p in (path, *path.parents) if p.is_symlink()), None)
    entry = link if link is not None else path
    return entry.parent, entry


def resolved(folder: Path) -> Path | None:
    try:
        target = folder.resolve(strict=True)
    except (OSError, RuntimeError):  # missing, or a loop of links (Python < 3.13 raises RuntimeError)
        return None
    return target if target.is_dir() else None


def _the(entry: Path) -> Callable[[watchfiles.Change, str], bool]:
    """A filter that lets through only events about ``entry`` itself."""

    def only(_change: watchfiles.Change, path: str) -> bool:
        return Path(path) == entry

    return only


def _site_file(_change: watchfiles.Change, path: str) -> bool:
    return Path(path).suffix.lower() in SITE_SUFFIXES and not Path(path).name.startswith(".")


async def changes(folder: Path, *, debounce_ms: int = 400) -> AsyncIterator[None]:
    """Yield once per debounced batch of changes to the folder's site files (module contract)."""
    events: asyncio.Queue[str] = asyncio.Queue()
    while True:
        parent, entry = watched(folder)
        target = resolved(folder)
        stop = asyncio.Event()
        watches = [
            asyncio.create_task(
                _watch(parent, recursive=False, only=_the(entry), tag="layout", events=events, stop=stop,
                       debounce_ms=debounce_ms)
            )
        ]  # fmt: skip
        if target is not None:
            watches.append(
                asyncio.create_task(
                    _watch(target, recursive=True, only=_site_file, tag="files", events=events, stop=stop,
                           debounce_ms=debounce_ms)
                )
            )  # fmt: skip
        try:
            while True:
                tag = await events.get()
                yield None
                if tag != "files" or resolved(folder) != target:
                    break  # the layout changed, or the folder's watch ended: watch the new one
        finally:
            stop.set()
            for task in watches:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*watches, return_exceptions=True)


async def _watch(
    path: Path,
    *,
    recursive: bool,
    only: Callable[[watchfiles.Change, str], bool],
    tag: str,
    events: asyncio.Queue[str],
    stop: asyncio.Event,
    debounce_ms: int,
) -> None:
    """Put ``tag`` on ``events`` per batch; an ended or failed watch puts ``ended`` after a pause."""
    try:
        async for _ in watchfiles.awatch(
            path, watch_filter=only, recursive=recursive, debounce=debounce_ms, stop_event=stop
        ):
            await events.put(tag)
    except Exception as error:  # the watch must outlive anything the OS throws at it
        log.warning("watching %s failed (%s); watching again in %.0fs", path, error, RETRY_SECONDS)
    if not stop.is_set():
        await asyncio.sleep(RETRY_SECONDS)
        await events.put("ended")
