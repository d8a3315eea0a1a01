"""One site's connection to SEPM: the REST client and the observer, kept between reconciles.

Contract:
- ``observe(desired, base)`` resolves the password (``base``: the desired-state file's folder), builds
  the client and observer on first use, and returns a complete `Observed` or raises (`SepmError`,
  `SecretError`). The client is pinned to the desired state's fingerprints before any credential is
  sent (`reconciler.sepm.pinning`).
- The client is rebuilt when the desired state or the password changes, and only then: it keeps its
  token and its pins, and the observer its client set for incremental reads.
- **A rejected password is never tried again** with the same desired state and password (SEPM locks an
  account after five failures). The client latches a rejection, whether it happened while observing or
  while acting; ``observe`` then refuses at once, without the network, until either changes. The secret
  is re-read at every reconcile, so a corrected one resumes the site by itself.
- Every exchange of the client is reported to ``on_exchange`` (endpoint family, outcome), for the
  request counter.
- ``sepm_now()``: SEPM's clock at its last answer, for steps journalled without an observation of their
  own; never a made-up value.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from reconciler.desired.schema import DesiredSite
from reconciler.desired.secrets import resolve_secret
from reconciler.model.observed import Observed
from reconciler.sepm.client import SepmClient
from reconciler.sepm.errors import CredentialsRejected, SepmError
from reconciler.sepm.exchange_kinds import ExchangeHook
from reconciler.sepm.observer import Observer

log = logging.getLogger(__name__)


class SepmConnection:
    def __init__(self, site: str, *, on_exchange: ExchangeHook | None = None) -> None:
        self.site = site
        self._on_exchange = on_exchange
        self._client: SepmClient | None = None
        self._observer: Observer | None = None
        self._key = ""
        self._last_observed: Observed | None = None

    @property
    def client(self) -> SepmClient:
        """The client of the last observation (acting always follows one)."""
        if self._client is None:
            raise RuntimeError(f"site {self.site}: no SEPM connection yet; observe first")
        return self._client

    async def observe(self, desired: DesiredSite, *, base: Path) -> Observed:
        password = resolve_secret(desired.api.password, base=base)
        key = hashlib.sha256(f"{desired.digest()}\0{password}".encode()).hexdigest()
        if self._client is not None and key == self._key and self._client.credentials_rejected:
            raise CredentialsRejected(
                f"SEPM rejected the credentials of {desired.api.username} for {desired.api.url}; not trying "
                f"again until the password in {desired.api.password.describe()} or the desired state changes"
            )
        if self._client is None or key != self._key:
            await self.aclose()
            self._client = SepmClient.for_site(desired, password=password, on_exchange=self._on_exchange)
            self._observer = Observer(desired, self._client)
            self._key = key
        assert self._observer is not None
        self._last_observed = await self._observer.observe()
        return self._last_observed

    async def sepm_time(self) -> int:
        """SEPM's clock now, read from a fresh answer (``GET version``); its last known clock if SEPM does
        not answer (a step is then timed early, never late)."""
        if self._client is not None:
            try:
                await self._client.version()
            except SepmError as error:
                log.warning(
                    "site %s: SEPM's clock could not be read now (%s); using its last", self.site, error
                )
        return self.sepm_now()

    def sepm_now(self) -> int:
        """SEPM's clock at its last answer (an observation's time at worst)."""
        client_time = self._client.server_time_ms if self._client is not None else None
        if client_time:
            return client_time
        if self._last_observed is not None:
            return self._last_observed.server_time
        raise RuntimeError(f"site {self.site}: no SEPM time known; refusing to journal a step without one")

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client, self._observer = self._client, None, None
            await client.aclose()
