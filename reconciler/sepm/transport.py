"""The HTTP transport under the SEPM client: httpcore's HTTP/1.1 connections on asyncio's own TLS.

httpx's default transport runs httpcore over anyio. Every read and write then passes an anyio cancel
scope, the TLS records go through anyio's stream wrapper, and before each request the pool asks every
idle connection whether its socket is readable, which builds anyio's whole table of socket attributes
each time. On the ``large`` site that was about a fifth of the CPU of a full observation
(``benchmarks/README.md``). This transport keeps httpcore's HTTP/1.1 connection, so the HTTP it
speaks (h11's parsing, keep-alive, chunked bodies) is the same. It gives it a network layer written
directly on asyncio's protocols, and a simpler pool (``_Pool`` says why).

Contract:
- ``PoolTransport(ssl_context)`` is an ``httpx.AsyncBaseTransport``: HTTP/1.1 over TLS only, no
  proxy, no environment. It trusts exactly ``ssl_context`` (the pinned trust store), with the host
  name checked as the context says.
- A connection is kept for the next request once its response is closed, for at most
  ``keepalive_expiry`` seconds. At most ``max_connections`` are open at once; a request waits for one
  within the pool timeout (``PoolTimeout``).
- Errors are httpx's: ``httpx.ConnectError``/``ConnectTimeout`` while connecting or in the handshake
  (a certificate that fails verification keeps its ``ssl.SSLCertVerificationError`` as the cause, which
  is what re-pinning looks for), ``ReadTimeout``/``WriteTimeout`` when one read or write waits longer
  than the request's timeout, ``ReadError``/``WriteError`` when the connection breaks, and
  ``RemoteProtocolError`` for what h11 cannot parse. A cancellation from outside (the request's
  deadline) stays a cancellation.
- Reading is bounded: past ``HIGH_WATER`` bytes received and not yet read, the socket is not read
  until the buffer drains, so a peer sending faster than we parse cannot grow our memory.
- A peer's close reads as the end of the stream, with or without TLS's ``close_notify`` (asyncio's TLS
  takes both as an end, as httpx's default transport does); h11 then says whether the message was
  complete. A connection reset is a ``ReadError``.
- An idle connection that the peer closed is seen as closed (``is_readable``) and not reused, as long
  as the event loop has run since the close arrived.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
import typing
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import httpcore
import httpx

HIGH_WATER = 1024 * 1024
"""Bytes received and not yet read past which the socket is paused (a page of computers is 3-5 MB)."""
LOW_WATER = 256 * 1024
"""The buffer size under which a paused socket is read again."""


class _Receiver(asyncio.Protocol):
    """One connection's incoming bytes, kept until the stream reads them; and its write pressure."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.ended = False  # the peer closed its side, or the connection is gone
        self.error: BaseException | None = None  # why the connection was lost, if not a plain close
        self._reading_paused = False
        self._writing_paused = False
        self._readable: asyncio.Future[None] | None = None
        self._writable: asyncio.Future[None] | None = None

    # -- called by the event loop --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = typing.cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > HIGH_WATER and not self._reading_paused and self.transport is not None:
            self.transport.pause_reading()
            self._reading_paused = True
        _wake(self._readable)

    def eof_received(self) -> bool:
        self.ended = True
        _wake(self._readable)
        return False  # close our side too: a half-closed HTTP/1.1 connection is of no use

    def connection_lost(self, exc: Exception | None) -> None:
        self.ended = True
        self.error = exc
        _wake(self._readable)
        _wake(self._writable)

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        _wake(self._writable)

    # -- called by the stream ------------------------------------------------------------------

    def take(self, max_bytes: int) -> bytes:
        data = bytes(self.buffer[:max_bytes])
        del self.buffer[:max_bytes]
        if self._reading_paused and len(self.buffer) <= LOW_WATER and self.transport is not None:
            self._reading_paused = False
            self.transport.resume_reading()
        return data

    def abort(self) -> None:
        """Close the socket now (no TLS close_notify, nothing more read) and wake a waiting read."""
        self.buffer.clear()
        self.ended = True
        if self.transport is not None:
            self.transport.abort()
        _wake(self._readable)
        _wake(self._writable)

    async def readable(self) -> None:
        """Until there is something to read or the stream has ended."""
        if self.buffer or self.ended:
            return
        self._readable = asyncio.get_running_loop().create_future()
        try:
            await self._readable
        finally:
            self._readable = None

    async def writable(self) -> None:
        """Until the transport's write buffer has drained below its limit, or the connection is gone."""
        if not self._writing_paused or self.ended:
            return
        self._writable = asyncio.get_running_loop().create_future()
        try:
            await self._writable
        finally:
            self._writable = None


