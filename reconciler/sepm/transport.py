"""The HTTP transport under the SEPM client: HTTP/1.1 by h11, on asyncio's own TLS, with a small pool.

httpx's default transport runs httpcore over anyio. Every read and write then passes an anyio cancel
scope, the TLS records go through anyio's stream wrapper, and before each request the pool asks every
idle connection whether its socket is readable, which builds anyio's whole table of socket attributes
each time. On the ``large`` site that was about a fifth of the CPU of a full observation. httpcore's
HTTP/1.1 connection then adds, around each h11 event, a trace context, an anyio lock and its
cancellation shield: about a third of a small request's CPU (``benchmarks/README.md``). Here h11,
the parser httpcore uses, is driven straight (``_Connection``), so the HTTP spoken and parsed is the
same (keep-alive, chunked bodies, the checks on lengths and headers), over a network layer written
directly on asyncio's protocols, and a simpler pool (``_Pool`` says why).

Contract:
- ``PoolTransport(ssl_context)`` is an ``httpx.AsyncBaseTransport``: HTTP/1.1 over TLS only, no
  proxy, no environment. It trusts exactly ``ssl_context`` (the pinned trust store), with the host
  name checked as the context says.
- A connection is kept for the next request once its response was read to the end and closed, for at
  most ``keepalive_expiry`` seconds; one whose response was left unread, failed or was cancelled is
  closed. At most ``max_connections`` are open at once; a request waits for one within the pool
  timeout (``PoolTimeout``).
- Errors are httpx's: ``httpx.ConnectError``/``ConnectTimeout`` while connecting or in the handshake
  (a certificate that fails verification keeps its ``ssl.SSLCertVerificationError`` as the cause, which
  is what re-pinning looks for), ``ReadTimeout``/``WriteTimeout`` when one read or write waits longer
  than the request's timeout, ``ReadError``/``WriteError`` when the connection breaks, and
  ``RemoteProtocolError`` for what h11 cannot parse, for a head longer than ``MAX_HEAD``, for an
  answer that announces both a length and chunks, and for more than ``MAX_INTERIM`` 1xx answers;
  ``LocalProtocolError`` for a request h11 will not send (a line break in a header). A cancellation
  from outside (the request's deadline) stays a cancellation.
- Reading is bounded: past ``HIGH_WATER`` bytes received and not yet read, the socket is not read
  until the buffer drains, so a peer sending faster than we parse cannot grow our memory.
- A peer's close reads as the end of the stream, with or without TLS's ``close_notify`` (asyncio's TLS
  takes both as an end, as httpx's default transport does); h11 then says whether the message was
  complete. A connection reset is a ``ReadError``, and so is a read after our own close (the transport
  closed under a body), which must not pass for the peer's end of a body.
- An idle connection that the peer closed, or sent anything on (h11 keeping bytes past the last answer
  included), is not reused, as long as the event loop has run since that arrived; one handed from a
  finished request to a waiting one is checked the same way.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
import typing

import h11
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
        self.error = self.error or exc  # an abort of ours stays the reason
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
        """Close the socket now (no TLS close_notify, nothing more read) and wake a waiting read.

        A read after it fails: our own close must not look like the peer's, which would end a body
        delimited by the close early, as if it were whole."""
        self.buffer.clear()
        self.ended = True
        self.error = self.error or ConnectionAbortedError("the connection was closed on this side")
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


async def _connect_tcp(host: str, port: int, timeout: float | None) -> _Receiver:  # noqa: ASYNC109
    """A TCP connection from asyncio's event loop (TCP_NODELAY is asyncio's default)."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            _, receiver = await loop.create_connection(_Receiver, host, port)
    except TimeoutError as exc:
        raise httpx.ConnectTimeout(f"could not connect to {host}:{port} within {timeout} s") from exc
    except OSError as exc:
        raise httpx.ConnectError(_describe(exc)) from exc
    return receiver


