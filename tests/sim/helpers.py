"""What the simulator's tests build their sites from; setup only, the tests keep what they check.

- `make_scenario` / `scenario_data`: a site with a fixed admin password, its servers and MSLs (two
  servers in failover by default), the root group ``My Company`` with complete settings (the first
  MSL, secure communications on, a 300 s pull heartbeat), then the groups and client populations a
  test adds; `population` is one of those.
- `logged_on(sim)`: a REST session on a running simulator's first server, logged on as its admin.
- `frozen_site`: an engine `Site` on a clock that moves only when a test advances it, from ``START``.
- `certificate(name)`: a self-signed pair per name, made once per run (RSA key generation is slow);
  `weak_pair` and `pkcs12_of` for keystores SEPM must refuse or read.
- `SHIPPED` / `SMALL_SCENARIOS`: the shipped scenarios the demo, the tests and the benchmarks name.

Imported as ``tests.sim.helpers`` (the SEPM client's tests use it too); the fixtures built on it are in
``tests/sim/conftest.py``.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from reconciler.sim.app import Simulator
from reconciler.sim.certs import generate_self_signed, self_signed
from reconciler.sim.clock import SimClock
from reconciler.sim.engine import Site
from reconciler.sim.scenario import Scenario
from reconciler.sim.scenario_files import load_scenario
from reconciler.sim.testing import SepmSession

MODERN = "14.3.9816.7000"
DEFAULT_MSL = "Default Management Server List"
START = 1_700_000_000_000
FROZEN = 1e-9  # simulated ms per real ms: the clock stands still unless a test advances it
SHIPPED = [
    "single-server",
    "two-server-failover",
    "mixed-14-2",
    "failover-14-2-ru1",
    "failover-14-2-ru2",
    "nested-overrides",
    "custom-http-port",
    "already-insecure",
    "one-server-msl",
    "large",
]
SMALL_SCENARIOS = [name for name in SHIPPED if name != "large"]  # "large" takes seconds to build


def scenario_data(
    site: str,
    *,
    password: str,
    msls: list[dict[str, Any]] | None = None,
    servers: Sequence[str | dict[str, Any]] = ("sepm01", "sepm02"),
    groups: Sequence[dict[str, Any]] = (),
    clients: Sequence[dict[str, Any]] = (),
    heartbeat_seconds: int = 300,
    **more: Any,
) -> dict[str, Any]:
    """A scenario as the YAML would hold it: servers by name (or spec), `failover_msl` unless ``msls``
    says otherwise, ``My Company`` then ``groups``."""
    msls = [failover_msl()] if msls is None else msls
    root = {
        "msl": msls[0]["name"],
        "secure_communications": True,
        "heartbeat_seconds": heartbeat_seconds,
        "mode": "PULL",
    }
    return {
        "site": site,
        "admin": {"username": "admin", "password": password},
        "servers": [{"name": server} if isinstance(server, str) else server for server in servers],
        "msls": msls,
        "groups": [{"path": "My Company", "settings": root}, *groups],
        "clients": list(clients),
        **more,
    }


def failover_msl() -> dict[str, Any]:
    """The default MSL of a two-server site: sepm01 first, sepm02 when sepm01 cannot be reached."""
    return {
        "name": DEFAULT_MSL,
        "entries": [{"server": "sepm01", "priority": 1}, {"server": "sepm02", "priority": 2}],
    }


def make_scenario(site: str, **parts: Any) -> Scenario:
    """`scenario_data`, validated."""
    return Scenario.model_validate(scenario_data(site, **parts))


def population(
    group: str, count: int, versions: dict[str, float] | None = None, **more: Any
) -> dict[str, Any]:
    """``count`` clients in ``group``, all on a current 14.3 agent unless ``versions`` says otherwise."""
    return {"group": group, "count": count, "versions": versions or {MODERN: 1.0}, **more}


@contextmanager
def logged_on(sim: Simulator) -> Iterator[SepmSession]:
    """A REST session on the simulator's first server, logged on as the site's admin."""
    endpoints = sim.endpoints
    with SepmSession(endpoints["restUrl"]) as session:
        assert session.authenticate(endpoints["username"], endpoints["password"]).status_code == 200
        yield session


def frozen_site(scenario: str | Scenario, *, seed: int, pinned: bool = True) -> Site:
    """An engine Site from ``START`` on a frozen clock; its servers' certificates come from
    `certificate` (made once per name) unless ``pinned`` is False (fresh keys, as a real start)."""
    loaded = load_scenario(scenario) if isinstance(scenario, str) else scenario
    certificates = {s.name: certificate(s.name) for s in loaded.servers} if pinned else None
    clock = SimClock(speed=FROZEN, start_ms=START)
    return Site.from_scenario(loaded, clock=clock, seed=seed, certificates=certificates)


@functools.cache
def certificate(name: str) -> tuple[bytes, bytes]:
    """A self-signed (certificate PEM, key PEM) like SEPM's, the same one for a name all run long."""
    return generate_self_signed(name)


def weak_pair() -> tuple[bytes, bytes]:
    """A self-signed certificate on a 1024-bit RSA key (too weak for SEPM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    now = dt.datetime.now(dt.UTC)
    return self_signed(key, "weak", not_before=now, not_after=now + dt.timedelta(days=1), serial_number=1)


def pkcs12_of(cert_pem: bytes, key_pem: bytes, password: str | bytes) -> bytes:
    """A PKCS#12 keystore holding the pair, encrypted with ``password``."""
    key = serialization.load_pem_private_key(key_pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    secret = password.encode() if isinstance(password, str) else password
    encryption = serialization.BestAvailableEncryption(secret)
    return pkcs12.serialize_key_and_certificates(
        b"sepm", key, x509.load_pem_x509_certificate(cert_pem), None, encryption
    )
