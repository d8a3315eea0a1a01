"""Benchmark: what observing one site costs the controller's process, at 1k, 10k and 100k clients.

For each size the simulator runs in another process (``sepm-reconciler simulate``, its clock all but
stopped so that only this script moves it), and this process observes it exactly as the controller
does (``SepmClient.for_site`` + ``Observer``: real HTTPS with pinning, real TLS reads):

1. a cold observation: the first one, which reads everything (logon, pinning, TLS reads, every
   group's locations and settings, every client);
2. churn: the heartbeat of 1% of the non-inheriting groups changes (a PATCH each, so their policy
   serials move), then the simulated clock moves on until about 1% of the clients have checked in;
3. an incremental observation (clients updated since the last snapshot, groups whose serial moved);
4. churn again, then a full observation: the periodic full read of every client (groups as in 3);
5. ``reconciler.plan.plan`` on each snapshot, for a desired state that rotates every server (its
   gates predicted, none measured yet), and what a waiting gate over every client adds to a plan (the
   site's columns and one measurement).

Printed per phase: CPU seconds of this process (``time.process_time``: the simulator's work is in its
own process and not counted), its peak resident memory (VmHWM, reset through ``/proc/self/clear_refs``
before the phase; ``tracemalloc`` would slow the run several-fold and miss memory held outside Python's
allocator, such as OpenSSL's), the HTTP requests sent, and the computer records read. Nothing is
asserted: the figures and their growth from one size to the next are the result.

Run: ``.venv/bin/python benchmarks/bench_observe.py [--sizes 1000,10000,100000] [--profile PHASE]
[--rounds N]``. With ``--rounds N`` the incremental and full reads are each made N times (each after
its churn, as a controller polls) and the table shows the median round. With ``--profile`` the
chosen phase of the largest size (or ``plan`` on its last snapshot) runs under cProfile and its top
lines are printed (its first round only).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import io
import itertools
import json
import os
import pstats
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import yaml

from reconciler.desired.schema import DesiredSite
from reconciler.model.observed import Observed
from reconciler.plan import plan
from reconciler.plan.gates import GateScope, Part, measure
from reconciler.plan.site import view
from reconciler.sepm.client import SepmClient
from reconciler.sepm.connection import DirectClient
from reconciler.sepm.observer import Observer
from reconciler.sim.console_client import ConsoleClient

T = TypeVar("T")
LARGE = Path(__file__).resolve().parent.parent / "reconciler" / "sim" / "scenarios" / "large.yaml"
PASSWORD_VARIABLE = "BENCH_SEPM_PASSWORD"  # noqa: S105 - the name of a variable
CLIENTS_PER_GROUP = 50  # the ``large`` scenario's ratio: 100,000 clients in 2,000 groups
CHURN = 0.01
SPEED = 0.001  # the simulated clock nearly stands still; the script advances it


# -- measuring ------------------------------------------------------------------------------------


class GcTimer:
    """Adds up the time the cyclic garbage collector runs (its passes over every live object)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0
        gc.callbacks.append(self._track)

    def _track(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.process_time()
        else:
            self.seconds += time.process_time() - self._started


class RequestCounter:
    """Counts every HTTP request the SEPM clients of this process send (``DirectClient.send``)."""

    def __init__(self) -> None:
        self.count = 0
        original = DirectClient.send

        async def send(client: DirectClient, request: httpx.Request, **options: Any) -> httpx.Response:
            self.count += 1
            return await original(client, request, **options)

        DirectClient.send = send  # type: ignore[method-assign]


def _peak_rss_mb() -> float:
    status = Path("/proc/self/status").read_text()
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    return int(match.group(1)) / 1024 if match else float("nan")


def _reset_peak_rss() -> None:
    with contextlib.suppress(OSError):  # Linux only; elsewhere the peak is the process's lifetime peak
        Path("/proc/self/clear_refs").write_text("5")


@dataclass
class Figures:
    cpu_s: float
    wall_s: float
    peak_mb: float
    requests: int
    gc_s: float


GC = GcTimer()


async def measured(
    counter: RequestCounter, call: Callable[[], Awaitable[T]], *, profile: bool = False
) -> tuple[T, Figures]:
    _reset_peak_rss()
    requests = counter.count
    gc_before = GC.seconds
    profiler = cProfile.Profile(time.process_time) if profile else None  # CPU time, not waiting
    wall, cpu = time.perf_counter(), time.process_time()
    if profiler is not None:
        profiler.enable()
    result = await call()
    if profiler is not None:
        profiler.disable()
    figures = Figures(
        cpu_s=time.process_time() - cpu,
        wall_s=time.perf_counter() - wall,
        peak_mb=_peak_rss_mb(),
        requests=counter.count - requests,
        gc_s=GC.seconds - gc_before,
    )
    if profiler is not None:
        _print_profile(profiler)
    return result, figures


def _print_profile(profiler: cProfile.Profile) -> None:
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats(os.environ.get("BENCH_SORT", "tottime")).print_stats(
        int(os.environ.get("BENCH_LINES", "25"))
    )
    print(out.getvalue())


def profile_plan(desired: DesiredSite, observed: Observed) -> None:
    """cProfile (CPU time) over one ``plan`` of the last snapshot: ``--profile plan``."""
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    plan(desired, observed, None, observed.server_time)
    profiler.disable()
    _print_profile(profiler)


# -- the simulated site ---------------------------------------------------------------------------


def scenario_file(clients: int, folder: Path) -> Path:
    """The ``large`` scenario scaled to ``clients`` (groups scale with it)."""
    if clients == 100_000:
        return LARGE
    scenario = yaml.safe_load(LARGE.read_text())
    scenario["site"] = f"bench-{clients}"
    scenario["description"] = f"{clients} clients (benchmark)"
    scenario["generate"]["clients"] = clients
    scenario["generate"]["groups"] = max(1, clients // CLIENTS_PER_GROUP - 1)
    path = folder / f"bench-{clients}.yaml"
    path.write_text(yaml.safe_dump(scenario))
    return path


@contextlib.contextmanager
def simulator(scenario: Path, folder: Path) -> Iterator[dict[str, Any]]:
    """A simulator process for ``scenario``; yields its endpoints."""
    endpoints_file = folder / "endpoints.json"
    endpoints_file.unlink(missing_ok=True)
    command = [sys.executable, "-m", "reconciler.cli", "simulate", "--scenario", str(scenario)]
    command += ["--speed", str(SPEED), "--seed", "1", "--endpoints-file", str(endpoints_file)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)  # noqa: S603 - our own CLI
    try:
        deadline = time.monotonic() + 300
        while not endpoints_file.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the simulator did not start (exit {process.returncode})")
            time.sleep(0.2)
        yield {**json.loads(endpoints_file.read_text()), "file": str(endpoints_file)}
    finally:
        process.terminate()
        process.wait(timeout=60)


def desired_site(endpoints: dict[str, Any], console: ConsoleClient) -> DesiredSite:
    """A desired state that rotates every server of the simulated site (operator actuators)."""
    os.environ[PASSWORD_VARIABLE] = endpoints["password"]
    servers = [
        {
            "name": name,
            "address": bound["address"],
            "ports": {"https": bound["https"], "console": bound["console"], "rest": bound["rest"]},
            "certificate": {"sha256": _new_fingerprint(index), "previousSha256": [bound["sha256"]]},
        }
        for index, (name, bound) in enumerate(endpoints["servers"].items())
    ]
    msls = [
        {"name": msl["name"], "servers": [e["server"] for e in sorted(msl["servers"], key=_priority)]}
        for msl in console.call("GET", "msls")
    ]
    return DesiredSite.model_validate(
        {
            "site": endpoints["site"],
            "api": {
                "url": endpoints["restUrl"],
                "username": endpoints["username"],
                "password": {"env": PASSWORD_VARIABLE},
            },
            "servers": servers,
            "managementServerLists": msls,
            "actuators": {"certificateUpdate": {"operator": {}}, "mslCopy": {"operator": {}}},
        }
    )


def _priority(entry: dict[str, Any]) -> int:
    return int(entry["priority"])


def _new_fingerprint(index: int) -> str:
    return ":".join([f"{index + 1:02X}"] * 32)


async def make_churn(client: SepmClient, observed: Observed, console: ConsoleClient) -> tuple[int, int]:
    """Change 1% of the non-inheriting groups' heartbeat, then let about 1% of the clients check in.

    Returns (groups changed, simulated ms the clock moved).
    """
    own = [group for group in observed.groups if not group.inherits]
    changed = own[:: max(1, round(1 / CHURN))]
    for group in changed:
        default = group.default_location()
        assert default is not None
        heartbeat = 600 if default.heartbeat_interval != 600 else 900
        await client.patch_location_settings(
            group.id,
            default.id,
            {"communication_settings": {"pull_mode_heartbeat_freq_in_seconds": heartbeat}},
        )
    heartbeats = {group.id: group.default_location() for group in observed.groups}
    sources = observed.settings_sources()
    rate = 0.0  # check-ins per simulated ms over the whole site
    for c in observed.clients:
        location = heartbeats[sources[c.group_id].id]
        if location is not None and location.heartbeat_interval:
            rate += 1 / (location.heartbeat_interval * 1000)
    advance = int(CHURN * len(observed.clients) / rate) if rate else 0
    console.call("POST", "clock/advance", {"ms": advance})
    return len(changed), advance


# -- one size -------------------------------------------------------------------------------------

PHASES = ("cold", "incremental", "full")


@dataclass
class Phase:
    figures: Figures
    records: int
    groups_read: int
    plan_s: float
    plan_gc_s: float
    gate_s: float


@dataclass
class Row:
    clients: int
    groups: int
    phases: dict[str, Phase]  # the median round of each phase, by CPU
    groups_changed: int
    advanced_ms: int
    rounds: dict[str, list[Phase]]  # every round of each phase, in order


def _median_round(rounds: list[Phase]) -> Phase:
    return sorted(rounds, key=lambda phase: phase.figures.cpu_s)[(len(rounds) - 1) // 2]


async def bench_size(
    clients: int, folder: Path, counter: RequestCounter, profile: str | None, rounds: int = 1
) -> Row:
    with simulator(scenario_file(clients, folder), folder) as endpoints:
        console = ConsoleClient.from_endpoints(endpoints["file"])
        desired = desired_site(endpoints, console)
        records = _RecordCounter()
        phases: dict[str, list[Phase]] = {phase: [] for phase in PHASES}
        async with SepmClient.for_site(desired, password=endpoints["password"], timeout=300.0) as client:
            records.attach(client)
            # Cold, incremental, then the periodic full read (every second observation here); with
            # --rounds, incremental and full again, with the same observer, as a controller polls.
            observer = Observer(desired, client, full_read_every=2)
            observed: Observed | None = None
            for phase in (PHASES[0], *PHASES[1:] * rounds):
                if observed is not None:
                    groups_changed, advanced = await make_churn(client, observed, console)
                records.reset()
                first = not phases[phase]  # only the first round of a phase is profiled
                observed, figures = await measured(
                    counter, observer.observe, profile=profile == phase and first
                )
                plan_s, plan_gc_s = _time_plan(desired, observed)
                phases[phase].append(
                    Phase(
                        figures=figures,
                        records=records.count,
                        groups_read=observer.groups_read,
                        plan_s=plan_s,
                        plan_gc_s=plan_gc_s,
                        gate_s=_time_gate(desired, observed),
                    )
                )
        assert observed is not None
        if profile == "plan":
            profile_plan(desired, observed)
        return Row(
            clients=len(observed.clients),
            groups=len(observed.groups),
            phases={phase: _median_round(done) for phase, done in phases.items()},
            groups_changed=groups_changed,
            advanced_ms=advanced,
            rounds=phases,
        )


class _RecordCounter:
    """Counts the computer records a client's walks return."""

    def __init__(self) -> None:
        self.count = 0

    def attach(self, client: SepmClient) -> None:
        original = client.computers

        async def computers(**options: Any) -> Any:
            result = await original(**options)
            self.count += len(result)
            return result

        client.computers = computers  # type: ignore[method-assign]

    def reset(self) -> None:
        self.count = 0


def _time_plan(desired: DesiredSite, observed: Observed) -> tuple[float, float]:
    """CPU seconds of one ``plan`` on the fresh snapshot, and the part of them the collector ran."""
    started, gc_before = time.process_time(), GC.seconds
    plan(desired, observed, None, observed.server_time)
    return time.process_time() - started, GC.seconds - gc_before


def _time_gate(desired: DesiredSite, observed: Observed) -> float:
    """What a plan spends on a waiting gate over every client: the site's columns, then one measurement
    (counted from a certificate update ten minutes before the snapshot)."""
    started = time.process_time()
    site = view(observed, desired.no_failover_versions)
    change = ("update_certificate:bench",)
    scope = GateScope((Part(change, tuple(site.clients.sources)),), change, unsourced=True)
    measure(
        scope,
        site.clients,
        applied={change[0]: observed.server_time - 600_000},
        fallback=observed.server_time,
        gates=desired.gates,
        now=observed.server_time,
    )
    return time.process_time() - started


# -- output ---------------------------------------------------------------------------------------


def print_table(rows: list[Row]) -> None:
    header = f"{'clients':>8} {'groups':>6} {'phase':>12} | {'CPU s':>7} {'of it GC':>8} {'peak MB':>8} "
    header += f"{'requests':>8} "
    header += f"{'records':>8} {'groups read':>11} | {'plan CPU s':>10} {'of it GC':>8} {'gate CPU s':>10}"
    print(header)
    print("-" * len(header))
    for row in rows:
        for name, phase in row.phases.items():
            f = phase.figures
            print(
                f"{row.clients:>8} {row.groups:>6} {name:>12} | {f.cpu_s:>7.3f} {f.gc_s:>8.3f} "
                f"{f.peak_mb:>8.0f} {f.requests:>8} {phase.records:>8} {phase.groups_read:>11} | "
                f"{phase.plan_s:>10.3f} {phase.plan_gc_s:>8.3f} {phase.gate_s:>10.3f}"
            )
    if len(rows) > 1:
        print("\ngrowth from one size to the next (CPU ratio; clients x10 means linear at x10):")
        for before, after in itertools.pairwise(rows):
            ratios = ", ".join(
                f"{name} x{after.phases[name].figures.cpu_s / before.phases[name].figures.cpu_s:.1f}"
                for name in PHASES
            )
            plan_ratio = _first_plans(after) / max(_first_plans(before), 1e-9)
            print(f"  {before.clients} -> {after.clients} clients: {ratios}, plan x{plan_ratio:.1f}")
        samples = sum(len(done) for done in rows[-1].rounds.values())
        print(
            f"  (plan: the median of the first plan of each snapshot, {samples} per size; at 10k a plan "
            "takes about a hundredth of a second, so one alone says little of its growth)"
        )
        for row in rows:
            print(f"  plan at {row.clients} clients: median {_first_plans(row):.4f} CPU s")
    for row in rows:
        if max(len(done) for done in row.rounds.values()) > 1:
            print(f"\nevery round at {row.clients} clients (CPU s; the table shows the median round):")
            for phase, done in row.rounds.items():
                cpus = sorted(round_.figures.cpu_s for round_ in done)
                listed = ", ".join(f"{round_.figures.cpu_s:.3f}" for round_ in done)
                print(
                    f"  {phase:>11}: {listed}  (min {cpus[0]:.3f}, median {cpus[(len(cpus) - 1) // 2]:.3f}, "
                    f"max {cpus[-1]:.3f})"
                )
    print("\nchurn before each of the last two phases, and wall time:")
    for row in rows:
        walls = ", ".join(f"{name} {phase.figures.wall_s:.2f} s" for name, phase in row.phases.items())
        print(
            f"  {row.clients} clients: {row.groups_changed} groups re-configured and the clock moved "
            f"{row.advanced_ms / 1000:.1f} s; wall: {walls}"
        )


def _first_plans(row: Row) -> float:
    """The median CPU seconds of the first ``plan`` of each snapshot of a size (every phase, every round)."""
    return statistics.median(phase.plan_s for done in row.rounds.values() for phase in done)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="client counts, comma-separated")
    parser.add_argument(
        "--profile",
        choices=(*PHASES, "plan"),
        help="profile this phase, or plan on the last snapshot (largest size)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="incremental and full reads per size, each after its churn (the table shows the median)",
    )
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    sizes = [int(size) for size in args.sizes.split(",")]
    counter = RequestCounter()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-observe-") as folder:
        for size in sizes:
            profile = args.profile if size == max(sizes) else None
            rows.append(asyncio.run(bench_size(size, Path(folder), counter, profile, args.rounds)))
            print(f"... {size} clients done", file=sys.stderr)
    print_table(rows)


if __name__ == "__main__":
    main()