async def _start_tls(
    receiver: _Receiver,
    ssl_context: ssl.SSLContext,
    *,
    server_hostname: str,
    timeout: float | None,  # noqa: ASYNC109 - the request's connect timeout
) -> None:
    """The TLS handshake on ``receiver``'s connection, which reads and writes through TLS after it.

    On any failure the connection is aborted. A certificate that fails verification keeps its
    ``ssl.SSLCertVerificationError`` as the cause (re-pinning looks for it).
    """
    assert receiver.transport is not None  # set by connection_made before create_connection returns
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            upgraded = await loop.start_tls(
                receiver.transport, receiver, ssl_context, server_hostname=server_hostname
            )
    except TimeoutError as exc:
        receiver.abort()
        raise httpx.ConnectTimeout(f"the TLS handshake took more than {timeout} s") from exc
    except (ssl.SSLError, OSError) as exc:  # verification failures included (SSLCertVerificationError)
        receiver.abort()
        raise httpx.ConnectError(_describe(exc)) from exc
    except BaseException:
        receiver.abort()
        raise
    # Nothing may have arrived outside TLS: bytes read before the handshake (plaintext from anyone on
    # the path) would otherwise be parsed as the pinned peer's answer. asyncio's loop pauses the socket
    # first, but that rests on the order of its callbacks.
    if upgraded is None or receiver.buffer or receiver.ended:
        receiver.abort()
        raise httpx.ConnectError("the connection ended or sent data outside the TLS handshake")
    receiver.transport = upgraded


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


MAX_HEAD = 100 * 1024
"""The longest status line and headers (or chunk header) accepted: httpcore's bound, which we had."""
READ_SIZE = 64 * 1024
"""The most bytes handed to h11 at once."""
MAX_INTERIM = 8
"""Interim (1xx) answers accepted before the answer: each would restart the read timeout."""
_FLUSH_SIZE = 64 * 1024
"""A request body is written in pieces of about this size (SEPM's are JSON of a few KB: one piece)."""


def _refuse_two_framings(head: h11.Response) -> None:
    """A length and chunks both announced: h11 would follow the chunks, as HTTP allows; RFC 9112 says
    to treat it as an error, since such an answer is how responses are split. SEPM sends one or the
    other, so this refuses only what is not SEPM's own."""
    names = {name for name, _ in head.headers}
    if b"content-length" in names and b"transfer-encoding" in names:
        raise httpx.RemoteProtocolError("the answer announces both a Content-Length and a Transfer-Encoding")


