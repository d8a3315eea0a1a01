"""``SepmClient``: SEPM's REST API (``https://<sepm>:8446/sepm/api/v1``), safely.

Contract:
- **Trust**: the REST port is pinned to the desired state's fingerprints (``reconciler.sepm.pinning``);
  no password or token is ever written to a peer whose certificate was not verified.
- **Authentication**: ``POST identity/authenticate``. The token is renewed before ``tokenExpiration``
  (seconds, counted on SEPM's clock from the response's ``serverTime``), and once when a request
  answers 401; a second 401 is ``Unauthorized``. A 400/401/403 on authenticate is
  ``CredentialsRejected``: raised at once, never retried, and every later call raises it again without
  touching the network until ``reset_credentials()``: a loop must never lock the account (SEPM locks
  after 5 failures). Details in ``reconciler.sepm.pipeline`` and ``reconciler.sepm.session``.
- **Retries**: transient failures (5xx, 429, timeouts, connection errors) are retried with exponential
  back-off and full jitter (``reconciler.backoff``); ``Retry-After`` is honoured. Permanent
  failures are raised at once. Changes (PATCH) are retried too: each one sets absolute values, so
  applying it twice is applying it once.
- **Limits**: every answer is read within ``limits`` (body size, a deadline per exchange, the length of
  a paged walk), whoever sends it (``reconciler.sepm.limits``).
- **Paging**: ``pages()`` returns every element or raises ``IncompleteObservation``
  (``reconciler.sepm.paging``); ``parse`` turns each element into what the caller keeps as its page
  arrives, so a walk never holds the raw JSON of the whole list (computers keep only the fields the
  adapter reads).
- **Clock**: ``server_time_ms`` is SEPM's clock at the last response (``reconciler.sepm.clock``).
- **Secrets**: the password and tokens never appear in ``repr``, log records or exception messages;
  SEPM's own error text is redacted before it is quoted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, overload
from urllib.parse import quote

import httpx

from reconciler.backoff import RetryPolicy, Sleep
from reconciler.desired.schema import DesiredSite
from reconciler.sepm.adapter import parse_location_entry
from reconciler.sepm.clock import SepmClock
from reconciler.sepm.connection import PinnedConnection
from reconciler.sepm.decoding import computer_page_decoder, group_page_decoder
from reconciler.sepm.errors import NotFound, Unauthorized, UnexpectedResponse
from reconciler.sepm.exchange_kinds import ExchangeHook
from reconciler.sepm.limits import ResponseLimits
from reconciler.sepm.paging import Parse, walk_pages
from reconciler.sepm.pipeline import Decoder, RequestPipeline
from reconciler.sepm.session import Session

API_PATH = "/sepm/api/v1"
T = TypeVar("T")


def _as_is(element: Any) -> Any:
    return element


def rest_base_url(api_url: str) -> str:
    """The REST base URL for a desired state's ``api.url``: ``/sepm/api/v1`` is added if no path is given."""
    url = httpx.URL(api_url)
    if url.path in ("", "/"):
        return str(url.copy_with(path=API_PATH))
    return api_url.rstrip("/")


