"""Rehearse a rotation against the simulator: new keystores and a desired state for a running `Simulator`.

Product code, not only a test helper (like ``structlog.testing``): the demo uses it, the end-to-end tests
use it, and a user can use it to try a desired state's shape against a simulated copy of their site.

Contract:
- ``prepare(sim, workdir)`` writes, under ``workdir``: the simulator's endpoints file (0600), one new
  2048-bit RSA keystore per server (PKCS#12, 0600, its password in an environment variable of this
  process), and ``desired-state/<site>.yaml`` asking for those certificates with the old ones as
  ``previousSha256``. The SEPM password is likewise referenced through an environment variable.
- Actuators are ``command`` by default, calling ``sepm-reconciler sim console`` exactly as a site script
  would call the real server; ``operator=True`` makes certificate updates and MSL copies operator tasks.
- ``Rehearsal.location_settings()`` reads every location's (MSL, secure flag) straight from the simulated
  site: the ground truth the end-to-end checks compare before and after.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, load_pem_private_key, pkcs12
from cryptography.x509 import load_pem_x509_certificate

from reconciler.sim.app import Simulator
from reconciler.sim.certs import fingerprint, generate_self_signed
from reconciler.sim.console_client import ConsoleClient

PASSWORD_VARIABLE = "SEPM_REHEARSAL_PASSWORD"  # noqa: S105 (a variable's name)
KEYSTORE_VARIABLE = "SEPM_REHEARSAL_KEYSTORE_PASSWORD"

Settings = dict[tuple[str, str], tuple[str, bool]]


@dataclass
class Rehearsal:
    sim: Simulator
    workdir: Path
    endpoints_file: Path
    folder: Path
    desired: dict[str, Any]
    new_fingerprints: dict[str, str] = field(default_factory=dict)

    @property
    def site(self) -> str:
        return self.sim.site.name

    @property
    def desired_file(self) -> Path:
        return self.folder / f"{self.site}.yaml"

    def write(self, desired: dict[str, Any] | None = None) -> None:
        """(Re)write the desired-state file, atomically (write then rename, as Git does)."""
        if desired is not None:
            self.desired = desired
        temporary = self.desired_file.with_suffix(".tmp")
        temporary.write_text(yaml.safe_dump(self.desired, sort_keys=False), encoding="utf-8")
        temporary.replace(self.desired_file)

    def console(self) -> ConsoleClient:
        return ConsoleClient.from_endpoints(self.endpoints_file)

    def report(self) -> dict[str, Any]:
        """The simulator's report, read over its console API."""
        answer: dict[str, Any] = self.console().call("GET", "report")
        return answer

    def location_settings(self) -> Settings:
        site = self.sim.site
        found: Settings = {}
        for group in site.groups():
            for location in site.locations(group.id):
                settings = site.location_settings(group.id, location.id)
                found[(group.full_path, location.name)] = (settings.msl, settings.secure_communications)
        return found

    def new_keystore(self, server: str) -> str:
        """Make another keystore for ``server`` (a second rotation); returns its fingerprint."""
        return _make_keystore(self.workdir / "keystores", server, suffix=secrets.token_hex(3))


def console_argv(endpoints_file: Path) -> list[str]:
    # The light console CLI (standard library only): a command per step starts in milliseconds.
    return [
        sys.executable,
        "-m",
        "reconciler.sim.console_cli",
        "console",
        "--endpoints-file",
        str(endpoints_file),
    ]


