"""Small builders for desired states and observations, so that planner tests read like the site they describe.

Times are SEPM epoch ms. ``T0`` is an arbitrary, readable starting instant; ``MIN`` / ``HOUR`` / ``DAY``
are durations in ms. Fingerprints are derived from a label (``fingerprint("sepm01-new")``) so that a
test names certificates instead of spelling hex.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

from reconciler.desired.schema import DesiredSite
from reconciler.model.fingerprint import normalize_fingerprint
from reconciler.model.observed import (
    PORT_KINDS,
    Observed,
    ObservedClient,
    ObservedGroup,
    ObservedLocation,
    ObservedServer,
    PresentedCertificate,
)
from reconciler.model.plan import Plan
from reconciler.model.progress import Progress, StepRecord

SEC = 1000
MIN = 60 * SEC
HOUR = 60 * MIN
DAY = 24 * HOUR
T0 = 1_714_572_000_000  # 2024-05-01T14:00:00Z

ROOT = "My Company"
LAB = ROOT + "\\Lab"
DEFAULT_MSL = "Default Management Server List"
CURRENT_AGENT = "14.3.9816.7000"
LEGACY_AGENT = "14.2.1031.0100"


def fingerprint(label: str) -> str:
    """A stable, canonical SHA-256 fingerprint named by ``label``."""
    return normalize_fingerprint(hashlib.sha256(label.encode()).hexdigest())


def old(server: str) -> str:
    return fingerprint(f"{server}-old")


def new(server: str) -> str:
    return fingerprint(f"{server}-new")


# --- desired state -----------------------------------------------------------------------------------


def desired_site(
    *,
    site: str = "hq",
    servers: Sequence[str] = ("sepm01",),
    msls: Sequence[tuple[str, Sequence[str]]] | None = None,
    procedure: str = "auto",
    http_ports: dict[str, int] | None = None,
    previous: bool = True,
    cycles: int = 3,
    minimum_wait: int = 0,
    dormant_after: int = 7 * 86400,
    max_lagging: int = 0,
    timeout: int = 86400,
    msl_delete: bool = False,
    keystores: bool = False,
    insecure: Sequence[str] = (LAB,),
) -> DesiredSite:
    """A desired site whose servers move from ``old(name)`` to ``new(name)``; durations in seconds.

    ``insecure`` is its ``secureCommunicationsOff``: by default ``My Company\\Lab``, the group these tests
    use for locations an admin keeps insecure on purpose."""
    msls = msls if msls is not None else [(DEFAULT_MSL, list(servers))]
    actuators: dict[str, Any] = {"certificateUpdate": {"operator": {}}, "mslCopy": {"operator": {}}}
    if msl_delete:
        actuators["mslDelete"] = {"operator": {}}
    document: dict[str, Any] = {
        "site": site,
        "api": {
            "url": "https://127.0.0.1:8446",
            "username": "admin",
            "password": {"env": "SEPM_PASSWORD"},
        },
        "servers": [
            {
                "name": name,
                "address": "127.0.0.1",
                "ports": {"http": (http_ports or {}).get(name, 8014)},
                "certificate": {
                    "sha256": new(name),
                    "previousSha256": [old(name)] if previous else [],
                    **({"keystore": {"path": f"{name}.p12"}} if keystores else {}),
                },
            }
            for name in servers
        ],
        "managementServerLists": [{"name": name, "servers": list(members)} for name, members in msls],
        "procedure": procedure,
        "secureCommunicationsOff": list(insecure),
        "gates": {
            "heartbeatCycles": cycles,
            "minimumWait": minimum_wait,
            "dormantAfter": dormant_after,
            "maxLaggingClients": max_lagging,
            "timeout": timeout,
        },
        "actuators": actuators,
    }
    return DesiredSite.model_validate(document)


# --- observation -------------------------------------------------------------------------------------


def presented(sha256: str) -> PresentedCertificate:
    return PresentedCertificate(
        sha256=sha256, subject="CN=sepm", not_after=T0 + 365 * DAY, key_type="RSA", key_bits=2048
    )


def server(name: str, sha256: str | None = None, *, per_port: dict[str, str] | None = None) -> ObservedServer:
    """A server presenting ``sha256`` (default: its old certificate) on every port, or ``per_port``."""
    shown = {port: (per_port or {}).get(port, sha256 or old(name)) for port in PORT_KINDS}
    return ObservedServer(
        name=name,
        address="127.0.0.1",
        ports={"https": 443, "console": 8443, "rest": 8446},
        certificates={port: presented(fp) for port, fp in shown.items()},
    )


def location(
    location_id: str,
    name: str = "Default",
    *,
    msl: str = DEFAULT_MSL,
    secure: bool = True,
    heartbeat: int = 300,
    default: bool = True,
    own_settings: bool = False,
) -> ObservedLocation:
    return ObservedLocation(
        id=location_id,
        name=name,
        is_default=default,
        uses_group_settings=not own_settings,
        management_server_list=msl,
        secure_communications=secure,
        heartbeat_interval=heartbeat,
        mode="PULL",
    )


def group(
    group_id: str,
    path: str,
    *,
    inherits: bool = False,
    locations: Iterable[ObservedLocation] | None = None,
    msl: str = DEFAULT_MSL,
    secure: bool = True,
    heartbeat: int = 300,
) -> ObservedGroup:
    """A group with one default location unless ``locations`` are given."""
    locs = (
        tuple(locations)
        if locations is not None
        else (location(f"{group_id}-L1", msl=msl, secure=secure, heartbeat=heartbeat),)
    )
    return ObservedGroup(
        id=group_id, full_path=path, inherits=inherits, policy_serial=f"{group_id}-1", locations=locs
    )


def client(
    client_id: str,
    group_id: str,
    *,
    version: str = CURRENT_AGENT,
    last: int = T0,
    serial: str | None = None,
    online: bool = True,
) -> ObservedClient:
    """A client that last checked in at ``last`` holding ``serial`` (default: its group's first serial)."""
    return ObservedClient(
        id=client_id,
        name=client_id,
        group_id=group_id,
        agent_version=version,
        last_update_time=last,
        profile_serial=serial if serial is not None else f"{group_id}-1",
        online=online,
    )


def observed(
    *,
    site: str = "hq",
    servers: Iterable[ObservedServer],
    groups: Iterable[ObservedGroup],
    clients: Iterable[ObservedClient] = (),
    now: int = T0,
) -> Observed:
    return Observed(
        site=site,
        server_time=now,
        version="14.3.9816.7000",
        servers=tuple(servers),
        groups=tuple(groups),
        clients=tuple(clients),
    )


# --- progress ----------------------------------------------------------------------------------------


def started(
    desired: DesiredSite,
    first: Plan,
    *,
    at: int = T0,
    done: dict[str, int] | None = None,
    acknowledged: Iterable[str] = (),
    proceeded: dict[str, str] | None = None,
    aborted: bool = False,
    attempted: Iterable[str] = (),
) -> Progress:
    """The journal of a rotation started from plan ``first`` at ``at``; ``done`` maps step ids to times;
    ``attempted`` names steps acted on whose effect has not been seen yet."""
    assert first.procedure is not None
    return Progress(
        rotation_id="r1",
        desired_digest=desired.digest(),
        procedure=first.procedure,
        started_at=at,
        originals=first.originals,
        original_certificates=first.original_certificates,
        done={step_id: StepRecord(applied_at=applied) for step_id, applied in (done or {}).items()},
        acknowledged={step_id: "alice: done in the console" for step_id in acknowledged},
        proceeded=proceeded or {},
        aborted=aborted,
        attempted=tuple(attempted),
    )
