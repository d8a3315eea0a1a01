"""Engine-level benchmark of the simulator's "large" scenario (100,000 clients, 2,000 groups).

Prints, in seconds of real time:
- how long the site takes to start (scenario load + build, certificates included);
- ``computers()`` right after the start, again at once (views cached), and a full page walk (100
  calls at pageSize 1000, as the controller makes them) at 1x and at 1000x;
- the cost of changes: a certificate update (every client affected), the single-server treatment of
  every non-inheriting group (2,000 patches), and ``computers()`` / ``report()`` afterwards.

Run: ``.venv/bin/python benchmarks/bench_sim_engine.py``. Targets from the brief: start < 30 s; a full
walk fast enough for the controller's observation loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from reconciler.sim.certs import generate_self_signed
from reconciler.sim.clock import SimClock
from reconciler.sim.engine import Site
from reconciler.sim.scenario_files import load_scenario

T = TypeVar("T")
PAGE = 1000


def timed(label: str, fn: Callable[[], T]) -> T:
    start = time.perf_counter()
    result = fn()
    print(f"{label:<58} {time.perf_counter() - start:8.3f} s")
    return result


def walk(site: Site) -> int:
    """A full walk the way the REST layer serves it: one computers() call per page."""
    pages = 0
    total = None
    while total is None or pages * PAGE < total:
        views = site.computers()
        total = len(views)
        _page = views[pages * PAGE : (pages + 1) * PAGE]
        pages += 1
    return pages


def main() -> None:
    clock = SimClock(speed=1.0)
    site = timed("start 'large' (load, certificates, 100k clients)", lambda: _start(clock))
    print(f"  {len(site.groups())} groups, {len(site.computers())} clients")
    timed("computers() first call after start", site.computers)
    timed("computers() again (cached views)", site.computers)
    pages = timed("full walk at 1x (one call per page of 1000)", lambda: walk(site))
    print(f"  {pages} pages")
    clock.speed = 1000.0
    timed("full walk at 1000x", lambda: walk(site))
    clock.speed = 1.0

    cert, key = generate_self_signed("sepm01")
    timed(
        "update_certificate (every client affected)",
        lambda: site.update_certificate("sepm01", cert_pem=cert, key_pem=key, actor="bench"),
    )
    clock.advance(900_000)
    timed("computers() 15 min after the certificate update", site.computers)
    timed("single-server treatment of every non-inheriting group", lambda: _secure_off_everywhere(site))
    clock.advance(3_600_000)
    timed("computers() one hour after the patches", site.computers)
    report = timed("report()", site.report)
    print(f"  orphaned {len(report['orphaned'])}, cut-off runs {len(report['cutOff'])}")


def _start(clock: SimClock) -> Site:
    return Site.from_scenario(load_scenario("large"), clock=clock, seed=1)


def _secure_off_everywhere(site: Site) -> int:
    site.copy_msl("Default Management Server List", "HTTP copy", actor="bench")
    patched = 0
    for g in site.groups():
        if g.inherits:
            continue
        site.patch_location_settings(
            g.id, g.default_location_id, msl="HTTP copy", secure_communications=False, actor="bench"
        )
        patched += 1
    return patched


if __name__ == "__main__":
    main()
