"""Running the real controller against the real simulator over loopback HTTPS, in this test process.

`run_controller` runs a `Controller` until a predicate on the published statuses holds (or a time limit,
which fails the test), and returns everything it published; `run_at_first_gate` also runs a check of
the test's own while the site waits for its first gate. The simulator runs in threads of this
process, the controller in its event loop; they speak HTTPS to each other like two hosts would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from reconciler.cli.rehearsal import Rehearsal
from reconciler.controller.runner import Controller
from reconciler.journal.store import Journal
from reconciler.sim.certs import fingerprint
from reconciler.telemetry.status import SiteStatus


@dataclass
class Run:
    statuses: list[SiteStatus] = field(default_factory=list)
    exit_code: int | None = None
    timed_out: bool = False

    @property
    def last(self) -> SiteStatus:
        return self.statuses[-1]


def rotation_finished(status: SiteStatus, seen: list[SiteStatus]) -> bool:
    """A rotation was seen and the site is Ready again."""
    return status.phase == "Ready" and any(s.rotation_id for s in seen)


async def run_controller(
    rehearsal: Rehearsal,
    journal_path: Path,
    *,
    until: Callable[[SiteStatus, list[SiteStatus]], bool] = rotation_finished,
    timeout: float = 90.0,
    watch: bool = False,
    on_status: Callable[[SiteStatus], None] | None = None,
    resync_seconds: float = 300.0,
    controller_hook: Callable[[Controller], None] | None = None,
    metrics_port: int | None = None,
) -> Run:
    run = Run()
    stop = asyncio.Event()

    def publish(status: SiteStatus) -> None:
        run.statuses.append(status)
        if on_status is not None:
            on_status(status)
        if until(status, run.statuses):
            stop.set()

    controller = Controller(
        folder=rehearsal.folder,
        journal_path=journal_path,
        watch=watch,
        on_status=publish,
        resync_seconds=resync_seconds,
        lease_ttl=10.0,
        metrics_port=metrics_port,
    )
    if controller_hook is not None:
        controller_hook(controller)
    task = asyncio.create_task(controller.run(stop))
    waiter = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({task, waiter}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    run.timed_out = not done
    stop.set()
    run.exit_code = await task
    waiter.cancel()
    return run


async def run_at_first_gate(
    rehearsal: Rehearsal,
    journal_path: Path,
    during: Callable[[Controller], Awaitable[None]],
    **options: Any,
) -> Run:
    """`run_controller` with its telemetry port open, running ``during(controller)`` once, as a task of
    the controller's loop, when the site first waits for a gate; returns after both have ended."""
    holder: dict[str, Controller] = {}
    started: list[asyncio.Task[None]] = []

    def hook(status: SiteStatus) -> None:
        if not started and status.reason == "WaitingForGate":
            started.append(asyncio.get_running_loop().create_task(during(holder["controller"])))

    run = await run_controller(
        rehearsal,
        journal_path,
        on_status=hook,
        metrics_port=0,
        controller_hook=lambda c: holder.update(controller=c),
        **options,
    )
    assert started, "the site never waited for a gate"
    await started[0]
    return run


def last_rotation(journal_path: Path, site: str) -> dict[str, object]:
    with Journal(journal_path) as journal:
        rotations = journal.rotations(site, limit=1)
        assert rotations, "no rotation was started"
        return dict(rotations[0])


def presented(rehearsal: Rehearsal) -> dict[str, str]:
    """The fingerprint each simulated server presents on its client port now."""
    return {view.name: fingerprint(view.port_cert_pem["https"]) for view in rehearsal.sim.site.servers()}


async def scrape(controller: Controller, path: str) -> httpx.Response:
    """GET ``path`` (``/metrics``, ``/status``, ...) from a running controller's telemetry port."""
    assert controller.telemetry is not None, "run the controller with metrics_port=0"
    async with httpx.AsyncClient() as client:
        return await client.get(f"http://127.0.0.1:{controller.telemetry.port}{path}")


def unreachable_site(name: str) -> dict[str, object]:
    """A valid desired state for a site whose SEPM never answers (127.0.0.1:9): its reconciles retry."""
    return {
        "site": name,
        "api": {"url": "https://127.0.0.1:9", "username": "admin", "password": {"env": "UNUSED_PASSWORD"}},
        "servers": [
            {"name": "sepm01", "address": "127.0.0.1", "certificate": {"sha256": ":".join(["AB"] * 32)}}
        ],
        "managementServerLists": [{"name": "Default", "servers": ["sepm01"]}],
        "controller": {"pollInterval": "200ms"},
    }
