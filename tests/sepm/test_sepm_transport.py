"""The HTTP transport on asyncio's sockets and TLS (``reconciler.sepm.transport``), over real TLS on loopback.

Each test scripts a peer with ``asyncio.start_server`` and talks to it through ``PoolTransport`` with
the pinned context the client uses, so what is tested is what runs against SEPM: keep-alive, the
three ways a body ends, a peer that closes or goes silent, a certificate that is not pinned, and the
back-pressure that keeps a fast peer from filling our memory.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import struct
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from sepm_fakes import Cert, make_certificate

from reconciler.sepm import transport as transport_module
from reconciler.sepm.connection import DirectClient
from reconciler.sepm.pinning import TrustStore, is_verification_failure
from reconciler.sepm.tls import describe_certificate
from reconciler.sepm.transport import PoolTransport

CERT = make_certificate("sepm01.corp.example")
STRANGER = make_certificate("sepm01.corp.example")

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def _server_context(cert: Cert, folder: Path) -> ssl.SSLContext:
    (folder / "cert.pem").write_bytes(cert.pem)
    (folder / "key.pem").write_bytes(cert.key_pem)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return context


def _pinned(cert: Cert) -> ssl.SSLContext:
    store = TrustStore(frozenset({cert.sha256}))
    store.admit(describe_certificate(cert.certificate.public_bytes(Encoding.DER)), where="test")
    return store.context()


class Peer:
    """A TLS listener on 127.0.0.1 that answers with ``handler``; counts the connections it accepts."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.open = 0
        self.most_open = 0
        self.port = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            await self.handler(reader, writer)
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            pass
        finally:
            self.open -= 1
            writer.close()


@asynccontextmanager
async def serving(handler: Handler, cert: Cert = CERT) -> AsyncIterator[Peer]:
    peer = Peer(handler)
    with tempfile.TemporaryDirectory() as folder:
        server = await asyncio.start_server(
            peer._serve, "127.0.0.1", 0, ssl=_server_context(cert, Path(folder))
        )
        peer.port = server.sockets[0].getsockname()[1]
        try:
            yield peer
        finally:
            server.close()


@asynccontextmanager
async def client(
    peer: Peer,
    *,
    timeout: float | httpx.Timeout = 5.0,
    pinned: Cert = CERT,
    transport: PoolTransport | None = None,
) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=f"https://127.0.0.1:{peer.port}",
        transport=transport or PoolTransport(_pinned(pinned)),
        timeout=timeout,
    ) as http:
        yield http