def prepare(
    sim: Simulator,
    workdir: Path,
    *,
    operator: bool = False,
    procedure: str = "auto",
    gates: dict[str, Any] | None = None,
    poll_interval: str = "250ms",
    delete_copies: bool = True,
) -> Rehearsal:
    """Keystores and a desired state for the running ``sim``; see the module docstring."""
    workdir.mkdir(parents=True, exist_ok=True)
    endpoints_file = workdir / "endpoints.json"
    write_private(endpoints_file, json.dumps(sim.endpoints, indent=2).encode())
    os.environ[PASSWORD_VARIABLE] = str(sim.endpoints["password"])
    os.environ.setdefault(KEYSTORE_VARIABLE, secrets.token_urlsafe(18))
    keystores = workdir / "keystores"
    keystores.mkdir(exist_ok=True)
    servers = []
    new: dict[str, str] = {}
    for view in sim.site.servers():
        new[view.name] = _make_keystore(keystores, view.name)
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
                    # The HTTP copy of an MSL carries the port clients use, not the one the simulator bound.
                    "http": nominal.get("http", bound["http"]),
                },
                "certificate": {
                    "sha256": new[view.name],
                    "previousSha256": [bound["sha256"]],
                    "keystore": {
                        "path": f"../keystores/{view.name}.p12",
                        "password": {"env": KEYSTORE_VARIABLE},
                    },
                },
            }
        )
    console = console_argv(endpoints_file)
    command_actuators = {
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
                "timeout": "20s",
                "settle": "2s",
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
                "timeout": "20s",
                "settle": "2s",
            }
        },
    }
    actuators: dict[str, Any] = (
        {"certificateUpdate": {"operator": {}}, "mslCopy": {"operator": {}}}
        if operator
        else command_actuators
    )
    if delete_copies:
        actuators["mslDelete"] = {
            "command": {
                "argv": [*console, "delete-msl", "--name", "{msl_copy}"],
                "timeout": "20s",
                "settle": "2s",
            }
        }
    desired = {
        "site": sim.site.name,
        "api": {
            "url": sim.endpoints["restUrl"],
            "username": sim.endpoints["username"],
            "password": {"env": PASSWORD_VARIABLE},
        },
        "servers": servers,
        "managementServerLists": [
            {"name": msl.name, "servers": [e.server for e in sorted(msl.entries, key=lambda e: e.priority)]}
            for msl in sim.site.msls()
        ],
        "procedure": procedure,
        # Secure communications that are off before any rotation are the site's own choice: declared, so
        # that they are not taken for a rotation under way.
        "secureCommunicationsOff": _insecure_groups(sim),
        "gates": {"heartbeatCycles": 3, "dormantAfter": "7d", "timeout": "24h", **(gates or {})},
        "actuators": actuators,
        "controller": {"pollInterval": poll_interval},
    }
    folder = workdir / "desired-state"
    folder.mkdir(exist_ok=True)
    rehearsal = Rehearsal(
        sim=sim,
        workdir=workdir,
        endpoints_file=endpoints_file,
        folder=folder,
        desired=desired,
        new_fingerprints=new,
    )
    rehearsal.write()
    return rehearsal


def _make_keystore(folder: Path, server: str, *, suffix: str = "") -> str:
    cert_pem, key_pem = generate_self_signed(server)
    name = f"{server}{'-' + suffix if suffix else ''}.p12"
    write_private(folder / name, _pkcs12(server, cert_pem, key_pem, os.environ[KEYSTORE_VARIABLE]))
    return fingerprint(cert_pem)


def _pkcs12(name: str, cert_pem: bytes, key_pem: bytes, password: str) -> bytes:
    key = load_pem_private_key(key_pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TypeError("the simulator makes RSA keys, as SEPM requires")
    cert = load_pem_x509_certificate(cert_pem)
    return pkcs12.serialize_key_and_certificates(
        name.encode(), key, cert, None, BestAvailableEncryption(password.encode())
    )


def write_private(path: Path, data: bytes) -> None:
    """Write a file only its owner can read (it may hold a password or a key)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _insecure_groups(sim: Simulator) -> list[str]:
    """Full paths of the groups with a location whose secure communications are off now."""
    site = sim.site
    return sorted(
        group.full_path
        for group in site.groups()
        if any(
            not site.location_settings(group.id, loc.id).secure_communications
            for loc in site.locations(group.id)
        )
    )
