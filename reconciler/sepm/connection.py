"""The HTTP connection to one SEPM REST endpoint, pinned to the allowed certificates.

Contract:
- ``client()`` hands out an ``httpx.AsyncClient`` and its generation. The first call reads the
  certificate the endpoint presents and admits it into the trust store (``PinMismatch`` if it is not
  allowed) before any client exists, so no request can be made to an unverified peer
  (``reconciler.sepm.pinning``).
- ``repin(generation)`` is called when a handshake failed verification: it reads the certificate again
  and, if it is another allowed one, builds a new client trusting it. Concurrent callers that saw the
  same failure re-pin once (the generation tells who came late).
- Clients replaced by a re-pin are not closed at once, because requests of other tasks may still be
  running on them; the last few are kept until ``aclose()``, older ones are closed.
- With an explicit ``transport`` (unit tests with ``httpx.MockTransport``) there is no network and so
  no TLS: the transport is used as it is and nothing is pinned.
- The client is a ``DirectClient``: httpx builds each request, and ``send`` hands it straight to the
  transport (no auth, no redirects, nothing else to do), keeping the cookie jar as httpx would.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx

from reconciler.sepm.errors import ConnectionFailed
from reconciler.sepm.pinning import TrustStore
from reconciler.sepm.tls import fetch_certificate
from reconciler.sepm.transport import PoolTransport

_log = logging.getLogger(__name__)
_KEEP_RETIRED = 4


class PinnedConnection:
    """Owns the HTTP client(s) and the trust store for one base URL."""

    def __init__(
        self,
        *,
        base_url: str,
        allowed_fingerprints: frozenset[str],
        transport: httpx.AsyncBaseTransport | None,
        timeout: float,
    ) -> None:
        self._base_url = base_url.rstrip("/") + "/"
        url = httpx.URL(self._base_url)
        if url.scheme != "https" and transport is None:
            raise ValueError(f"SEPM's REST API is reached over https only, not {url.scheme}://")
        self._host = url.host
        self._port = url.port or 443
        self._trust = TrustStore(allowed_fingerprints)
        self._transport = transport
        self._timeout = timeout
        self._lock = asyncio.Lock()
        self._http: httpx.AsyncClient | None = None
        self._retired: list[httpx.AsyncClient] = []
        self._generation = 0

    @property
    def endpoint(self) -> str:
        """``host:port`` of the REST endpoint, for messages."""
        return f"{self._host}:{self._port}"

    @property
    def allowed(self) -> frozenset[str]:
        """Every fingerprint this connection may come to trust (canonical form)."""
        return self._trust.allowed

    @property
    def pinned(self) -> frozenset[str]:
        """Fingerprints the current client trusts (empty before the first connection or with a transport)."""
        return self._trust.pinned

    async def client(self) -> tuple[httpx.AsyncClient, int]:
        """The current HTTP client and its generation, connecting (and pinning) on first use."""
        if self._http is not None:
            return self._http, self._generation
        async with self._lock:
            if self._http is None:
                if self._transport is None:
                    presented = await fetch_certificate(self._host, self._port, timeout=self._timeout)
                    self._trust.admit(presented, where=self.endpoint)
                self._replace()
            assert self._http is not None
            return self._http, self._generation

    async def repin(self, generation: int) -> None:
        """After a failed verification: trust the newly presented certificate if it is allowed."""
        async with self._lock:
            if generation != self._generation:
                return
            presented = await fetch_certificate(self._host, self._port, timeout=self._timeout)
            if not self._trust.admit(presented, where=self.endpoint):
                raise ConnectionFailed(
                    f"the TLS handshake with {self.endpoint} failed verification although it presents "
                    f"the pinned certificate {presented.sha256}; it may be switching certificates",
                    url=self.endpoint,
                )
            _log.info(
                "%s now presents the allowed certificate %s; trusting it", self.endpoint, presented.sha256
            )
            self._replace()
            while len(self._retired) > _KEEP_RETIRED:  # long replaced: nothing can still run on it
                await self._retired.pop(0).aclose()

    def _replace(self) -> None:
        if self._http is not None:
            self._retired.append(self._http)
        transport = self._transport or PoolTransport(self._trust.context())
        self._http = self._new_client(transport)
        self._generation += 1

    def _new_client(self, transport: httpx.AsyncBaseTransport) -> httpx.AsyncClient:
        # trust_env=False: no proxy or CA bundle from the environment may change whom we talk to;
        # redirects are not followed: a redirect must not carry the token to another origin. The
        # transport trusts only the pinned context (reconciler.sepm.transport).
        return DirectClient(
            base_url=self._base_url,
            transport=transport,
            timeout=httpx.Timeout(self._timeout),
            trust_env=False,
            headers={"Accept": "application/json"},
        )

    async def aclose(self) -> None:
        """Close every client this connection created."""
        clients = [*self._retired, *([self._http] if self._http is not None else [])]
        self._retired.clear()
        self._http = None
        for client in clients:
            await client.aclose()


class DirectClient(httpx.AsyncClient):
    """httpx's client, whose ``send`` hands the request straight to its transport.

    It is built without auth, without event hooks, and never follows a redirect, so all that
    ``httpx.AsyncClient.send`` adds for it is machinery: the auth and redirect generators, a timer
    around the body, a log line, and a pass of the cookie jar over every response. That is about a
    sixth of a small request's CPU (``benchmarks/README.md``). What matters is kept: requests are
    built by httpx as before (base URL, headers, timeouts, the jar's cookies), a response that sets a
    cookie still puts it in the jar, and a closed client refuses to send. Asked for auth or redirects,
    ``send`` is httpx's own.
    """

    def __init__(self, *, transport: httpx.AsyncBaseTransport, **options: Any) -> None:
        super().__init__(transport=transport, follow_redirects=False, **options)
        self._direct = transport

    async def send(
        self,
        request: httpx.Request,
        *,
        stream: bool = False,
        auth: Any = httpx.USE_CLIENT_DEFAULT,
        follow_redirects: Any = httpx.USE_CLIENT_DEFAULT,
    ) -> httpx.Response:
        if auth is not httpx.USE_CLIENT_DEFAULT or follow_redirects not in (httpx.USE_CLIENT_DEFAULT, False):
            return await super().send(request, stream=stream, auth=auth, follow_redirects=follow_redirects)
        if self.is_closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        if "timeout" not in request.extensions:
            request.extensions["timeout"] = self.timeout.as_dict()
        response = await self._direct.handle_async_request(request)
        response.request = request
        if "set-cookie" in response.headers:
            try:
                self.cookies.extract_cookies(response)
            except BaseException:
                await response.aclose()  # hands the connection back; it would hold its slot otherwise
                raise
        if not stream:
            try:
                await response.aread()
            finally:
                await response.aclose()
        return response