async def _request_head(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


def _answer(body: bytes, *, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


async def keep_alive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answers every request on the connection with its request line."""
    while True:
        head = await _request_head(reader)
        writer.write(_answer(head.split(b"\r\n")[0]))
        await writer.drain()


async def test_requests_reuse_one_kept_alive_connection() -> None:
    """Three requests, one after the other: one connection, one handshake, each answer its own."""
    async with serving(keep_alive) as peer, client(peer) as http:
        answers = [(await http.get(f"/sepm/api/v1/{n}")).text for n in range(3)]
    assert answers == [f"GET /sepm/api/v1/{n} HTTP/1.1" for n in range(3)]
    assert peer.connections == 1


async def test_a_chunked_body_is_read_whole() -> None:
    """Transfer-Encoding: chunked (what a Tomcat sends for a body it streams) is reassembled."""
    body = b'{"content": [' + b",".join(b'{"id": "%d"}' % n for n in range(2000)) + b"]}"

    async def chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _request_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for start in range(0, len(body), 777):
            piece = body[start : start + 777]
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    async with serving(chunked) as peer, client(peer) as http:
        response = await http.get("/page")
    assert response.content == body


async def test_a_body_ended_by_a_close_without_close_notify_is_whole() -> None:
    """No length, no chunks, and the TCP connection cut without TLS's close_notify: the body ends there."""
    body = b"x" * 300_000

    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _request_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + body)
        await writer.drain()
        writer.transport.abort()  # no close_notify

    async with serving(cut) as peer, client(peer) as http:
        response = await http.get("/")
    assert response.content == body


@pytest.mark.parametrize(
    ("answer", "then_cut"),
    [
        # Content-Length promises more than arrives before the close: not a short body.
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly this", True),
        # Another protocol on the port.
        (b"SSH-2.0-OpenSSH_9.6\r\n\r\n", False),
    ],
    ids=["body cut short", "garbage instead of http"],
)
async def test_a_broken_answer_is_a_protocol_error(answer: bytes, then_cut: bool) -> None:
    async def broken(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _request_head(reader)
        writer.write(answer)
        await writer.drain()
        if then_cut:
            writer.transport.abort()

    async with serving(broken) as peer, client(peer) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get("/")


async def test_a_request_body_arrives_whole_and_the_connection_serves_on() -> None:
    """A PATCH's JSON body (SEPM's settings writes) reaches the peer as sent, framed by its length; a
    large one too (sent in pieces); and the connection serves the next request."""
    received: list[bytes] = []

    async def echo_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await _request_head(reader)
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            received.append(await reader.readexactly(length))
            writer.write(_answer(b"done"))
            await writer.drain()

    small = {"configuration": {"communication_settings": {"pull_mode_heartbeat_freq_in_seconds": 600}}}
    large = {"blob": "z" * 300_000}
    async with serving(echo_body) as peer, client(peer) as http:
        for body in (small, large):
            assert (await http.patch("/settings", json=body)).text == "done"
    assert [json.loads(body) for body in received] == [small, large]
    assert peer.connections == 1


@pytest.mark.parametrize(
    ("answer", "method"),
    [
        # An interim answer first: the real one follows on the same connection.
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", "GET"),
        # No body whatever the headers say: a 204, and the answer to a HEAD.
        (b"HTTP/1.1 204 No Content\r\n\r\n", "GET"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", "HEAD"),
    ],
    ids=["100 then 200", "204", "HEAD"],
)
async def test_answers_without_a_plain_body_keep_the_connection(answer: bytes, method: str) -> None:
    async def answering(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await _request_head(reader)
            writer.write(answer)
            await writer.drain()

    async with serving(answering) as peer, client(peer) as http:
        responses = [await http.request(method, "/") for _ in range(2)]
    assert [r.content for r in responses] == [answer.rpartition(b"\r\n\r\n")[2]] * 2
    assert peer.connections == 1


@pytest.mark.parametrize(
    "answer",
    [
        # Two framings at once (a smuggling classic): refused, not guessed.
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
        # Two lengths that disagree.
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nokk",
        # A head past the bound (100 KiB): refused before it is all buffered.
        b"HTTP/1.1 200 OK\r\nX-Padding: " + b"p" * 200_000 + b"\r\nContent-Length: 2\r\n\r\nok",
        # A chunk size that is not hexadecimal.
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n",
    ],
    ids=["length and chunked", "two lengths", "oversized head", "bad chunk size"],
)
async def test_an_ambiguous_or_oversized_answer_is_a_protocol_error(answer: bytes) -> None:
    async def answering(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _request_head(reader)
        writer.write(answer)
        await writer.drain()
        await asyncio.sleep(1)

    async with serving(answering) as peer, client(peer) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get("/")


async def test_bytes_past_an_answer_are_never_read_as_the_next_answer() -> None:
    """A broken peer sends a second answer right behind a bodiless one (a 204, then a body): h11 keeps
    the surplus, and the connection must not be reused, or the next request would get an answer the
    peer never gave it."""
    served = 0

    async def extra(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal served
        while True:
            await _request_head(reader)
            served += 1
            if served == 1:
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n" + _answer(b"forged"))
            else:
                writer.write(_answer(b"genuine"))
            await writer.drain()

    async with serving(extra) as peer, client(peer) as http:
        assert (await http.get("/first")).status_code == 204
        await asyncio.sleep(0.1)
        assert (await http.get("/second")).text == "genuine"
    assert peer.connections == 2


async def test_a_header_h11_refuses_to_send_is_an_httpx_error() -> None:
    """A line break in a header value (httpx lets it through) is refused before anything is sent, as
    httpx's LocalProtocolError, and the connection serves on."""

    async with serving(keep_alive) as peer, client(peer) as http:
        with pytest.raises(httpx.LocalProtocolError):
            await http.get("/", headers={"X-Injected": "a\r\nEvil: 1"})
        assert (await http.get("/after")).text == "GET /after HTTP/1.1"


async def test_closing_the_transport_under_a_body_is_an_error_not_its_end() -> None:
    """Our own close (a retired client's transport closed while a body delimited by the peer's close
    is being read) is a transport error, not the peer's close: the body is not taken as whole."""
    started = asyncio.Event()

    async def slow_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _request_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"a" * 1000)
        await writer.drain()
        started.set()
        await asyncio.sleep(2)
        writer.write(b"b" * 1000)
        await writer.drain()

    async def read_while_closing(response: httpx.Response) -> None:
        async for _ in response.aiter_raw():
            await started.wait()
            await transport.aclose()

    transport = PoolTransport(_pinned(CERT))
    async with (
        serving(slow_body) as peer,
        client(peer, transport=transport) as http,
        http.stream("GET", "/") as response,
    ):
        with pytest.raises(httpx.ReadError):
            await read_while_closing(response)


async def test_interim_answers_without_end_are_a_protocol_error() -> None:
    """1xx answers one after another, each restarting the read timeout: refused after a few."""

    async def interim(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _request_head(reader)
        for _ in range(50):
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await writer.drain()
            await asyncio.sleep(0.01)

    async with serving(interim) as peer, client(peer) as http:
        with pytest.raises(httpx.RemoteProtocolError, match="interim"):
            await http.get("/")


async def test_an_answer_that_says_close_is_not_reused() -> None:
    """``Connection: close`` on a complete answer: the next request opens a new connection."""

    async def closing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _request_head(reader)
        writer.write(_answer(b"ok", extra=b"Connection: close\r\n"))
        await writer.drain()
        await asyncio.sleep(1)  # the peer does not close first: the header alone must decide

    async with serving(closing) as peer, client(peer) as http:
        assert [(await http.get("/")).text for _ in range(2)] == ["ok", "ok"]
    assert peer.connections == 2


async def test_an_idle_connection_the_peer_closed_is_not_reused() -> None:
    """The peer answers once and closes: the next request opens a new connection and succeeds."""

    async def once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _request_head(reader)
        writer.write(_answer(b"ok"))  # keep-alive by HTTP/1.1's default, then closed anyway
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    async with serving(once) as peer, client(peer) as http:
        assert (await http.get("/")).text == "ok"
        await asyncio.sleep(0.2)  # the close reaches us while the connection is idle
        assert (await http.get("/")).text == "ok"
    assert peer.connections == 2


async def test_a_silent_peer_is_a_read_timeout() -> None:
    """The request is sent and nothing comes back: ReadTimeout after the read timeout."""

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _request_head(reader)
        await asyncio.sleep(10)

    async with serving(silent) as peer, client(peer, timeout=0.3) as http:
        started = asyncio.get_running_loop().time()
        with pytest.raises(httpx.ReadTimeout):
            await http.get("/")
        assert asyncio.get_running_loop().time() - started < 3


async def test_a_cancellation_from_outside_stays_a_cancellation() -> None:
    """The caller's deadline cancels a read in progress: TimeoutError from its own scope, not ReadTimeout;
    the transport stays usable."""
    answered = asyncio.Event()

    async def slow_first(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await _request_head(reader)
            if not answered.is_set():
                answered.set()
                await asyncio.sleep(10)
            writer.write(_answer(b"ok"))
            await writer.drain()

    async with serving(slow_first) as peer, client(peer, timeout=30) as http:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await http.get("/")
        assert (await http.get("/")).text == "ok"


async def test_a_certificate_that_is_not_pinned_fails_verification() -> None:
    """The peer presents another certificate: ConnectError caused by a verification failure (re-pinning
    looks for exactly that), and no request is sent."""
    received = bytearray()

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.extend(await reader.read(1000))

    async with serving(record, cert=STRANGER) as peer, client(peer) as http:
        with pytest.raises(httpx.ConnectError) as caught:
            await http.get("/")
    assert is_verification_failure(caught.value)
    assert received == b""


async def test_nothing_listening_is_a_connect_error() -> None:
    async with serving(keep_alive) as peer:
        port = peer.port
    closed = Peer(keep_alive)
    closed.port = port
    async with client(closed) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get("/")


async def test_a_peer_that_never_finishes_the_handshake_is_a_connect_timeout() -> None:
    async def plain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(10)

    listener = await asyncio.start_server(plain, "127.0.0.1", 0)  # TCP only: our ClientHello goes unanswered
    peer = Peer(keep_alive)
    peer.port = listener.sockets[0].getsockname()[1]
    try:
        async with client(peer, timeout=0.3) as http:
            with pytest.raises(httpx.ConnectTimeout):
                await http.get("/")
    finally:
        listener.close()


async def test_a_fast_peer_is_held_back_while_we_read_slowly(monkeypatch: pytest.MonkeyPatch) -> None:
    """8 MB sent at once and read slowly: what waits in our buffer stays near the high-water mark."""
    body = bytes(range(256)) * (8 * 1024 * 4)
    largest = 0
    original = transport_module._Receiver.data_received

    def measured(self: transport_module._Receiver, data: bytes) -> None:
        nonlocal largest
        original(self, data)
        largest = max(largest, len(self.buffer))

    monkeypatch.setattr(transport_module._Receiver, "data_received", measured)

    async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _request_head(reader)
        writer.write(_answer(body))
        await writer.drain()

    async with serving(flood) as peer, client(peer) as http, http.stream("GET", "/") as response:
        chunks = []
        async for chunk in response.aiter_raw():
            chunks.append(chunk)
            await asyncio.sleep(0.001)
    assert b"".join(chunks) == body
    # One TLS read past the mark can land before reading pauses: a few hundred KB at most.
    assert transport_module.HIGH_WATER < largest < transport_module.HIGH_WATER + 512 * 1024


async def test_a_connection_reset_mid_body_is_a_read_error() -> None:
    """The peer resets the connection (RST) halfway through a body: ReadError, not a short body."""

    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _request_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000)
        await writer.drain()
        await asyncio.sleep(0.1)
        raw = writer.get_extra_info("socket")
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    async with serving(reset) as peer, client(peer) as http:
        with pytest.raises(httpx.ReadError):
            await http.get("/")


# -- the pool ----------------------------------------------------------------------------------------


def slow(delay: float) -> Handler:
    """Answers every request on the connection after ``delay`` seconds."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await _request_head(reader)
            await asyncio.sleep(delay)
            writer.write(_answer(b"ok"))
            await writer.drain()

    return answer


async def test_no_more_connections_than_allowed_are_open_at_once() -> None:
    """Eight requests at once through a pool of two: two connections, every request answered."""
    transport = PoolTransport(_pinned(CERT), max_connections=2)
    async with serving(slow(0.05)) as peer, client(peer, transport=transport) as http:
        answers = await asyncio.gather(*(http.get(f"/{n}") for n in range(8)))
    assert [a.text for a in answers] == ["ok"] * 8
    assert peer.most_open == 2
    assert peer.connections == 2


async def test_a_request_that_finds_every_connection_busy_times_out_waiting() -> None:
    """One connection, busy for seconds: the next request gives up after the pool timeout."""
    transport = PoolTransport(_pinned(CERT), max_connections=1)
    timeout = httpx.Timeout(5.0, pool=0.2)
    async with serving(slow(2)) as peer, client(peer, transport=transport, timeout=timeout) as http:
        busy = asyncio.create_task(http.get("/busy"))
        await asyncio.sleep(0.3)  # the busy request holds the only connection
        with pytest.raises(httpx.PoolTimeout):
            await http.get("/waits")
        busy.cancel()


async def test_a_connection_is_freed_whatever_ended_its_response() -> None:
    """A body closed unread, a protocol error, a read timeout: each frees its connection, so a pool of
    one still serves the next request (a leaked slot would make it wait for the pool timeout)."""
    mode = ["unread"]

    async def varied(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await _request_head(reader)
            if mode[0] == "unread":
                writer.write(_answer(b"y" * 2_000_000))
            elif mode[0] == "garbage":
                writer.write(b"NOT HTTP\r\n\r\n")
            elif mode[0] == "silent":
                await asyncio.sleep(10)
            else:
                writer.write(_answer(b"ok"))
            await writer.drain()

    transport = PoolTransport(_pinned(CERT), max_connections=1)
    timeout = httpx.Timeout(0.5, pool=0.5)
    async with serving(varied) as peer, client(peer, transport=transport, timeout=timeout) as http:
        async with http.stream("GET", "/unread") as response:
            assert response.status_code == 200  # closed without reading its 2 MB
        mode[0] = "garbage"
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get("/garbage")
        mode[0] = "silent"
        with pytest.raises(httpx.ReadTimeout):
            await http.get("/silent")
        mode[0] = "ok"
        assert (await http.get("/ok")).text == "ok"
    assert peer.connections == 4  # none of the broken connections was used again


async def test_a_connection_idle_past_its_expiry_is_not_reused() -> None:
    transport = PoolTransport(_pinned(CERT), keepalive_expiry=0.1)
    async with serving(keep_alive) as peer, client(peer, transport=transport) as http:
        await http.get("/first")
        await http.get("/soon")  # within the expiry: the same connection
        await asyncio.sleep(0.3)
        await http.get("/later")
    assert peer.connections == 2


def test_a_transport_serves_one_event_loop_after_another() -> None:
    """The same client used under two ``asyncio.run`` calls: the second opens its own connection
    instead of using the first loop's dead one."""
    transport = PoolTransport(_pinned(CERT))
    answers: list[str] = []

    async def once() -> None:
        async with serving(keep_alive) as peer:
            http = httpx.AsyncClient(base_url=f"https://127.0.0.1:{peer.port}", transport=transport)
            answers.append((await http.get("/")).text)
            answers.append((await http.get("/")).text)

    asyncio.run(once())
    asyncio.run(once())
    assert answers == ["GET / HTTP/1.1"] * 4


async def test_plain_http_is_refused() -> None:
    async with httpx.AsyncClient(transport=PoolTransport(_pinned(CERT))) as http:
        with pytest.raises(httpx.UnsupportedProtocol):
            await http.get("http://127.0.0.1:9/")


async def test_a_connection_given_up_is_closed_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """After a read timeout the socket is closed now. Closing a TLS connection politely sends
    close_notify and waits for the peer's (asyncio waits 30 s); a peer that has stopped reading never
    answers, and the socket would stay open outside the pool's count."""
    lost = asyncio.Event()
    original = transport_module._Receiver.connection_lost

    def recorded(self: transport_module._Receiver, exc: Exception | None) -> None:
        original(self, exc)
        lost.set()

    monkeypatch.setattr(transport_module._Receiver, "connection_lost", recorded)

    async def stuck(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _request_head(reader)
        writer.transport.pause_reading()  # reads nothing more, close_notify included
        await asyncio.sleep(10)

    async with serving(stuck) as peer, client(peer, timeout=0.3) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.get("/")
        await asyncio.wait_for(lost.wait(), timeout=3)


async def test_bytes_that_arrive_outside_tls_refuse_the_connection() -> None:
    """Anything received before the handshake (plaintext injected on the path) must never be read as
    the pinned peer's answer: the upgrade is refused."""
    async with serving(keep_alive) as peer:
        receiver = await transport_module._connect_tcp("127.0.0.1", peer.port, timeout=5)
        receiver.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
        with pytest.raises(httpx.ConnectError, match="outside the TLS handshake"):
            await transport_module._start_tls(receiver, _pinned(CERT), server_hostname="127.0.0.1", timeout=5)


async def test_a_pool_of_one_serves_two_origins_in_turn() -> None:
    """An idle connection to one origin gives its slot up to a request for another."""
    transport = PoolTransport(_pinned(CERT), max_connections=1)
    timeout = httpx.Timeout(5.0, pool=1.0)
    async with (
        serving(keep_alive) as first,
        serving(keep_alive) as second,
        httpx.AsyncClient(transport=transport, timeout=timeout) as http,
    ):
        for peer in (first, second, first):
            assert (await http.get(f"https://127.0.0.1:{peer.port}/")).status_code == 200
    assert (first.connections, second.connections) == (2, 1)


async def test_many_requests_through_few_connections_that_keep_closing() -> None:
    """Forty requests at once through two connections, every other answer closing its connection: each
    request is answered, never more than two connections are open, and none waits for the pool timeout."""
    answered = 0

    async def closing_sometimes(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal answered
        while True:
            await _request_head(reader)
            answered += 1
            close = answered % 2 == 0
            writer.write(_answer(b"ok", extra=b"Connection: close\r\n" if close else b""))
            await writer.drain()
            if close:
                return

    transport = PoolTransport(_pinned(CERT), max_connections=2)
    timeout = httpx.Timeout(5.0, pool=4.0)
    async with serving(closing_sometimes) as peer, client(peer, transport=transport, timeout=timeout) as http:
        requests = []
        for n in range(40):  # newcomers keep arriving while earlier requests wait
            requests.append(asyncio.create_task(http.get(f"/{n}")))
            await asyncio.sleep(0.002)
        answers = await asyncio.gather(*requests)
        pool = transport._pool
        assert (pool._slots_used, pool._someone_waits()) == (len(pool._open), False)
    assert [a.text for a in answers] == ["ok"] * 40
    assert peer.most_open <= 2


# -- the client over it: DirectClient --------------------------------------------------------------


def _direct(peer: Peer) -> DirectClient:
    return DirectClient(
        base_url=f"https://127.0.0.1:{peer.port}",
        transport=PoolTransport(_pinned(CERT)),
        timeout=5.0,
    )


async def test_a_cookie_the_server_sets_goes_back_with_the_next_request() -> None:
    """Sending past httpx's client machinery keeps its cookie jar: what SEPM's Tomcat sets, it gets back."""
    heads: list[bytes] = []

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            heads.append(await _request_head(reader))
            cookie = (
                b"Set-Cookie: JSESSIONID=abc123; Path=/; Secure; HttpOnly\r\n" if len(heads) == 1 else b""
            )
            writer.write(_answer(b"ok", extra=cookie))
            await writer.drain()

    async with serving(session) as peer, _direct(peer) as http:
        for _ in range(2):
            response = await http.send(http.build_request("GET", "/sepm/api/v1/version"))
            assert response.text == "ok"
    assert b"cookie:" not in heads[0].lower()
    assert b"Cookie: JSESSIONID=abc123" in heads[1]


async def test_a_redirect_is_answered_not_followed() -> None:
    """A 302 comes back as it is; the token would otherwise follow it to wherever it points."""
    heads: list[bytes] = []

    async def redirect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            heads.append(await _request_head(reader))
            writer.write(
                b"HTTP/1.1 302 Found\r\nLocation: https://elsewhere.example/\r\nContent-Length: 0\r\n\r\n"
            )
            await writer.drain()

    async with serving(redirect) as peer, _direct(peer) as http:
        request = http.build_request("GET", "/", headers={"Authorization": "Bearer secret"})
        response = await http.send(request)
    assert response.status_code == 302
    assert response.request is request
    assert len(heads) == 1


async def test_a_closed_direct_client_refuses_to_send() -> None:
    async with serving(keep_alive) as peer:
        http = _direct(peer)
        request = http.build_request("GET", "/")
        await http.aclose()
        with pytest.raises(RuntimeError, match="closed"):
            await http.send(request)


async def test_a_direct_client_streams_or_reads_as_asked() -> None:
    async with serving(keep_alive) as peer, _direct(peer) as http:
        read = await http.send(http.build_request("GET", "/read"))
        assert read.is_closed
        assert read.content == b"GET /read HTTP/1.1"
        streamed = await http.send(http.build_request("GET", "/streamed"), stream=True)
        assert not streamed.is_closed
        assert await streamed.aread() == b"GET /streamed HTTP/1.1"
        await streamed.aclose()