def _wake(waiter: asyncio.Future[None] | None) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)


class _Stream(httpcore.AsyncNetworkStream):
    """One TCP connection (TLS once ``start_tls`` returned), as httpcore reads and writes it."""

    def __init__(self, receiver: _Receiver) -> None:
        self._receiver = receiver

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        receiver = self._receiver
        if not receiver.buffer and not receiver.ended:
            try:
                async with asyncio.timeout(timeout):
                    await receiver.readable()
            except TimeoutError as exc:
                raise httpcore.ReadTimeout(f"no data within {timeout} s") from exc
        if receiver.buffer:
            return receiver.take(max_bytes)
        if receiver.error is not None:
            raise httpcore.ReadError(_describe(receiver.error)) from receiver.error
        return b""

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        receiver = self._receiver
        transport = receiver.transport
        if not buffer:
            return
        if transport is None or transport.is_closing() or receiver.ended:
            raise httpcore.WriteError("the connection is closed")
        transport.write(buffer)
        try:
            async with asyncio.timeout(timeout):
                await receiver.writable()
        except TimeoutError as exc:
            raise httpcore.WriteTimeout(f"could not send within {timeout} s") from exc
        if receiver.error is not None:
            raise httpcore.WriteError(_describe(receiver.error)) from receiver.error

    async def aclose(self) -> None:
        # abort, not close: closing a TLS transport sends close_notify and then keeps the socket (and
        # whatever it had buffered) until the peer answers or 30 s pass, outside the pool's count.
        self._receiver.abort()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
    ) -> httpcore.AsyncNetworkStream:
        receiver = self._receiver
        assert receiver.transport is not None  # set by connection_made before connect_tcp returns
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                upgraded = await loop.start_tls(
                    receiver.transport, receiver, ssl_context, server_hostname=server_hostname
                )
        except TimeoutError as exc:
            receiver.abort()
            raise httpcore.ConnectTimeout(f"the TLS handshake took more than {timeout} s") from exc
        except (ssl.SSLError, OSError) as exc:  # verification failures included (SSLCertVerificationError)
            receiver.abort()
            raise httpcore.ConnectError(_describe(exc)) from exc
        except BaseException:
            receiver.abort()
            raise
        # Nothing may have arrived outside TLS: bytes read before the handshake (plaintext from
        # anyone on the path) would otherwise be parsed as the pinned peer's answer. asyncio's loop
        # pauses the socket first, but that rests on the order of its callbacks.
        if upgraded is None or receiver.buffer or receiver.ended:
            receiver.abort()
            raise httpcore.ConnectError("the connection ended or sent data outside the TLS handshake")
        receiver.transport = upgraded
        return self

    def get_extra_info(self, info: str) -> typing.Any:
        receiver = self._receiver
        if info == "is_readable":  # asked of idle connections: has the peer sent or closed anything?
            return bool(receiver.buffer) or receiver.ended
        transport = receiver.transport
        if transport is None:
            return None
        name = _TRANSPORT_INFO.get(info)
        return transport.get_extra_info(name) if name is not None else None


# What httpcore asks a stream for, and asyncio's name for it.
_TRANSPORT_INFO = {
    "ssl_object": "ssl_object",
    "client_addr": "sockname",
    "server_addr": "peername",
    "socket": "socket",
}


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


