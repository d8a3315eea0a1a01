"""The controller process: one worker per site, desired-state watching, periodic resync, clean shutdown.

Contract:
- Sites run concurrently, one `SiteWorker` each; a site is never reconciled by two workers (one task per
  site here, and the journal lease across processes).
- Triggers: a relevant change of the desired-state checkout (`reconciler.controller.checkout`,
  debounced), a resync every ``resync_seconds`` (reload and wake every worker, in case a watch event was
  lost), and each worker's own schedule (poll interval with jitter, next gate check). Reloads run one at
  a time, in a worker thread (files, YAML, keystores and ``git`` must not hold the event loop).
- **One site never stops the others.** A file that cannot be read or is invalid is reported for its site
  (status ``InvalidDesiredState`` when no valid state of it is in force; its errors otherwise) or, when
  it names no site, globally; a reconcile that fails unexpectedly stalls that site alone
  (`reconciler.controller.failures`); the watch survives any file and any error of the OS.
- A site whose file disappeared keeps its worker until its active rotation is finished: a rotation is never
  left half-way because a file moved. Without one, it is reported ``DesiredStateRemoved`` and left alone.
- ``stop`` (SIGTERM/SIGINT in the CLI) lets every worker finish the reconcile in progress, waiting up to
  ``grace_seconds``; past that, workers are cancelled, which kills a running command and leaves its
  intent row for the next start to re-check. A worker that lost its lease stops the whole controller
  (exit code 3): another controller owns the journal now. A journal that cannot be opened at start raises
  `JournalError` (the CLI prints it in one line).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.controller.desired_source import DesiredSource
from reconciler.controller.lease import LeaseLost
from reconciler.controller.worker import SiteWorker
from reconciler.journal.store import Journal
from reconciler.telemetry.board import StatusBoard
from reconciler.telemetry.server import TelemetryServer
from reconciler.telemetry.status import AppliedRevision, SiteStatus
from reconciler.telemetry.status_store import status_folder, write_status

log = logging.getLogger(__name__)

EXIT_LEASE_LOST = 3


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
    _fatal: asyncio.Event = field(default_factory=asyncio.Event)
    _reloading: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def run(self, stop: asyncio.Event) -> int:
        """Run until ``stop`` is set; returns the process exit code."""
        journal = await asyncio.to_thread(Journal, self.journal_path)
        source = DesiredSource(self.folder)
        statuses = status_folder(self.journal_path)

        def publish(status: SiteStatus) -> None:
            self.board.publish(status)
            write_status(statuses, status)
            if self.on_status is not None:
                self.on_status(status)

        await self._refresh(source, journal, publish)
        if not source.sites and not source.errors and not source.unattributed_errors:
            log.warning("no desired-state file in %s; waiting for one", self.folder)
        if self.metrics_port is not None:
            self.telemetry = TelemetryServer(self.board, host=self.metrics_address, port=self.metrics_port)
            self.telemetry.start()
            log.info("metrics and health on http://%s:%d/", self.metrics_address, self.telemetry.port)
        helpers = [asyncio.create_task(self._resync(source, journal, publish, stop))]
        if self.watch:
            helpers.append(asyncio.create_task(self._watch(source, journal, publish, stop)))
        stop_wait = asyncio.create_task(stop.wait())
        fatal_wait = asyncio.create_task(self._fatal.wait())
        await asyncio.wait([stop_wait, fatal_wait], return_when=asyncio.FIRST_COMPLETED)
        for task in (*helpers, stop_wait, fatal_wait):
            task.cancel()
        for event in self._site_stops.values():
            event.set()
        await self._drain()
        if self.telemetry is not None:
            self.telemetry.stop()
        await asyncio.to_thread(journal.close)
        return EXIT_LEASE_LOST if self._fatal.is_set() else 0

    async def _refresh(
        self, source: DesiredSource, journal: Journal, publish: Callable[[SiteStatus], None]
    ) -> None:
        """Read the desired state again, then start, wake or stop workers and report what cannot run."""
        async with self._reloading:
            if await asyncio.to_thread(source.reload):
                log.info("desired state changed", extra={"revision": source.revision.commit or None})
            self.board.expected_sites = set(source.sites)
            self.board.unattributed_errors = tuple(source.unattributed_errors)
            for site in source.sites:
                if site not in self.workers:
                    self._start_worker(site, source, journal, publish)
            for site in list(self.workers):
                if site in source.sites:
                    self.workers[site].wake.set()
                elif await asyncio.to_thread(journal.active_rotation, site) is None:
                    log.info("site %s: its desired-state file is gone; no longer managed", site)
                    self._site_stops[site].set()
                    del self.workers[site]
            for site, errors in source.errors.items():
                if site not in self.workers:
                    self._report_unmanaged(site, errors, source, publish)

    def _start_worker(
        self, site: str, source: DesiredSource, journal: Journal, publish: Callable[[SiteStatus], None]
    ) -> None:
        worker = SiteWorker(
            site=site,
            source=source,
            journal=journal,
            owner=self.owner,
            publish=publish,
            lease_ttl=self.lease_ttl,
            board=self.board,
        )
        self.workers[site] = worker
        self._site_stops[site] = asyncio.Event()
        self._tasks[site] = asyncio.create_task(self._guard(worker), name=f"site:{site}")

    def _report_unmanaged(
        self, site: str, errors: list[str], source: DesiredSource, publish: Callable[[SiteStatus], None]
    ) -> None:
        """A site with no valid desired state in force: invalid from the start, or its file removed."""
        removed = site in source.removed
        reason = "DesiredStateRemoved" if removed else "InvalidDesiredState"
        previous = next((s for s in self.board.statuses() if s.site == site), None)
        if previous is not None and (previous.reason, previous.desired_errors) == (reason, tuple(errors)):
            return
        revision = source.revision
        publish(
            SiteStatus(
                site=site,
                phase="Unknown",
                reason=reason,
                message=errors[0] if errors else reason,
                desired_errors=tuple(errors),
                revision=AppliedRevision(commit=revision.commit, subject=revision.subject),
                updated_at=time.time(),
            )
        )

    async def _guard(self, worker: SiteWorker) -> None:
        try:
            await worker.run(self._site_stops[worker.site])
        except LeaseLost as lost:
            log.error("%s", lost)
            self._fatal.set()
        except Exception:
            log.exception(
                "site %s: worker crashed; the controller stops so that it restarts cleanly", worker.site
            )
            self._fatal.set()

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

    async def _resync(
        self,
        source: DesiredSource,
        journal: Journal,
        publish: Callable[[SiteStatus], None],
        stop: asyncio.Event,
    ) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.resync_seconds)
            if not stop.is_set():
                try:
                    await self._refresh(source, journal, publish)
                except Exception:  # the resync is the second line of defence: it must keep going
                    log.exception("the periodic resync failed; trying again at the next one")

    async def _watch(
        self,
        source: DesiredSource,
        journal: Journal,
        publish: Callable[[SiteStatus], None],
        stop: asyncio.Event,
    ) -> None:
        while not stop.is_set():
            try:
                async for _ in source.watch():
                    if stop.is_set():
                        return
                    await self._refresh(source, journal, publish)
            except Exception:  # a watch that dies unseen would leave the controller blind until the resync
                log.exception("the desired-state watch failed; watching again")
                await asyncio.sleep(1.0)