class SepmClient:
    """An async client of one SEPM's REST API. Use as ``async with`` or call ``aclose()``."""

    def __init__(
        self,
        *,
        base_url: str,
        username: str,
        password: str,
        domain: str = "",
        allowed_fingerprints: frozenset[str],
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        timeout: float = 30.0,
        page_size: int = 1000,
        monotonic: Callable[[], float] = time.monotonic,
        limits: ResponseLimits | None = None,
        on_exchange: ExchangeHook | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._connection = PinnedConnection(
            base_url=self._base_url,
            allowed_fingerprints=allowed_fingerprints,
            transport=transport,
            timeout=timeout,
        )
        self._page_size = page_size
        self._clock = SepmClock(monotonic=monotonic)
        self._session = Session(username=username, password=password, domain=domain, clock=self._clock)
        self._pipeline = RequestPipeline(
            base_url=self._base_url,
            connection=self._connection,
            session=self._session,
            clock=self._clock,
            retry=retry or RetryPolicy(),
            sleep=sleep,
            rng=rng or random.Random(),  # noqa: S311 - jitter, not cryptography
            limits=limits or ResponseLimits(),
            on_exchange=on_exchange,
        )

    @classmethod
    def for_site(cls, site: DesiredSite, *, password: str, **options: Any) -> SepmClient:
        """A client for a desired site's API, pinned to every fingerprint the site allows."""
        return cls(
            base_url=rest_base_url(site.api.url),
            username=site.api.username,
            password=password,
            domain=site.api.domain,
            allowed_fingerprints=site.allowed_fingerprints(),
            **options,
        )

    def __repr__(self) -> str:
        # The password and the token are deliberately absent.
        return f"SepmClient({self._base_url!r}, username={self._session.username!r})"

    async def __aenter__(self) -> SepmClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    @property
    def base_url(self) -> str:
        return self._base_url

    @property
    def server_time_ms(self) -> int | None:
        """SEPM's clock at the last response, epoch ms (None before the first response)."""
        return self._clock.last_ms

    @property
    def credentials_rejected(self) -> bool:
        """True once SEPM refused the credentials; every call fails fast until ``reset_credentials()``."""
        return self._session.rejected

    @property
    def allowed_fingerprints(self) -> frozenset[str]:
        """The fingerprints the REST port may present (canonical form)."""
        return self._connection.allowed

    @property
    def pinned_fingerprints(self) -> frozenset[str]:
        """The certificates the HTTP client currently trusts."""
        return self._connection.pinned

    def reset_credentials(self, *, password: str | None = None) -> None:
        """Allow authentication again (after a human fixed the account or the secret)."""
        self._session.reset(password=password)

    # -- endpoints ------------------------------------------------------------------------------

    async def version(self) -> dict[str, str]:
        """``GET version``: ``{"API_SEQUENCE", "API_VERSION", "version"}``."""
        body = await self._get_object("version")
        # Scalars only: str() of a deeply nested value could exhaust the recursion limit.
        return {key: str(value) for key, value in body.items() if isinstance(value, str | int | float)}

    @overload
    async def computers(self, *, updated_since_ms: int | None = None) -> list[dict[str, Any]]: ...

    @overload
    async def computers(self, *, updated_since_ms: int | None = None, parse: Parse[T]) -> list[T]: ...

    async def computers(
        self, *, updated_since_ms: int | None = None, parse: Parse[Any] = _as_is
    ) -> list[Any]:
        """Every computer, or (``lastUpdate``) those updated after ``updated_since_ms``, each ``parse``d
        as its page arrives.

        Each record is cut down to the fields the adapter reads as its page is decoded
        (``reconciler.sepm.decoding``): SEPM sends 147 fields a computer, and a site 100,000
        computers.
        """
        # A unique sort key (documented by Broadcom) keeps the order the same between the requests of
        # a walk; the default (computer name) ties on duplicate names, which SEPM sites often have.
        params: dict[str, Any] = {"sort": "COMPUTER_ID"}
        if updated_since_ms is not None:
            params["lastUpdate"] = updated_since_ms
        return await self.pages(
            "computers", params, key="uniqueId", parse=parse, decoder=computer_page_decoder()
        )

    @overload
    async def groups(self) -> list[dict[str, Any]]: ...

    @overload
    async def groups(self, *, parse: Parse[T]) -> list[T]: ...

    async def groups(self, *, parse: Parse[Any] = _as_is) -> list[Any]:
        """Every group (list mode), each cut down to the fields the adapter reads, then ``parse``d."""
        return await self.pages("groups", key="id", parse=parse, decoder=group_page_decoder())

    async def locations(self, group_id: str) -> list[tuple[str, str]]:
        """``(location id, name)`` of each location of a group."""
        path = f"groups/{_segment(group_id)}/locations"
        body = await self._pipeline.get_json(path, params={"hasName": "true"})
        if not isinstance(body, list):
            raise UnexpectedResponse(f"GET {self._base_url}/{path} did not answer a list")
        return [parse_location_entry(entry, where=f"group {group_id}") for entry in body]

    async def location_settings(self, group_id: str, location_id: str) -> dict[str, Any]:
        """``GET groups/{g}/locations/{l}/settings``: ``{configuration: {...}, lockedoptions: {...}}``."""
        return await self._get_object(_settings_path(group_id, location_id))

    async def patch_location_settings(
        self, group_id: str, location_id: str, configuration: Mapping[str, Any]
    ) -> None:
        """PATCH a location's settings with a (partial) ``configuration``; see the adapter for bodies."""
        await self._pipeline.request(
            "PATCH", _settings_path(group_id, location_id), json={"configuration": dict(configuration)}
        )

    async def patch_group(
        self, group_id: str, *, name: str, inherits: bool | None = None, description: str | None = None
    ) -> None:
        """PATCH a group (``GroupPayload``: the name is required by SEPM, the rest optional)."""
        body: dict[str, Any] = {"name": name}
        if inherits is not None:
            body["inherits"] = inherits
        if description is not None:
            body["description"] = description
        await self._pipeline.request("PATCH", f"groups/{_segment(group_id)}", json=body)

    async def replication_status(self) -> dict[str, Any]:
        """``GET replication/status``."""
        return await self._get_object("replication/status")

    async def pages(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        key: str | None = None,
        parse: Parse[T] = _as_is,
        decoder: Decoder = json.loads,
    ) -> list[T]:
        """Every element of a paged list (1-based ``pageIndex``), parsed, or ``IncompleteObservation``.

        ``key`` names the identifying field; with it, elements inserted during the walk are tolerated.
        ``parse`` runs on each element as its page arrives (see ``reconciler.sepm.paging``); ``decoder``
        decodes each page's body.
        """
        query = dict(params or {})

        async def fetch(index: int, size: int) -> Any:
            page = {**query, "pageIndex": index, "pageSize": size}
            return await self._pipeline.get_json(path, params=page, decoder=decoder)

        return await walk_pages(
            fetch,
            what=f"GET {self._base_url}/{path}",
            size=self._page_size,
            key=key,
            parse=parse,
            limits=self._pipeline.limits,
        )

    async def _get_object(self, path: str) -> dict[str, Any]:
        """GET ``path``, whose answer must be a JSON object."""
        body = await self._pipeline.get_json(path)
        if not isinstance(body, dict):
            raise UnexpectedResponse(f"GET {self._base_url}/{path} did not answer an object")
        return body

    async def logout(self) -> None:
        """``POST identity/logout`` for the current token, if any (an already dead token is fine)."""
        token = self._session.take()
        if token is None:
            return
        with contextlib.suppress(Unauthorized, NotFound):
            await self._pipeline.request("POST", "identity/logout", bearer=token)

    async def aclose(self) -> None:
        """Close the HTTP connections (does not log out: call ``logout()`` first for that)."""
        await self._connection.aclose()


def _segment(value: str) -> str:
    """An id as one percent-encoded path segment; an id that is not text UTF-8 can carry (a lone
    surrogate, which a JSON escape can make) is SEPM's answer not making sense, not our crash."""
    try:
        return quote(value, safe="")
    except UnicodeEncodeError as exc:
        raise UnexpectedResponse(
            f"SEPM gave an id that cannot be sent back in a URL: {value[:80]!r}"
        ) from exc


def _settings_path(group_id: str, location_id: str) -> str:
    return f"groups/{_segment(group_id)}/locations/{_segment(location_id)}/settings"
