"""TLS server contexts for the simulated SEPM listeners.

Contract:
- `server_context(cert_pem, key_pem)` builds a server-side `ssl.SSLContext` presenting exactly that
  certificate (TLS 1.2 or later). Python's `ssl` reads key material only from files, so the PEM is
  written to a private temporary directory (mode 0700, files 0600) for the duration of the load and
  removed at once; nothing is left on disk and nothing is logged.
- `CertificateSlot` holds the context one listener presents. `replace()` builds the new context first
  and then swaps the reference in one assignment, so a connection accepted at any instant is wrapped
  with either the old or the new certificate, never with a half-built context. Listeners read
  `slot.context` once per accepted connection (at accept time).
- `control_certificate(host)` makes the certificate of the simulator's own control listener (the
  console endpoint that faults never touch): an EC P-256 certificate valid for the loopback IP, so the
  console CLI can verify it against the PEM published in the endpoints file instead of turning
  verification off.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import tempfile
import threading
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from reconciler.sim.certs import self_signed


def server_context(cert_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
    """A TLS server context that presents `cert_pem` (with its private key `key_pem`)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    with tempfile.TemporaryDirectory(prefix="sepm-sim-tls-") as private_dir:
        cert_path = Path(private_dir) / "cert.pem"
        key_path = Path(private_dir) / "key.pem"
        _write_private(cert_path, cert_pem)
        _write_private(key_path, key_pem)
        context.load_cert_chain(certfile=str(cert_path), keyfile=str(key_path))
    return context


def _write_private(path: Path, data: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


class CertificateSlot:
    """The TLS context one listener presents; replaced by reference when its certificate changes."""

    def __init__(self, cert_pem: bytes, key_pem: bytes) -> None:
        self._lock = threading.Lock()
        self._cert_pem = cert_pem
        self._context = server_context(cert_pem, key_pem)

    @property
    def context(self) -> ssl.SSLContext:
        """The context for a connection accepted now."""
        return self._context

    @property
    def cert_pem(self) -> bytes:
        return self._cert_pem

    def replace(self, cert_pem: bytes, key_pem: bytes) -> bool:
        """Present `cert_pem` from now on; False (and nothing rebuilt) when it is already presented."""
        with self._lock:
            if cert_pem == self._cert_pem:
                return False
            # Build before swapping: a handshake racing this call sees the old or the new context.
            context = server_context(cert_pem, key_pem)
            self._cert_pem = cert_pem
            self._context = context
            return True


def control_certificate(host: str, *, days: int = 30) -> tuple[bytes, bytes]:
    """A fresh self-signed (cert_pem, key_pem) for the control listener, valid for the IP `host`."""
    now = datetime.datetime.now(datetime.UTC)
    return self_signed(
        ec.generate_private_key(ec.SECP256R1()),
        "sepm-simulator-control",
        not_before=now - datetime.timedelta(minutes=5),
        not_after=now + datetime.timedelta(days=days),
        extensions=[
            (x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), False),
            (x509.BasicConstraints(ca=True, path_length=None), True),
        ],
    )