class _Backend(httpcore.AsyncNetworkBackend):
    """TCP connections from asyncio's event loop (TCP_NODELAY is asyncio's default)."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        local = (local_address, 0) if local_address else None
        try:
            async with asyncio.timeout(timeout):
                _, receiver = await loop.create_connection(_Receiver, host, port, local_addr=local)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"could not connect to {host}:{port} within {timeout} s") from exc
        except OSError as exc:
            raise httpcore.ConnectError(_describe(exc)) from exc
        return _Stream(receiver)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


# httpcore's errors as httpx's, most specific first (the order httpx itself maps them in).
_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


@contextmanager
def _as_httpx_errors() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for source, target in _ERRORS:
            if isinstance(exc, source):
                raise target(str(exc)) from exc
        raise


Connection = httpcore.AsyncHTTP11Connection
Key = tuple[bytes, bytes, int]
"""Where a connection goes: scheme, host and port."""


def key_of(url: httpcore.URL) -> Key:
    return (url.scheme, url.host, url.port or 443)


class _Pool:
    """Kept-alive HTTP/1.1 connections, at most ``max_connections`` open (or opening) at once.

    httpcore's own pool looks at every connection, and for every idle one counts the idle ones again,
    each time a request arrives or a response is closed: with the observer's six connections that is
    some fifty checks per request, an eighth of a small request's CPU. Here a request takes the idle
    connection used last (LIFO, so the fewest stay open) or opens a new one; with all of them busy it
    waits, in turn, for a connection handed back or a slot freed.

    The pool belongs to the event loop that uses it; first used by another (a test, a command run
    with ``asyncio.run``), it forgets the old loop's connections, which cannot serve the new one.
    """

    def __init__(
        self,
        ssl_context: ssl.SSLContext,
        *,
        max_connections: int,
        max_idle: int,
        keepalive_expiry: float,
    ) -> None:
        if min(max_connections, max_idle) < 1 or keepalive_expiry < 0:
            raise ValueError("the pool needs at least one connection and a non-negative expiry")
        self._ssl_context = ssl_context
        self._backend = _Backend()
        self._max_connections = max_connections
        self._max_idle = max_idle
        self._keepalive_expiry = keepalive_expiry
        self._idle: dict[Key, list[Connection]] = {}
        self._open: set[Connection] = set()
        self._slots_used = 0  # connections open, and connections being opened
        # Requests waiting for a connection, in turn: each is handed one to reuse, or None for a
        # freed slot.
        self._waiting: collections.deque[tuple[Key, asyncio.Future[Connection | None]]] = collections.deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    async def acquire(self, url: httpcore.URL, timeouts: typing.Mapping[str, float | None]) -> Connection:
        """An idle connection to ``url``'s origin that the peer has not closed, or a new one."""
        key = key_of(url)
        loop = asyncio.get_running_loop()
        self._bind(loop)
        pool_timeout = timeouts.get("pool")
        deadline = None if pool_timeout is None else loop.time() + pool_timeout
        while True:
            if self._closed:
                raise httpcore.ConnectError("the transport is closed")
            idle = self._idle.get(key)
            while idle:
                connection = idle.pop()
                if connection.is_idle() and not connection.has_expired():
                    return connection
                await self._discard(connection)
            if self._slots_used < self._max_connections and not self._someone_waits():
                self._slots_used += 1
                return await self._connect(url, timeouts.get("connect"))
            if await self._close_idle_elsewhere(key):
                continue
            handed = await self._wait(key, loop, deadline)
            if handed is not None:
                return handed
            return await self._connect(url, timeouts.get("connect"))  # in a slot kept for this request

    async def _close_idle_elsewhere(self, key: Key) -> bool:
        """Close an idle connection to another origin to free its slot; False if there is none."""
        for other, idle in self._idle.items():
            if other != key and idle:
                await self._discard(idle.pop(0))
                return True
        return False

    async def _wait(
        self, key: Key, loop: asyncio.AbstractEventLoop, deadline: float | None
    ) -> Connection | None:
        """A connection handed back for this origin, or None: a slot freed and kept for this request."""
        entry: tuple[Key, asyncio.Future[Connection | None]] = (key, loop.create_future())
        waiter = entry[1]
        self._waiting.append(entry)
        try:
            async with asyncio.timeout_at(deadline):
                return await waiter
        except BaseException as exc:
            # Gave up (the pool timeout, or cancelled): what was handed over meanwhile goes on. This
            # waiter is done, so neither hand-over below can come back to it.
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                handed = waiter.result()
                if handed is None:
                    self._slots_used -= 1
                    self._slot_freed()
                else:
                    await self.release(key, handed)
            if isinstance(exc, TimeoutError):
                raise httpcore.PoolTimeout(f"all {self._max_connections} connections stayed busy") from exc
            raise
        finally:
            if entry in self._waiting:  # not if another event loop's first request cleared the list
                self._waiting.remove(entry)

    async def _connect(self, url: httpcore.URL, connect_timeout: float | None) -> Connection:
        """A new connection in a slot already counted for it (given back if connecting fails)."""
        host = url.host.decode("ascii")
        try:
            stream = await self._backend.connect_tcp(host, url.port or 443, timeout=connect_timeout)
            try:
                stream = await stream.start_tls(
                    self._ssl_context, server_hostname=host, timeout=connect_timeout
                )
                if self._closed:
                    raise httpcore.ConnectError("the transport was closed while connecting")
            except BaseException:
                await stream.aclose()
                raise
        except BaseException:
            self._slots_used -= 1
            self._slot_freed()
            raise
        connection = Connection(httpcore.Origin(*key_of(url)), stream, self._keepalive_expiry)
        self._open.add(connection)
        return connection

    async def release(self, key: Key, connection: Connection) -> None:
        """After a response is closed: the connection goes to a waiting request, or is kept, or closed."""
        if self._closed or not connection.is_idle() or connection not in self._open:
            await self._discard(connection)
            return
        for waiting_key, waiter in self._waiting:
            if waiting_key == key and not waiter.done():
                waiter.set_result(connection)
                return
        idle = self._idle.setdefault(key, [])
        # A request waiting for another origin needs the slot more than this origin needs the idle
        # connection.
        if len(idle) < self._max_idle and not self._someone_waits():
            idle.append(connection)
        else:
            await self._discard(connection)

    async def _discard(self, connection: Connection) -> None:
        if connection in self._open:
            self._open.discard(connection)
            self._slots_used -= 1
            self._slot_freed()
        await connection.aclose()

    def _someone_waits(self) -> bool:
        # A waiter already served stays listed until it runs again; it waits no more.
        return any(not waiter.done() for _, waiter in self._waiting)

    def _slot_freed(self) -> None:
        """After a slot was given back: keep it for the first waiting request (no newcomer takes it)."""
        for _, waiter in self._waiting:
            if not waiter.done():
                self._slots_used += 1
                waiter.set_result(None)
                return

    def _bind(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._loop is loop:
            return
        # Another loop's connections (their transports) are of no use here; they died with it.
        self._loop = loop
        self._idle.clear()
        self._open.clear()
        self._slots_used = 0
        self._waiting.clear()

    async def aclose(self) -> None:
        self._closed = True
        connections, self._open = list(self._open), set()
        self._idle.clear()
        for _, waiter in self._waiting:
            if not waiter.done():
                waiter.set_exception(httpcore.ConnectError("the transport is closed"))
        for connection in connections:
            await connection.aclose()


class _Body(httpx.AsyncByteStream):
    """A response body, with httpcore's errors raised as httpx's; closing it hands the connection back."""

    def __init__(
        self,
        stream: typing.AsyncIterable[bytes],
        release: typing.Callable[[], typing.Awaitable[None]],
    ) -> None:
        self._stream = stream
        self._release: typing.Callable[[], typing.Awaitable[None]] | None = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx_errors():
            async for chunk in self._stream:
                yield chunk

    async def aclose(self) -> None:
        closer = getattr(self._stream, "aclose", None)
        try:
            if closer is not None:
                with _as_httpx_errors():
                    await closer()
        finally:
            release, self._release = self._release, None
            if release is not None:  # once: a connection handed back twice would serve two requests
                await release()


class PoolTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 over TLS to whoever ``ssl_context`` trusts, through a keep-alive pool on asyncio."""

    def __init__(
        self,
        ssl_context: ssl.SSLContext,
        *,
        max_connections: int = 100,
        max_keepalive_connections: int = 20,
        keepalive_expiry: float = 5.0,
    ) -> None:
        # The limits are httpx's defaults, which the client had before this transport.
        self._pool = _Pool(
            ssl_context,
            max_connections=max_connections,
            max_idle=max_keepalive_connections,
            keepalive_expiry=keepalive_expiry,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        if request.url.scheme != "https":
            raise httpx.UnsupportedProtocol(f"only https is spoken here, not {request.url.scheme}://")
        url = httpcore.URL(
            scheme=request.url.raw_scheme,
            host=request.url.raw_host,
            port=request.url.port,
            target=request.url.raw_path,
        )
        core_request = httpcore.Request(
            method=request.method,
            url=url,
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _as_httpx_errors():
            connection = await self._pool.acquire(url, request.extensions.get("timeout", {}))
            try:
                response = await connection.handle_async_request(core_request)
            except BaseException:
                await self._pool.release(key_of(url), connection)  # closed by httpcore unless reusable
                raise
        assert isinstance(response.stream, typing.AsyncIterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_Body(response.stream, lambda: self._pool.release(key_of(url), connection)),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()