class _Connection:
    """One HTTP/1.1 connection over TLS: h11's state machine, driven straight over ``_Receiver``.

    One exchange at a time. ``exchange`` sends a request and reads the response head, and returns the
    body (``_body``) to iterate, and once it ended and both sides are done, the connection is idle again
    (``reusable``). Whatever else ends an exchange (an error, a cancellation, a body closed unread)
    leaves the connection not reusable, and the pool closes it.
    """

    def __init__(self, receiver: _Receiver, keepalive_expiry: float) -> None:
        self._receiver = receiver
        self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD)
        self._keepalive_expiry = keepalive_expiry
        self._idle_until = 0.0

    def reusable(self, now: float) -> bool:
        """Idle, within its keep-alive expiry, and the peer sent nothing since (not even a close)."""
        receiver = self._receiver
        state = self._h11
        return (
            state.our_state is h11.IDLE
            and state.their_state is h11.IDLE
            and now < self._idle_until
            and not receiver.buffer
            and not receiver.ended
            and not state.trailing_data[0]  # bytes h11 took past the last answer: not ours to read
        )

    async def exchange(
        self, request: httpx.Request, timeouts: typing.Mapping[str, float | None]
    ) -> tuple[h11.Response, typing.AsyncIterator[bytes]]:
        """Send ``request`` and read the response's head: the head, and the body to iterate."""
        assert isinstance(request.stream, httpx.AsyncByteStream)
        write_timeout = timeouts.get("write")
        read_timeout = timeouts.get("read")
        try:  # h11 checks the method, target and headers as it builds the event
            head = h11.Request(
                method=request.method, target=request.url.raw_path, headers=request.headers.raw
            )
        except h11.LocalProtocolError as exc:
            raise httpx.LocalProtocolError(str(exc)) from exc
        pending = [self._send(head)]
        size = len(pending[0])
        async for chunk in request.stream:
            if chunk:
                pending.append(self._send(h11.Data(data=chunk)))
                size += len(pending[-1])
                if size >= _FLUSH_SIZE:
                    await self._write(b"".join(pending), write_timeout)
                    pending, size = [], 0
        pending.append(self._send(h11.EndOfMessage()))
        await self._write(b"".join(pending), write_timeout)
        for _ in range(MAX_INTERIM + 1):
            event = await self._next_event(read_timeout)
            if isinstance(event, h11.Response):
                _refuse_two_framings(event)
                return event, self._body(read_timeout)
            if not isinstance(event, h11.InformationalResponse):  # 1xx: the answer is still to come
                raise httpx.RemoteProtocolError(f"expected a response, got {type(event).__name__}")
        raise httpx.RemoteProtocolError(f"more than {MAX_INTERIM} interim (1xx) answers and no answer")

    async def _body(self, read_timeout: float | None) -> typing.AsyncIterator[bytes]:
        while True:
            event = await self._next_event(read_timeout)
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                state = self._h11
                if state.our_state is h11.DONE and state.their_state is h11.DONE:
                    state.start_next_cycle()
                    self._idle_until = asyncio.get_running_loop().time() + self._keepalive_expiry
                return
            else:
                raise httpx.RemoteProtocolError(f"expected the body, got {type(event).__name__}")

    def _send(self, event: h11.Event) -> bytes:
        try:
            data = self._h11.send(event)
        except h11.LocalProtocolError as exc:  # a body that does not fit the framing the headers announced
            raise httpx.LocalProtocolError(str(exc)) from exc
        assert data is not None  # None only for ConnectionClosed, which is never sent here
        return data

    async def _next_event(self, timeout: float | None) -> h11.Event:  # noqa: ASYNC109
        state = self._h11
        try:
            while True:
                event = state.next_event()
                if event is h11.PAUSED:  # only after an upgrade or a finished answer, never asked for
                    raise httpx.RemoteProtocolError("the connection paused in the middle of an answer")
                if event is not h11.NEED_DATA:
                    return typing.cast(h11.Event, event)
                data = await self._read(timeout)
                if not data and state.their_state is h11.SEND_RESPONSE:
                    raise httpx.RemoteProtocolError("the server closed the connection without answering")
                state.receive_data(data)
        except h11.RemoteProtocolError as exc:
            raise httpx.RemoteProtocolError(str(exc)) from exc

    async def _read(self, timeout: float | None) -> bytes:  # noqa: ASYNC109
        receiver = self._receiver
        if not receiver.buffer and not receiver.ended:
            try:
                async with asyncio.timeout(timeout):
                    await receiver.readable()
            except TimeoutError as exc:
                raise httpx.ReadTimeout(f"no data within {timeout} s") from exc
        if receiver.buffer:
            return receiver.take(READ_SIZE)
        if receiver.error is not None:
            raise httpx.ReadError(_describe(receiver.error)) from receiver.error
        return b""

    async def _write(self, data: bytes, timeout: float | None) -> None:  # noqa: ASYNC109
        receiver = self._receiver
        transport = receiver.transport
        if transport is None or transport.is_closing() or receiver.ended:
            raise httpx.WriteError("the connection is closed")
        transport.write(data)
        try:
            async with asyncio.timeout(timeout):
                await receiver.writable()
        except TimeoutError as exc:
            raise httpx.WriteTimeout(f"could not send within {timeout} s") from exc
        if receiver.error is not None:
            raise httpx.WriteError(_describe(receiver.error)) from receiver.error

    def close(self) -> None:
        # abort, not close: closing a TLS transport sends close_notify and then keeps the socket (and
        # whatever it had buffered) until the peer answers or 30 s pass, outside the pool's count.
        self._receiver.abort()


