"""The HTTP transport under the SEPM client: httpcore's HTTP/1.1 pool on asyncio's own sockets and TLS.

httpx's default transport runs httpcore over anyio. Every read and write then passes an anyio cancel
scope, the TLS records go through anyio's stream wrapper, and before each request the pool asks every
idle connection whether its socket is readable, which builds anyio's whole table of socket attributes
each time. On the ``large`` site that is about a fifth of the CPU of a full observation
(``benchmarks/README.md``). This transport keeps httpcore, so the HTTP it speaks (h11's parsing,
keep-alive, chunked bodies, the pool) is the same, and gives it a network layer written directly on
asyncio's protocols.

Contract:
- ``PoolTransport(ssl_context)`` is an ``httpx.AsyncBaseTransport``: HTTP/1.1 only, no proxy, no
  environment. It trusts exactly ``ssl_context`` (the pinned trust store), with the host name
  checked as the context says.
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
- An idle connection that the peer closed is seen as closed by the pool (``is_readable``) and not
  reused, as long as the event loop has run since the close arrived.
"""

from __future__ import annotations

import asyncio
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
        if self._receiver.transport is not None:
            self._receiver.transport.close()

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
            receiver.transport.close()
            raise httpcore.ConnectTimeout(f"the TLS handshake took more than {timeout} s") from exc
        except (ssl.SSLError, OSError) as exc:  # verification failures included (SSLCertVerificationError)
            receiver.transport.close()
            raise httpcore.ConnectError(_describe(exc)) from exc
        if upgraded is None:  # the loop closed the connection during the handshake
            raise httpcore.ConnectError("the connection closed during the TLS handshake")
        receiver.transport = upgraded
        return self

    def get_extra_info(self, info: str) -> typing.Any:
        receiver = self._receiver
        if info == "is_readable":  # asked of idle connections: has the peer sent or closed anything?
            return bool(receiver.buffer) or receiver.ended
        transport = receiver.transport
        if transport is None:
            return None
        names = {
            "ssl_object": "ssl_object",
            "client_addr": "sockname",
            "server_addr": "peername",
            "socket": "socket",
        }
        return transport.get_extra_info(names[info]) if info in names else None


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


class _Body(httpx.AsyncByteStream):
    """A response body from the pool, with httpcore's errors raised as httpx's."""

    def __init__(self, stream: typing.AsyncIterable[bytes]) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx_errors():
            async for chunk in self._stream:
                yield chunk

    async def aclose(self) -> None:
        closer = getattr(self._stream, "aclose", None)
        if closer is not None:
            with _as_httpx_errors():
                await closer()


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
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=max_connections,
            max_keepalive_connections=max_keepalive_connections,
            keepalive_expiry=keepalive_expiry,
            http1=True,
            http2=False,
            network_backend=_Backend(),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _as_httpx_errors():
            response = await self._pool.handle_async_request(core_request)
        assert isinstance(response.stream, typing.AsyncIterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_Body(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        with _as_httpx_errors():
            await self._pool.aclose()
