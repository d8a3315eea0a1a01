"""``Observer``: one complete snapshot of a site (``Observed``), or an error. Never a partial one.

What one ``observe()`` reads:
- ``GET version`` first: it authenticates and pins the REST port once, and its answer dates the
  snapshot: ``Observed.server_time`` is SEPM's clock at that response (``SepmClient.server_time_ms``).
  Everything else is read after it, so no datum of the snapshot is older than its ``server_time``.
- All groups, each group's locations and each location's settings, bounded to ``concurrency`` requests
  in flight (SEPM is a production server; be kind to it).
- Clients: a full read the first time and every ``full_read_every`` observations (the only way to see
  deletions and changes that do not touch ``lastUpdateTime``, such as ``onlineStatus``); in between,
  only the clients with ``lastUpdateTime`` after the previous snapshot's ``server_time`` minus
  ``incremental_margin_ms`` (check-ins being committed while we read), merged into the previous set.
  An incremental read that does not fit the groups just read (a client in an unknown group) is
  replaced by a full read on the spot.
- Every desired server's certificate on its https, console and REST ports, by TLS.

Failure contract: the previous state is only replaced when a snapshot is complete. Transient
failures, and races with changes made while reading (a group deleted between listing it and reading
its locations: 404/409), raise ``IncompleteObservation``. Permanent errors that a retry cannot fix
(rejected credentials, pin mismatch, an unreadable payload) propagate as they are, so the controller
stalls the site instead of hammering SEPM.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from reconciler.backoff import RetryPolicy, Sleep
from reconciler.desired.schema import DesiredSite, Server
from reconciler.model.observed import (
    Observed,
    ObservedClient,
    ObservedGroup,
    ObservedLocation,
    ObservedServer,
    PortKind,
    PresentedCertificate,
)
from reconciler.sepm import adapter
from reconciler.sepm.client import SepmClient
from reconciler.sepm.concurrency import run_all, task_group
from reconciler.sepm.errors import (
    Conflict,
    IncompleteObservation,
    NotFound,
    TransientError,
    UnexpectedResponse,
)
from reconciler.sepm.tls import fetch_server_certificates, tls_ports

T = TypeVar("T")

TLS_RETRY = RetryPolicy(attempts=2, base_delay=0.5, max_delay=0.5)
"""A TLS read that failed is tried once more, after up to half a second."""


class Observer:
    """Observes one site through its ``SepmClient`` and TLS. Keeps the client set between calls."""

    def __init__(
        self,
        desired: DesiredSite,
        client: SepmClient,
        *,
        full_read_every: int = 10,
        tls_timeout: float = 10.0,
        tls_retry: RetryPolicy = TLS_RETRY,
        sleep: Sleep = asyncio.sleep,
        concurrency: int = 6,
        incremental_margin_ms: int = 300_000,
    ) -> None:
        if full_read_every < 1:
            raise ValueError("full_read_every must be at least 1 (1 = always read every client)")
        self._desired = desired
        self._client = client
        self._full_read_every = full_read_every
        self._tls_timeout = tls_timeout
        self._tls_retry = tls_retry
        self._sleep = sleep
        self._concurrency = concurrency
        self._limit = asyncio.Semaphore(concurrency)
        self._margin_ms = incremental_margin_ms
        self._clients: dict[str, ObservedClient] | None = None
        self._incremental_reads = 0
        self._last_server_time: int | None = None

    @property
    def next_read_is_full(self) -> bool:
        """Whether the next ``observe()`` reads every client (else only those updated since)."""
        return self._clients is None or self._incremental_reads + 1 >= self._full_read_every

    async def observe(self) -> Observed:
        """A complete snapshot of the site, or an exception (see the module docstring).

        One call at a time per Observer: it owns the client set that incremental reads build on.
        """
        site = self._desired.site
        self._limit = asyncio.Semaphore(self._concurrency)  # bound to this call's event loop
        try:
            version = adapter.version_string(await self._client.version())
            server_time = self._client.server_time_ms
            if server_time is None:
                raise IncompleteObservation(
                    f"site {site}: SEPM sent no Date header or serverTime, so its clock is unknown"
                )
            async with task_group() as tasks:
                groups_read = tasks.create_task(self._read_groups())
                records_read = tasks.create_task(self._read_client_records())
                servers_read = tasks.create_task(self._read_servers())
            groups, (records, full), servers = (
                groups_read.result(),
                records_read.result(),
                servers_read.result(),
            )
            paths = {group.full_path.casefold(): group.id for group in groups}
            group_ids = set(paths.values())
            clients = self._merge(records, full=full, paths=paths)
            if not full and any(client.group_id not in group_ids for client in clients.values()):
                records, full = await self._client.computers(), True
                clients = self._merge(records, full=True, paths=paths)
            _check_consistent(site, groups, clients)
        except (NotFound, Conflict) as exc:
            raise IncompleteObservation(
                f"site {site}: the site changed while it was being read ({exc}); observe again"
            ) from exc
        except IncompleteObservation:
            raise
        except TransientError as exc:
            raise IncompleteObservation.from_error(f"site {site}: observation failed: {exc}", exc) from exc
        self._commit(clients, full=full, server_time=server_time)
        return Observed(
            site=site,
            server_time=server_time,
            version=version,
            servers=servers,
            groups=tuple(groups),
            clients=tuple(sorted(clients.values(), key=lambda c: c.id)),
        )

    def _commit(self, clients: dict[str, ObservedClient], *, full: bool, server_time: int) -> None:
        self._clients = clients
        self._incremental_reads = 0 if full else self._incremental_reads + 1
        self._last_server_time = server_time

    async def _limited(self, call: Callable[[], Awaitable[T]]) -> T:
        async with self._limit:
            return await call()

    # -- groups and locations ---------------------------------------------------------------------

    async def _read_groups(self) -> list[ObservedGroup]:
        wire_groups = [adapter.parse_group(raw) for raw in await self._client.groups()]
        return await run_all(self._read_group(group) for group in wire_groups)

    async def _read_group(self, group: adapter.WireGroup) -> ObservedGroup:
        entries = await self._limited(lambda: self._client.locations(group.id))
        default_id = adapter.default_location_id(group, entries)
        if default_id is None and not group.inherits:
            raise UnexpectedResponse(
                f"group {group.full_path} ({group.id}) has no locations, so its settings cannot be read"
            )
        settings = await run_all(self._read_settings(group, location_id) for location_id, _ in entries)
        by_location = dict(zip((location_id for location_id, _ in entries), settings, strict=True))
        locations: list[ObservedLocation] = []
        for location_id, name in entries:
            default = by_location[default_id] if default_id is not None else by_location[location_id]
            locations.append(
                adapter.observed_location(
                    location_id=location_id,
                    name=name,
                    is_default=location_id == default_id,
                    settings=by_location[location_id],
                    default=default,
                )
            )
        return ObservedGroup(
            id=group.id,
            full_path=group.full_path,
            inherits=group.inherits,
            policy_serial=group.policy_serial,
            locations=tuple(locations),
        )

    async def _read_settings(self, group: adapter.WireGroup, location_id: str) -> adapter.LocationSettings:
        body = await self._limited(lambda: self._client.location_settings(group.id, location_id))
        return adapter.parse_location_settings(body, where=f"group {group.full_path} location {location_id}")

    # -- clients ----------------------------------------------------------------------------------

    async def _read_client_records(self) -> tuple[list[dict[str, Any]], bool]:
        """Raw computer records and whether they are all of them (else those updated since)."""
        if self.next_read_is_full or self._last_server_time is None:
            return await self._client.computers(), True
        since = self._last_server_time - self._margin_ms
        return await self._client.computers(updated_since_ms=since), False

    def _merge(
        self, records: list[dict[str, Any]], *, full: bool, paths: Mapping[str, str]
    ) -> dict[str, ObservedClient]:
        """The client set after applying ``records`` (to nothing for a full read, else to the last set).

        Deletion markers remove. (The page walk has already kept one record per computer.)
        """
        clients = {} if full or self._clients is None else dict(self._clients)
        for record in records:
            client_id = adapter.client_id(record)
            if adapter.is_deleted(record):
                clients.pop(client_id, None)
            else:
                clients[client_id] = adapter.parse_client(record, group_ids_by_path=paths)
        return clients

    # -- servers ------------------------------------------------------------------------------------

    async def _read_servers(self) -> tuple[ObservedServer, ...]:
        servers = self._desired.servers
        presented = await run_all(self._read_server(server) for server in servers)
        return tuple(
            ObservedServer(
                name=server.name,
                address=server.address,
                ports=tls_ports(server),
                certificates=certificates,
            )
            for server, certificates in zip(servers, presented, strict=True)
        )

    async def _read_server(self, server: Server) -> dict[PortKind, PresentedCertificate]:
        """One server's certificates, tried again after a pause: a handshake can fail by chance."""
        try:
            return await self._tls_retry.call(
                lambda: self._limited(lambda: fetch_server_certificates(server, timeout=self._tls_timeout)),
                retry_on=TransientError,
                sleep=self._sleep,
            )
        except TransientError as exc:
            raise IncompleteObservation.from_error(
                f"server {server.name}: could not read its certificates: {exc}", exc
            ) from exc


def _check_consistent(site: str, groups: list[ObservedGroup], clients: Mapping[str, ObservedClient]) -> None:
    by_path = {group.full_path.casefold() for group in groups}
    if not any(group.parent_path is None for group in groups):
        raise IncompleteObservation(f"site {site}: the group list has no root group")
    for group in groups:
        parent = group.parent_path
        if parent is not None and parent.casefold() not in by_path:
            raise IncompleteObservation(
                f"site {site}: group {group.full_path} has no parent {parent} in the group list"
            )
    ids = {group.id for group in groups}
    for client in clients.values():
        if client.group_id not in ids:
            raise IncompleteObservation(
                f"site {site}: computer {client.name} ({client.id}) is in group {client.group_id}, "
                "which the group list does not have (a group created while reading?)"
            )
