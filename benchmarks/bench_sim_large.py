"""Benchmark: start the ``large`` scenario and walk every computer over HTTPS at pageSize 1000.

Prints figures, asserts nothing: seconds to build and start the site, seconds for a full walk of
``GET computers`` (logon included) through the REST port, the number of pages and of clients, and the
same for a second walk (views cached) and an incremental ``lastUpdate`` read after one simulated
heartbeat. Run with ``.venv/bin/python benchmarks/bench_sim_large.py [--scenario NAME] [--page-size N]``.
"""

from __future__ import annotations

import argparse
import time

from reconciler.sim.app import Simulator
from reconciler.sim.testing import SepmSession


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="large")
    parser.add_argument("--page-size", type=int, default=1000)
    args = parser.parse_args()

    started = time.perf_counter()
    sim = Simulator(args.scenario)
    sim.start()
    start_s = time.perf_counter() - started
    endpoints = sim.endpoints
    try:
        with SepmSession(endpoints["restUrl"], timeout_s=300) as rest:
            began = time.perf_counter()
            assert rest.authenticate(endpoints["username"], endpoints["password"]).status_code == 200
            clients, pages = rest.walk("computers", page_size=args.page_size)
            walk_s = time.perf_counter() - began
            began = time.perf_counter()
            again, _ = rest.walk("computers", page_size=args.page_size)
            second_s = time.perf_counter() - began
            newest = max(c["lastUpdateTime"] for c in clients)
            sim.site.clock.advance(300_000)
            began = time.perf_counter()
            changed, changed_pages = rest.walk("computers", page_size=args.page_size, lastUpdate=newest)
            incremental_s = time.perf_counter() - began
    finally:
        sim.stop()
    print(f"scenario:          {args.scenario}")
    print(f"start seconds:     {start_s:.2f}")
    print(f"walk seconds:      {walk_s:.2f}  (pageSize {args.page_size}, logon included)")
    print(f"pages:             {pages}")
    print(f"clients:           {len(clients)}  (distinct {len({c['uniqueId'] for c in clients})})")
    print(f"second walk:       {second_s:.2f} s, {len(again)} clients")
    print(f"incremental read:  {incremental_s:.2f} s, {len(changed)} clients, {changed_pages} pages (+300 s)")


if __name__ == "__main__":
    main()
