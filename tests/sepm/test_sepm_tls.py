"""TLS: reading presented certificates, and pinning the REST port to the allowed ones (real TLS, loopback)."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from datetime import UTC

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from sepm_fakes import PASSWORD, TlsServer, make_certificate

from reconciler.backoff import RetryPolicy
from reconciler.sepm.client import SepmClient
from reconciler.sepm.errors import ConnectionFailed, PinMismatch, RequestTimeout
from reconciler.sepm.pinning import TrustStore
from reconciler.sepm.tls import describe_certificate, fetch_certificate

CURRENT = make_certificate("sepm01.corp.example")
NEXT = make_certificate("sepm01.corp.example")  # same name, another key: what a rotation looks like
STRANGER = make_certificate("sepm01.corp.example")
EXPIRED = make_certificate("sepm01.corp.example", expired=True)


def _client(server: TlsServer, allowed: set[str]) -> SepmClient:
    return SepmClient(
        base_url=f"https://127.0.0.1:{server.port}/sepm/api/v1",
        username="admin",
        password=PASSWORD,
        allowed_fingerprints=frozenset(allowed),
        retry=RetryPolicy(attempts=2, base_delay=0.0, max_delay=0.0),
        timeout=5.0,
    )


async def test_fetch_certificate_describes_what_is_presented():
    """The fingerprint, subject, expiry and key of the presented certificate are reported."""
    async with TlsServer(CURRENT) as server:
        presented = await fetch_certificate("127.0.0.1", server.port, timeout=5)
    assert presented.sha256 == CURRENT.sha256
    assert presented.subject == "CN=sepm01.corp.example"
    assert presented.not_after == int(
        CURRENT.certificate.not_valid_after_utc.astimezone(UTC).timestamp() * 1000
    )
    assert (presented.key_type, presented.key_bits) == ("RSA", 2048)
    assert presented.pem.encode() == CURRENT.pem
    assert server.received == b""  # an observation sends nothing


async def test_fetch_certificate_reads_what_is_presented_now_each_time():
    """The handshakes share one context and the descriptions a cache: a server that switched
    certificates between two reads is seen with the new one, and with the old one again after."""
    async with TlsServer(CURRENT) as server:
        first = await fetch_certificate("127.0.0.1", server.port, timeout=5)
        server.use(NEXT)
        second = await fetch_certificate("127.0.0.1", server.port, timeout=5)
        server.use(CURRENT)
        third = await fetch_certificate("127.0.0.1", server.port, timeout=5)
    assert [first.sha256, second.sha256, third.sha256] == [CURRENT.sha256, NEXT.sha256, CURRENT.sha256]
    assert second.pem.encode() == NEXT.pem


async def test_fetch_certificate_from_a_closed_port_is_a_connection_failure():
    """Nothing listening: ConnectionFailed naming host:port."""
    async with TlsServer(CURRENT) as server:
        port = server.port
    with pytest.raises(ConnectionFailed, match=f"127.0.0.1:{port}"):
        await fetch_certificate("127.0.0.1", port, timeout=2)


async def test_fetch_certificate_from_a_silent_peer_times_out():
    """A peer that accepts but never speaks TLS: RequestTimeout."""

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)
        writer.close()

    listener = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        with pytest.raises(RequestTimeout):
            await fetch_certificate("127.0.0.1", port, timeout=0.3)
    finally:
        listener.close()


async def test_an_allowed_certificate_is_trusted():
    """With the presented certificate allowed, the client logs on and reads."""
    async with TlsServer(CURRENT) as server, _client(server, {CURRENT.sha256, NEXT.sha256}) as client:
        assert (await client.version())["version"] == "14.3.9816.7000"
        assert client.pinned_fingerprints == {CURRENT.sha256}
    assert PASSWORD.encode() in server.received


async def test_an_expired_allowed_certificate_is_still_trusted():
    """A pin is exact, so an expired allowed certificate (the reason to rotate) is trusted."""
    async with TlsServer(EXPIRED) as server, _client(server, {EXPIRED.sha256}) as client:
        assert (await client.version())["version"]


async def test_a_certificate_not_allowed_is_refused_before_anything_is_sent():
    """A stranger's certificate raises PinMismatch naming it, and the server receives no byte."""
    async with TlsServer(STRANGER) as server, _client(server, {CURRENT.sha256}) as client:
        with pytest.raises(PinMismatch) as caught:
            await client.version()
        assert not client.credentials_rejected
    assert caught.value.presented == STRANGER.sha256
    assert STRANGER.sha256 in str(caught.value)
    assert "no credentials were sent" in str(caught.value)
    assert server.received == b""


async def test_a_change_to_another_allowed_certificate_is_followed():
    """When the server switches to another allowed certificate, the client re-pins and carries on."""
    async with TlsServer(CURRENT) as server, _client(server, {CURRENT.sha256, NEXT.sha256}) as client:
        await client.version()
        server.use(NEXT)
        await client.version()
        assert NEXT.sha256 in client.pinned_fingerprints


async def test_a_change_to_a_stranger_mid_session_sends_nothing_more():
    """A switch to a non-allowed certificate mid-session raises PinMismatch; no further byte is sent."""
    async with TlsServer(CURRENT) as server, _client(server, {CURRENT.sha256}) as client:
        await client.version()
        sent_before = len(server.received)
        server.use(STRANGER)
        with pytest.raises(PinMismatch):
            await client.version()
    assert len(server.received) == sent_before


async def test_a_leaf_issued_by_a_pinned_certificate_is_not_trusted():
    """Only the pinned certificates themselves are trusted, not certificates they issued."""
    authority = make_certificate("sepm01 authority", ca=True)
    issued = make_certificate("sepm01.corp.example", issuer=authority)
    async with TlsServer(authority) as server, _client(server, {authority.sha256}) as client:
        await client.version()
        sent_before = len(server.received)
        server.use(issued, chain=[authority])
        with pytest.raises(PinMismatch) as caught:
            await client.version()
    assert caught.value.presented == issued.sha256
    assert len(server.received) == sent_before


def test_the_pinned_context_refuses_an_issued_leaf_at_the_handshake(tmp_path):
    """The trust store accepts an issued leaf, but the pinned handshake refuses it (blocking sockets too)."""
    authority = make_certificate("authority", ca=True)
    issued = make_certificate("leaf", issuer=authority)
    (tmp_path / "c.pem").write_bytes(issued.pem + authority.pem)
    (tmp_path / "k.pem").write_bytes(issued.key_pem)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        connection, _ = listener.accept()
        try:
            with server_context.wrap_socket(connection, server_side=True) as tls:
                tls.recv(1)
        except (ssl.SSLError, OSError):
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    store = TrustStore(frozenset({authority.sha256}))
    store.admit(describe_certificate(authority.certificate.public_bytes(Encoding.DER)), where="test")
    try:
        with (
            socket.create_connection(("127.0.0.1", port)) as raw,
            pytest.raises(ssl.SSLCertVerificationError, match="pinning"),
        ):
            store.context().wrap_socket(raw, server_hostname="127.0.0.1")
    finally:
        listener.close()
        thread.join(timeout=5)
