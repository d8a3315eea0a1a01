"""``simulate``, ``sim console ...`` and ``sim report``: run a simulated SEPM site and drive it.

- ``simulate --scenario NAME|PATH [--speed N] [--seed N] [--endpoints-file PATH]`` runs a site until
  SIGINT or SIGTERM. The endpoints file (JSON, see `reconciler.sim.app`) holds the admin password, so
  it is written atomically with mode 0600 and removed on a clean exit; stdout shows everything except
  the password.
- ``sim console ...`` and ``sim report ...``: `reconciler.sim.console_cli` (also runnable on its own as
  ``python -m reconciler.sim.console_cli``, which starts in milliseconds).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from reconciler.sim import console_cli
from reconciler.sim.app import Simulator
from reconciler.sim.errors import SimError
from reconciler.sim.scenario_files import ScenarioError


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Add ``simulate`` and ``sim`` to the top-level parser."""
    simulate = commands.add_parser("simulate", help="run a simulated SEPM site on loopback")
    simulate.add_argument("--scenario", required=True, help="a shipped scenario name or a scenario file")
    simulate.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second")
    simulate.add_argument("--seed", type=int, default=0)
    simulate.add_argument("--endpoints-file", type=Path, help="write the endpoints JSON here (mode 0600)")
    simulate.set_defaults(handler=_simulate)

    sim = commands.add_parser("sim", help="drive a running simulator")
    console_cli.register(sim.add_subparsers(dest="sim_command", metavar="SIM_COMMAND", required=True))


# -- simulate ------------------------------------------------------------------------------------


def _simulate(args: argparse.Namespace) -> int:
    if args.speed <= 0:
        print("sepm-reconciler simulate: --speed must be positive", file=sys.stderr)
        return 1
    try:
        simulator = Simulator(args.scenario, speed=args.speed, seed=args.seed)
        simulator.start()
    except (ScenarioError, SimError, ValueError, OSError) as exc:
        print(f"sepm-reconciler simulate: {exc}", file=sys.stderr)
        return 1
    endpoints = simulator.endpoints
    if args.endpoints_file is not None:
        try:
            write_private_json(args.endpoints_file, endpoints)
        except OSError as exc:
            simulator.stop()
            print(
                f"sepm-reconciler simulate: cannot write {args.endpoints_file}: {exc.strerror}",
                file=sys.stderr,
            )
            return 1
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        shown = {k: v for k, v in endpoints.items() if k not in ("password", "consoleCertificate")}
        print(json.dumps(shown, indent=2, sort_keys=True), flush=True)
        where = f"in {args.endpoints_file}" if args.endpoints_file else "not written (no --endpoints-file)"
        print(f"simulating site {endpoints['site']!r}; credentials {where}; Ctrl-C stops", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        simulator.stop()
        if args.endpoints_file is not None:
            args.endpoints_file.unlink(missing_ok=True)
    return 0


def write_private_json(path: Path, payload: Any) -> None:
    """Write JSON atomically (temporary file in the same folder, then rename) with mode 0600."""
    path = Path(path)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or Path("."))
    try:
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=2, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
