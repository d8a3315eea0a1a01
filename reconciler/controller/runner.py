"""The controller process: one worker per site, desired-state watching, periodic resync, clean shutdown.

Contract:
- Sites run concurrently, one `SiteWorker` each; a site is never reconciled by two workers (one task per
  site here, and the journal lease across processes).
- Triggers: a change under the desired-state folder's parent (debounced), a resync every
  ``resync_seconds`` (reload and wake every worker, in case a watch event was lost), and each worker's own
  schedule (poll interval with jitter, next gate check).
- A site whose file disappeared keeps its worker until its active rotation is finished: a rotation is never
  left half-way because a file moved.
- ``stop`` (SIGTERM/SIGINT in the CLI) lets every worker finish the reconcile in progress, waiting up to
  ``grace_seconds``; past that, workers are cancelled, which kills a running command and leaves its
  intent row for the next start to re-check. A worker that lost its lease stops the whole controller
  (exit code 3): another controller owns the journal now.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.controller.desired_source import DesiredSource
from reconciler.controller.lease import LeaseLost
from reconciler.controller.worker import SiteWorker
from reconciler.journal.store import Journal
from reconciler.telemetry.metrics import StatusBoard
from reconciler.telemetry.server import TelemetryServer
from reconciler.telemetry.status import SiteStatus
from reconciler.telemetry.status_store import status_folder, write_status

log = logging.getLogger(__name__)

EXIT_LEASE_LOST = 3

Sync = Callable[[], Awaitable[None]]


@dataclass
class Controller:
    folder: Path
    journal_path: Path
    owner: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    resync_seconds: float = 300.0
    grace_seconds: float = 30.0
    lease_ttl: float = 60.0
    watch: bool = True
    on_status: Callable[[SiteStatus], None] | None = None
    metrics_address: str = "127.0.0.1"
    metrics_port: int | None = None
    board: StatusBoard = field(default_factory=StatusBoard)
    telemetry: TelemetryServer | None = None
    workers: dict[str, SiteWorker] = field(default_factory=dict)
    _tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    _site_stops: dict[str, asyncio.Event] = field(default_factory=dict)

    async def run(self, stop: asyncio.Event) -> int:
        """Run until ``stop`` is set; returns the process exit code."""
        self.journal_path.parent.mkdir(parents=True, exist_ok=True)
        journal = await asyncio.to_thread(Journal, self.journal_path)
        source = DesiredSource(self.folder)
        source.reload()
        if not source.sites and not source.errors and not source.unattributed_errors:
            log.warning("no desired-state file in %s; waiting for one", self.folder)
        statuses = status_folder(self.journal_path)
        fatal = asyncio.Event()

        def publish(status: SiteStatus) -> None:
            self.board.publish(status)
            write_status(statuses, status)
            if self.on_status is not None:
                self.on_status(status)

        async def sync_workers() -> None:
            self.board.expected_sites = set(source.sites)
            for site in source.sites:
                if site not in self.workers:
                    worker = SiteWorker(
                        site=site, source=source, journal=journal, owner=self.owner, publish=publish,
                        lease_ttl=self.lease_ttl,
                    )  # fmt: skip
                    self.workers[site] = worker
                    self._site_stops[site] = asyncio.Event()
                    self._tasks[site] = asyncio.create_task(self._guard(worker, fatal), name=f"site:{site}")
            for site in list(self.workers):
                gone = site not in source.sites and (
                    await asyncio.to_thread(journal.active_rotation, site) is None
                )
                if gone:
                    log.info("site %s: its desired-state file is gone; no longer managed", site)
                    self._site_stops[site].set()
                    del self.workers[site]
                else:
                    self.workers[site].wake.set()

        await sync_workers()
        if self.metrics_port is not None:
            self.telemetry = TelemetryServer(self.board, host=self.metrics_address, port=self.metrics_port)
            self.telemetry.start()
            log.info("metrics and health on http://%s:%d/", self.metrics_address, self.telemetry.port)
        helpers = [asyncio.create_task(self._resync(source, sync_workers, stop))]
        if self.watch:
            helpers.append(asyncio.create_task(self._watch(source, sync_workers, stop)))
        stop_wait = asyncio.create_task(stop.wait())
        fatal_wait = asyncio.create_task(fatal.wait())
        await asyncio.wait([stop_wait, fatal_wait], return_when=asyncio.FIRST_COMPLETED)
        for task in (*helpers, stop_wait, fatal_wait):
            task.cancel()
        for event in self._site_stops.values():
            event.set()
        await self._drain()
        if self.telemetry is not None:
            self.telemetry.stop()
        await asyncio.to_thread(journal.close)
        return EXIT_LEASE_LOST if fatal.is_set() else 0

    async def _guard(self, worker: SiteWorker, fatal: asyncio.Event) -> None:
        try:
            await worker.run(self._site_stops[worker.site])
        except LeaseLost as lost:
            log.error("%s", lost)
            fatal.set()
        except Exception:
            log.exception(
                "site %s: worker crashed; the controller stops so that it restarts cleanly", worker.site
            )
            fatal.set()

    async def _drain(self) -> None:
        tasks = [t for t in self._tasks.values() if not t.done()]
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=self.grace_seconds)
        for task in pending:
            log.warning("%s did not finish within %.0fs; cancelling it", task.get_name(), self.grace_seconds)
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*pending, return_exceptions=True)

    async def _resync(self, source: DesiredSource, sync: Sync, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.resync_seconds)
            if not stop.is_set():
                source.reload()
                await sync()

    async def _watch(self, source: DesiredSource, sync: Sync, stop: asyncio.Event) -> None:
        async for _ in source.watch():
            if stop.is_set():
                return
            if source.reload():
                log.info("desired state changed (revision %s)", source.git_revision or "unknown")
            await sync()
