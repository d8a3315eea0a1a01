"""What a SEPM presents over TLS, read without trusting it.

Contract:
- ``fetch_certificate`` completes a TLS handshake with verification off, reads the leaf certificate the
  peer presented, sends no application data and closes. It is an observation, not a trust decision:
  the REST client decides trust separately (``reconciler.sepm.pinning``), and the planner decides what a
  presented certificate means.
- Failures are transient errors naming ``host:port``: a refused or reset connection is
  ``ConnectionFailed``, no handshake within ``timeout`` is ``RequestTimeout``.
- ``fetch_server_certificates`` reads the three ports on which a SEPM presents its certificate (client
  https, console, REST) concurrently; any port failing fails the whole read.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ssl

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from reconciler.desired.schema import Server
from reconciler.model.fingerprint import fingerprint_of_der
from reconciler.model.keys import describe_key
from reconciler.model.observed import PORT_KINDS, PortKind, PresentedCertificate
from reconciler.sepm.concurrency import run_all
from reconciler.sepm.errors import ConnectionFailed, RequestTimeout


@functools.cache
def _observing_context() -> ssl.SSLContext:
    # Verification off on purpose: this reads whatever the peer presents (self-signed, expired, wrong
    # name) so that it can be reported. Nothing is sent over this connection. One context serves every
    # handshake: it holds no trust and no certificate, and a client context resumes no session unless
    # one is handed to it (none is), so every handshake is a full one and the peer presents the
    # certificate it has now.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


@functools.lru_cache(maxsize=64)
def describe_certificate(der: bytes) -> PresentedCertificate:
    """Fingerprint, subject, expiry and key of a DER certificate, as the model holds them.

    The same bytes always describe the same (a frozen model, so one description can be shared): the
    last few are kept, since every observation reads the same certificates on every port again.
    """
    certificate = x509.load_der_x509_certificate(der)
    key = certificate.public_key()
    key_type, key_bits = describe_key(key)
    return PresentedCertificate(
        sha256=fingerprint_of_der(der),
        subject=certificate.subject.rfc4514_string(),
        not_after=int(certificate.not_valid_after_utc.timestamp() * 1000),
        key_type=key_type,
        key_bits=key_bits,
        pem=certificate.public_bytes(Encoding.PEM).decode("ascii"),
    )


async def fetch_certificate(
    host: str,
    port: int,
    *,
    timeout: float,  # noqa: ASYNC109 - one budget for connect + handshake + close, as the brief's API has it
) -> PresentedCertificate:
    """The certificate ``host:port`` presents in a TLS handshake (no verification, nothing sent)."""
    where = f"{host}:{port}"
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(
                host, port, ssl=_observing_context(), server_hostname=host
            )
            ssl_object = writer.get_extra_info("ssl_object")
            der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    except TimeoutError as exc:
        raise RequestTimeout(
            f"no TLS handshake from {where} within {timeout:g} s; is the SEPM service up?", url=where
        ) from exc
    except (OSError, ssl.SSLError) as exc:
        raise ConnectionFailed(
            f"could not read the certificate presented on {where}: {exc.__class__.__name__}; "
            "check the address and port in the desired state and that SEPM is running",
            url=where,
        ) from exc
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
                async with asyncio.timeout(timeout):
                    await writer.wait_closed()
    if not der:
        raise ConnectionFailed(f"{where} completed a TLS handshake without a certificate", url=where)
    return describe_certificate(der)


def tls_ports(server: Server) -> dict[PortKind, int]:
    """The port of each kind on which a desired server presents its certificate."""
    return {"https": server.ports.https, "console": server.ports.console, "rest": server.ports.rest}


async def fetch_server_certificates(
    server: Server,
    *,
    timeout: float,  # noqa: ASYNC109 - the observer passes one budget per handshake, not per call
) -> dict[PortKind, PresentedCertificate]:
    """The certificate a desired server presents on each of its TLS ports (https, console, rest)."""
    ports = tls_ports(server)
    presented = await run_all(
        fetch_certificate(server.address, ports[kind], timeout=timeout) for kind in PORT_KINDS
    )
    return dict(zip(PORT_KINDS, presented, strict=True))
