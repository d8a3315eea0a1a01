"""``sepm-reconciler demo``: a simulated two-server site with 14.2 clients, rotated end to end, live.

What it does, all on loopback and in a scratch folder:
1. starts the simulator's ``mixed-14-2`` scenario at high speed (real HTTPS listeners, simulated clients);
2. makes a new 2048-bit RSA certificate per server (PKCS#12, password in an environment variable);
3. writes a desired-state file asking for those certificates, whose ``command`` actuators call the
   simulator's console CLI exactly as a site script would call the real server;
4. runs the real controller on that folder (journal included) and draws its progress;
5. reads the simulator's report and says whether any client was orphaned, whether every group and
   location got its original settings back, how long the rotation took in SEPM time and the least time
   the heartbeat evidence could have taken.
Exit 0 only when the rotation completed with zero orphaned clients and the originals restored.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, load_pem_private_key, pkcs12
from cryptography.x509 import load_pem_x509_certificate

from reconciler.cli.progress import ProgressView
from reconciler.controller.runner import Controller
from reconciler.controller.status import SiteStatus
from reconciler.journal.store import Journal
from reconciler.sim.app import Simulator
from reconciler.sim.certs import fingerprint, generate_self_signed
from reconciler.sim.console_client import ConsoleClient
from reconciler.sim.engine import Site

SCENARIO = "mixed-14-2"
TIME_LIMIT_SECONDS = 110.0
PASSWORD_VARIABLE = "SEPM_DEMO_PASSWORD"  # noqa: S105 (a variable's name)
KEYSTORE_VARIABLE = "SEPM_DEMO_KEYSTORE_PASSWORD"

Settings = dict[tuple[str, str], tuple[str, bool]]


def run_demo(*, speed: float, seed: int, keep: Path | None) -> int:
    workdir = keep if keep is not None else Path(tempfile.mkdtemp(prefix="sepm-reconciler-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        return asyncio.run(_demo(workdir, speed=speed, seed=seed))
    finally:
        if keep is None:
            shutil.rmtree(workdir, ignore_errors=True)


async def _demo(workdir: Path, *, speed: float, seed: int) -> int:
    print(f"Starting a simulated SEPM site ({SCENARIO}) at {speed:g}x real time ...")
    with Simulator(SCENARIO, speed=speed, seed=seed) as sim:
        endpoints_file = workdir / "endpoints.json"
        _write_private(endpoints_file, _json(sim.endpoints))
        folder = write_desired_state(sim, workdir=workdir, endpoints_file=endpoints_file)
        before = location_settings(sim.site)
        clients = len(sim.site.computers())
        print(f"Site {sim.site.name}: {len(sim.site.servers())} servers, {clients:,} clients, "
              f"desired state in {folder}")  # fmt: skip
        print("Rotating every server certificate; each gate waits for 3 heartbeats of evidence per client.\n")
        journal_path = workdir / "state" / "journal.db"
        outcome = await _rotate(folder, journal_path, site=sim.site.name)
        report = ConsoleClient.from_endpoints(endpoints_file).call("GET", "report")
        after = location_settings(sim.site)
    return _final_report(outcome, report, before, after, journal_path, site=sim.site.name)


async def _rotate(folder: Path, journal_path: Path, *, site: str) -> dict[str, Any]:
    view = ProgressView()
    stop = asyncio.Event()
    seen: dict[str, Any] = {"rotation": None, "lower_bound": 0, "stalled": None, "last": None}
    controller: Controller

    def on_status(status: SiteStatus) -> None:
        view.update(status)
        seen["last"] = status
        worker = controller.workers.get(site)
        if status.rotation_id and seen["rotation"] is None:
            seen["rotation"] = status.rotation_id
            if worker is not None and worker.last_plan is not None:
                seen["lower_bound"] = worker.last_plan.evidence_lower_bound
        if seen["rotation"] is not None and status.phase == "Ready":
            stop.set()

    controller = Controller(folder=folder, journal_path=journal_path, watch=False, on_status=on_status)
    started = time.monotonic()
    run = asyncio.create_task(controller.run(stop))
    stopped = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait(
        {run, stopped}, timeout=TIME_LIMIT_SECONDS, return_when=asyncio.FIRST_COMPLETED
    )
    if not done:
        seen["stalled"] = "the rotation did not finish within the demo's time limit"
    elif run in done and not stop.is_set():
        seen["stalled"] = "the controller stopped (see its log above)"
    stop.set()
    stopped.cancel()
    await run
    view.finish()
    seen["seconds"] = time.monotonic() - started
    return seen


def write_desired_state(sim: Simulator, *, workdir: Path, endpoints_file: Path) -> Path:
    """New keystores for every server and the desired-state file that asks for them."""
    keystores = workdir / "keystores"
    keystores.mkdir(exist_ok=True)
    keystore_password = secrets.token_urlsafe(18)
    os.environ[KEYSTORE_VARIABLE] = keystore_password
    os.environ[PASSWORD_VARIABLE] = str(sim.endpoints["password"])
    servers = []
    for view in sim.site.servers():
        cert_pem, key_pem = generate_self_signed(view.name)
        path = keystores / f"{view.name}.p12"
        _write_private(path, _pkcs12(view.name, cert_pem, key_pem, keystore_password))
        bound = sim.endpoints["servers"][view.name]
        nominal = bound.get("nominalPorts", {})
        servers.append(
            {
                "name": view.name,
                "address": bound["address"],
                "ports": {
                    "https": bound["https"],
                    "console": bound["console"],
                    "rest": bound["rest"],
                    # The HTTP copy of the MSL carries the port clients use, not the one this demo bound.
                    "http": nominal.get("http", bound["http"]),
                },
                "certificate": {
                    "sha256": fingerprint(cert_pem),
                    "previousSha256": [bound["sha256"]],
                    "keystore": {"path": str(path), "password": {"env": KEYSTORE_VARIABLE}},
                },
            }
        )
    console = [
        sys.executable,
        "-m",
        "reconciler.cli",
        "sim",
        "console",
        "--endpoints-file",
        str(endpoints_file),
    ]
    msls = [
        {"name": msl.name, "servers": [e.server for e in sorted(msl.entries, key=lambda e: e.priority)]}
        for msl in sim.site.msls()
    ]
    desired = {
        "site": sim.site.name,
        "api": {
            "url": sim.endpoints["restUrl"],
            "username": sim.endpoints["username"],
            "password": {"env": PASSWORD_VARIABLE},
        },
        "servers": servers,
        "managementServerLists": msls,
        "procedure": "auto",
        "gates": {"heartbeatCycles": 3, "dormantAfter": "7d", "timeout": "24h"},
        "actuators": {
            "certificateUpdate": {
                "command": {
                    "argv": [
                        *console,
                        "update-certificate",
                        "--server",
                        "{server}",
                        "--keystore",
                        "{keystore}",
                        "--password-env",
                        "KEYSTORE_PASSWORD",
                    ],
                    "timeout": "60s",
                    "env": {"KEYSTORE_PASSWORD": {"env": KEYSTORE_VARIABLE}},
                }
            },
            "mslCopy": {
                "command": {
                    "argv": [
                        *console,
                        "copy-msl",
                        "--source",
                        "{msl}",
                        "--name",
                        "{msl_copy}",
                        "--http-port",
                        "{http_ports}",
                    ],
                    "timeout": "60s",
                }
            },
            "mslDelete": {
                "command": {"argv": [*console, "delete-msl", "--name", "{msl_copy}"], "timeout": "60s"}
            },
        },
        "controller": {"pollInterval": "250ms"},
    }
    folder = workdir / "desired-state"
    folder.mkdir(exist_ok=True)
    (folder / f"{sim.site.name}.yaml").write_text(yaml.safe_dump(desired, sort_keys=False), encoding="utf-8")
    return folder


def location_settings(site: Site) -> Settings:
    """Every location's (MSL, secure flag), by group path and location name."""
    found: Settings = {}
    for group in site.groups():
        for location in site.locations(group.id):
            settings = site.location_settings(group.id, location.id)
            found[(group.full_path, location.name)] = (settings.msl, settings.secure_communications)
    return found


