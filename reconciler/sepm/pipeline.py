"""The pipeline every ``SepmClient`` request goes through: pinning, logon, retries, error mapping.

Contract:
- **Logon**: ``POST identity/authenticate`` when there is no token or ``Session.needs_logon()`` says it
  is about to expire on SEPM's clock; concurrent requests share one logon. A 401 on a request drops the
  token and logs on again once; a second 401 is ``Unauthorized``. A 400/401/403 on the logon itself is
  ``CredentialsRejected``: raised at once, never retried, latched in the session so that every later
  request raises it again without touching the network (SEPM locks accounts after 5 failures).
- **Retries**: transient failures (5xx, 429, timeouts, broken connections, a certificate that could not
  be read) are retried by the one policy (``reconciler.backoff``); a 429 waits exactly its
  ``Retry-After`` unless that exceeds ``max_retry_after``, in which case ``Throttled`` is raised at once.
  Permanent failures are raised at once. A re-logon after a 401 does not count as a retry.
- **Pinning**: a handshake that fails verification means the endpoint presents another certificate:
  the connection re-reads it and, if it is allowed, the request is sent again at once; otherwise
  ``PinMismatch`` is raised (``reconciler.sepm.connection``).
- **Limits**: every answer is read within ``ResponseLimits`` (``reconciler.sepm.limits``): a body over
  the size limit is ``ResponseTooLarge``, an exchange over the deadline ``DeadlineExceeded`` (retried
  like any timeout). A body that is not JSON, or JSON nested beyond what the decoder can hold, is
  ``UnexpectedResponse``: never another exception.
- **Clock**: every response's ``Date`` (and the logon's ``serverTime``) feeds ``SepmClock``.
- **Counting**: every exchange, retries included, is reported to ``on_exchange`` as its endpoint family
  and outcome (`reconciler.sepm.exchange_kinds`), for ``sepm_reconciler_sepm_requests_total``.
- **Secrets**: SEPM's ``errorMessage`` is quoted in errors only after ``Session.redact``; request bodies
  and headers are never logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from reconciler.backoff import RetryPolicy, Sleep
from reconciler.sepm.clock import SepmClock
from reconciler.sepm.connection import PinnedConnection
from reconciler.sepm.errors import (
    ConnectionFailed,
    CredentialsRejected,
    RequestTimeout,
    SepmError,
    TransientError,
    UnexpectedResponse,
    error_for_status,
)
from reconciler.sepm.exchange_kinds import ExchangeHook, endpoint_family, outcome_of
from reconciler.sepm.limits import Reply, ResponseLimits, exchange
from reconciler.sepm.pinning import is_verification_failure
from reconciler.sepm.retry_after import parse_retry_after
from reconciler.sepm.session import Session

_log = logging.getLogger(__name__)
Decoder = Callable[[bytes], Any]
"""Decodes a JSON body, raising ``ValueError`` (or ``RecursionError``) for anything it cannot read."""
_CREDENTIAL_STATUSES = frozenset({400, 401, 403})


class RequestPipeline:
    """Sends requests for one ``SepmClient`` (see the module docstring)."""

    def __init__(
        self,
        *,
        base_url: str,
        connection: PinnedConnection,
        session: Session,
        clock: SepmClock,
        retry: RetryPolicy,
        sleep: Sleep,
        rng: random.Random,
        limits: ResponseLimits,
        on_exchange: ExchangeHook | None = None,
    ) -> None:
        self._base_url = base_url
        self._on_exchange = on_exchange
        self._connection = connection
        self._session = session
        self._clock = clock
        self._retry = retry
        self._sleep = sleep
        self._rng = rng
        self._limits = limits
        self._logon_lock = asyncio.Lock()

    async def get_json(
        self, path: str, *, params: Mapping[str, Any] | None = None, decoder: Decoder = json.loads
    ) -> Any:
        """GET ``path`` and decode its JSON body (with ``decoder``, by default ``json.loads``)."""
        return self.decode(await self.request("GET", path, params=params), decoder=decoder)

    @property
    def limits(self) -> ResponseLimits:
        return self._limits

    def decode(self, reply: Reply, *, decoder: Decoder = json.loads) -> Any:
        """The JSON body of a successful response, or ``UnexpectedResponse``."""
        try:
            return decoder(reply.body)
        except (ValueError, RecursionError) as exc:  # ValueError: not JSON, not UTF-8, a 5,000-digit number
            nested = " nested too deeply" if isinstance(exc, RecursionError) else ""
            raise UnexpectedResponse(
                f"{reply.method} {reply.url} answered {reply.status} with a body that is not JSON{nested}",
                url=reply.url,
                status=reply.status,
            ) from exc

    # -- logon ------------------------------------------------------------------------------------

    async def _valid_token(self) -> str:
        session = self._session
        if session.rejected:
            raise self._rejected_error("earlier")
        if session.token is not None and not session.needs_logon():
            return session.token
        async with self._logon_lock:  # one logon for all the requests that found the token stale
            if session.rejected:
                raise self._rejected_error("earlier")
            if session.needs_logon():
                await self._authenticate()
            assert session.token is not None
            return session.token

    async def _authenticate(self) -> None:
        self._session.token = None
        credentials = self._session.credentials()
        reply = await self.request("POST", "identity/authenticate", json=credentials, login=True)
        body = self.decode(reply)
        if not isinstance(body, dict) or not self._session.accept(
            body, date_header=reply.headers.get("date")
        ):
            raise UnexpectedResponse(f"POST {self._base_url}/identity/authenticate answered no token")
        _log.info("authenticated to %s as %s", self._base_url, self._session.username)

    def _rejected_error(self, when: str) -> CredentialsRejected:
        return CredentialsRejected(
            f"SEPM at {self._base_url} rejected the credentials of {self._session.username!r} {when} "
            "(wrong password or locked account); not retrying, so as not to lock the account. "
            "Fix the secret or unlock the account, then reset the client",
            url=f"{self._base_url}/identity/authenticate",
        )

    # -- one request -------------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        login: bool = False,
        bearer: str | None = None,
    ) -> Reply:
        """One request with pinning, authentication, retries and error mapping.

        ``login``: the authentication call itself (no token; credential statuses are final).
        ``bearer``: use exactly this token and never re-authenticate (logout).
        """
        url = f"{self._base_url}/{path}"
        # Parsed once, query included: given a relative path and parameters, httpx parses the base,
        # the joined URL and the URL with its query again on every send (a sixth of the CPU of a
        # small request); given a finished URL, it parses nothing. The request on the wire is the same.
        target = httpx.URL(f"{url}?{httpx.QueryParams(params)}" if params else url)
        may_reauthenticate = not login and bearer is None
        while True:  # twice at most: once more with a fresh token after a 401
            token: str | None = None
            if not login:
                token = bearer if bearer is not None else await self._valid_token()
            headers = {"Authorization": f"Bearer {token}"} if token is not None else {}

            async def send(headers: Mapping[str, str] = headers) -> Reply:
                return await self._send(method, path, url, target, headers=headers, json=json)

            reply = await self._retry.call(
                send, retry_on=TransientError, sleep=self._sleep, rng=self._rng, on_retry=_log_retry
            )
            if reply.is_success:
                return reply
            status = reply.status
            if login and status in _CREDENTIAL_STATUSES:
                self._session.rejected = True
                raise self._rejected_error(f"({status}: {self._detail(reply) or 'no detail'})")
            if status == 401 and may_reauthenticate:
                may_reauthenticate = False  # a re-authentication is not a retry
                self._session.forget(token)
                continue
            raise self._status_error(method, url, reply)

    async def _send(
        self,
        method: str,
        path: str,
        url: str,
        target: httpx.URL,
        *,
        headers: Mapping[str, str],
        json: Any,
    ) -> Reply:
        """One exchange. A transient failure (network, 5xx, 429) is raised for the retry loop; any other
        answer is returned for ``request`` to read."""
        try:
            outcome = await self._exchange(method, url, target, headers=headers, json=json)
        except SepmError as raised:
            self._count(method, path, None, raised)
            raise
        if isinstance(outcome, SepmError):
            self._count(method, path, None, outcome)
            raise outcome
        self._count(method, path, outcome.status, None)
        self._clock.observe_date(outcome.headers.get("date"))
        if not outcome.is_success:
            error = self._status_error(method, url, outcome)
            if isinstance(error, TransientError):
                raise error
        return outcome

    async def _exchange(
        self,
        method: str,
        url: str,
        target: httpx.URL,
        *,
        headers: Mapping[str, str],
        json: Any,
    ) -> Reply | SepmError:
        """One HTTP exchange: the reply, or the transient error it met (``PinMismatch`` and
        ``ResponseTooLarge`` are raised)."""
        error: SepmError = ConnectionFailed(f"{method} {url} failed", url=url)
        for _ in range(2):  # a second go only right after re-pinning to a newly presented certificate
            generation = 0
            try:
                http, generation = await self._connection.client()
                request = http.build_request(method, target, json=json, headers=dict(headers))
                return await exchange(http, request, url=url, limits=self._limits)
            except TransientError as exc:  # reading the certificate first failed, or the deadline passed
                return exc
            except httpx.DecodingError as exc:  # a compressed body that does not decompress
                raise UnexpectedResponse(
                    f"{method} {url} answered a body that could not be decoded: {exc}", url=url
                ) from exc
            except httpx.TimeoutException as exc:
                return _caused(RequestTimeout(f"{method} {url} timed out; is SEPM overloaded?", url=url), exc)
            except httpx.TransportError as exc:
                error = _caused(
                    ConnectionFailed(
                        f"{method} {url} failed: {type(exc).__name__}; is SEPM reachable?", url=url
                    ),
                    exc,
                )
                if not is_verification_failure(exc):
                    return error
            # The endpoint presents a certificate the current context does not trust: read it, and
            # trust it if it is allowed (PinMismatch otherwise, raised from here).
            try:
                await self._connection.repin(generation)
            except TransientError as exc:
                return exc
        return error

    def _count(self, method: str, path: str, status: int | None, error: SepmError | None) -> None:
        if self._on_exchange is not None:
            self._on_exchange(endpoint_family(method, path), outcome_of(status, error))

    def _status_error(self, method: str, url: str, reply: Reply) -> SepmError:
        retry_after = parse_retry_after(
            reply.headers.get("retry-after"), date_header=reply.headers.get("date")
        )
        return error_for_status(
            method=method,
            url=url,
            status=reply.status,
            detail=self._detail(reply),
            retry_after=retry_after,
        )

    def _detail(self, reply: Reply) -> str:
        """SEPM's ``errorMessage`` (at most 300 characters), with secrets redacted; empty if none."""
        try:
            body = json.loads(reply.body)
        except (ValueError, RecursionError):
            body = None
        text = body.get("errorMessage") if isinstance(body, dict) else None
        if not isinstance(text, str):
            text = ""
        return self._session.redact(text.strip())[:300]


def _caused(error: SepmError, cause: BaseException) -> SepmError:
    error.__cause__ = cause
    return error


def _log_retry(retry: int, delay: float, error: BaseException) -> None:
    _log.warning("SEPM request failed, retry %d in %.2f s: %s", retry, delay, error)