Key = tuple[str, int]
"""Where a connection goes: host and port (the scheme is always https)."""


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
        self._max_connections = max_connections
        self._max_idle = max_idle
        self._keepalive_expiry = keepalive_expiry
        self._idle: dict[Key, list[_Connection]] = {}
        self._open: set[_Connection] = set()
        self._slots_used = 0  # connections open, and connections being opened
        # Requests waiting for a connection, in turn: each is handed one to reuse, or None for a
        # freed slot.
        self._waiting: collections.deque[tuple[Key, asyncio.Future[_Connection | None]]] = collections.deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    async def acquire(self, key: Key, timeouts: typing.Mapping[str, float | None]) -> _Connection:
        """An idle connection to ``key`` that the peer has not closed, or a new one."""
        loop = asyncio.get_running_loop()
        self._bind(loop)
        pool_timeout = timeouts.get("pool")
        deadline = None if pool_timeout is None else loop.time() + pool_timeout
        while True:
            if self._closed:
                raise httpx.ConnectError("the transport is closed")
            idle = self._idle.get(key)
            while idle:
                connection = idle.pop()
                if connection.reusable(loop.time()):
                    return connection
                self._discard(connection)
            if self._slots_used < self._max_connections and not self._someone_waits():
                self._slots_used += 1
                return await self._connect(key, timeouts.get("connect"))
            if self._close_idle_elsewhere(key):
                continue
            handed = await self._wait(key, loop, deadline)
            if handed is not None:
                if handed.reusable(loop.time()):  # the peer may have closed it since it was handed over
                    return handed
                self._discard(handed)
                continue
            return await self._connect(key, timeouts.get("connect"))  # in a slot kept for this request

    def _close_idle_elsewhere(self, key: Key) -> bool:
        """Close an idle connection to another origin to free its slot; False if there is none."""
        for other, idle in self._idle.items():
            if other != key and idle:
                self._discard(idle.pop(0))
                return True
        return False

    async def _wait(
        self, key: Key, loop: asyncio.AbstractEventLoop, deadline: float | None
    ) -> _Connection | None:
        """A connection handed back for this origin, or None: a slot freed and kept for this request."""
        entry: tuple[Key, asyncio.Future[_Connection | None]] = (key, loop.create_future())
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
                    self.release(key, handed)
            if isinstance(exc, TimeoutError):
                raise httpx.PoolTimeout(f"all {self._max_connections} connections stayed busy") from exc
            raise
        finally:
            if entry in self._waiting:  # not if another event loop's first request cleared the list
                self._waiting.remove(entry)

    async def _connect(self, key: Key, connect_timeout: float | None) -> _Connection:
        """A new connection in a slot already counted for it (given back if connecting fails)."""
        host, port = key
        try:
            receiver = await _connect_tcp(host, port, connect_timeout)
            await _start_tls(receiver, self._ssl_context, server_hostname=host, timeout=connect_timeout)
            if self._closed:  # (a failed handshake has aborted its connection already)
                receiver.abort()
                raise httpx.ConnectError("the transport was closed while connecting")
        except BaseException:
            self._slots_used -= 1
            self._slot_freed()
            raise
        connection = _Connection(receiver, self._keepalive_expiry)
        self._open.add(connection)
        return connection

    def release(self, key: Key, connection: _Connection) -> None:
        """After a response is closed: the connection goes to a waiting request, or is kept, or closed."""
        if self._closed or connection not in self._open or self._loop is None:
            self._discard(connection)
            return
        if not connection.reusable(self._loop.time()):
            self._discard(connection)
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
            self._discard(connection)

    def _discard(self, connection: _Connection) -> None:
        if connection in self._open:
            self._open.discard(connection)
            self._slots_used -= 1
            self._slot_freed()
        connection.close()

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

    def close(self) -> None:
        self._closed = True
        connections, self._open = list(self._open), set()
        self._idle.clear()
        for _, waiter in self._waiting:
            if not waiter.done():
                waiter.set_exception(httpx.ConnectError("the transport is closed"))
        for connection in connections:
            connection.close()


class _Body(httpx.AsyncByteStream):
    """A response body; closing it hands the connection back to the pool (once)."""

    def __init__(self, chunks: typing.AsyncIterator[bytes], release: typing.Callable[[], None]) -> None:
        self._chunks = chunks
        self._release: typing.Callable[[], None] | None = release

    async def __aiter__(self) -> typing.AsyncIterator[bytes]:
        async for chunk in self._chunks:
            yield chunk

    async def aclose(self) -> None:
        release, self._release = self._release, None
        if release is not None:  # once: a connection handed back twice would serve two requests
            release()


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
        url = request.url
        if url.scheme != "https":
            raise httpx.UnsupportedProtocol(f"only https is spoken here, not {url.scheme}://")
        key = (url.host, url.port or 443)
        timeouts = request.extensions.get("timeout", {})
        connection = await self._pool.acquire(key, timeouts)
        try:
            head, chunks = await connection.exchange(request, timeouts)
        except BaseException:
            self._pool.release(key, connection)  # closed, as it is not idle
            raise
        return httpx.Response(
            status_code=head.status_code,
            headers=head.headers.raw_items(),
            stream=_Body(chunks, lambda: self._pool.release(key, connection)),
            extensions={"http_version": b"HTTP/" + head.http_version, "reason_phrase": head.reason},
        )

    async def aclose(self) -> None:
        self._pool.close()