def _final_report(
    outcome: dict[str, Any],
    report: dict[str, Any],
    before: Settings,
    after: Settings,
    journal_path: Path,
    *,
    site: str,
) -> int:
    orphaned = report.get("orphaned", [])
    cut_off = report.get("cutOff", [])
    changed = sorted(k for k in before if before[k] != after.get(k))
    with Journal(journal_path) as journal:
        rotations = journal.rotations(site, limit=1)
        steps = journal.steps(rotations[0]["id"]) if rotations else []
    rotation = rotations[0] if rotations else None
    completed = rotation is not None and rotation["outcome"] == "completed"
    applied = [s["applied_at"] for s in steps if s["applied_at"] is not None]
    sepm_ms = (max(applied) - rotation["started_at"]) if rotation and applied else 0
    print("\nReport (read from the simulator)")
    print(f"  rotation:                   {'completed' if completed else 'NOT completed'}"
          f"{'' if completed else ' (' + str(outcome.get('stalled') or _last(outcome)) + ')'}")  # fmt: skip
    print(f"  clients orphaned:           {len(orphaned)}")
    print(f"  clients ever cut off:       {len(cut_off)}")
    print(f"  original settings restored: {'yes' if not changed else 'NO: ' + ', '.join(map(str, changed))}")
    print(f"  rotation time (SEPM clock): {_hours(sepm_ms)}  ({outcome.get('seconds', 0):.1f} s real)")
    print(f"  evidence lower bound:       {_hours(int(outcome.get('lower_bound', 0)))}")
    windows: dict[str, list[list[int | None]]] = report.get("insecureWindows", {})
    still_open = sorted(group for group, spans in windows.items() if any(end is None for _, end in spans))
    if windows:
        closed = "all closed again" if not still_open else "STILL OFF: " + ", ".join(still_open)
        print(f"  secure communications off:  {len(windows)} group(s) during the rotation, {closed}")
    ok = completed and not orphaned and not changed and not still_open
    print("\nResult: " + ("zero clients orphaned, originals restored." if ok else "FAILED (see above)."))
    return 0 if ok else 1


def _last(outcome: dict[str, Any]) -> str:
    status = outcome.get("last")
    return f"{status.reason}: {status.message}" if isinstance(status, SiteStatus) else "no status"


def _hours(ms: int) -> str:
    minutes = ms / 60000
    return f"{minutes / 60:.1f} h" if minutes >= 90 else f"{minutes:.0f} min"


def _pkcs12(name: str, cert_pem: bytes, key_pem: bytes, password: str) -> bytes:
    key = load_pem_private_key(key_pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TypeError("the simulator makes RSA keys, as SEPM requires")
    cert = load_pem_x509_certificate(cert_pem)
    return pkcs12.serialize_key_and_certificates(
        name.encode(),
        key,
        cert,
        None,
        BestAvailableEncryption(password.encode()),
    )


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=2).encode()


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
