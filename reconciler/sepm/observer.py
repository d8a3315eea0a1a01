"""``Observer``: one complete snapshot of a site (``Observed``), or an error. Never a partial one.

What one ``observe()`` reads:
- ``GET version`` first: it authenticates and pins the REST port once, and its answer dates the
  snapshot: ``Observed.server_time`` is SEPM's clock at that response (``SepmClient.server_time_ms``).
  Everything else is read after it, so no datum of the snapshot is older than its ``server_time``.
- All groups (a few pages), then at once, bounded to ``concurrency`` requests in flight besides the
  client walk (SEPM is a production server; be kind to it):
  - the locations and settings of the groups whose policy serial moved since the last snapshot, and
    of every group the first time (``reconciler.sepm.group_reader``); the others keep theirs;
  - clients: a full read the first time and every ``full_read_every`` observations (the only way to
    see deletions and changes that do not touch ``lastUpdateTime``, such as ``onlineStatus``); in
    between, only the clients with ``lastUpdateTime`` after the previous snapshot's ``server_time``
    minus ``incremental_margin_ms``, merged into the previous set. The margin covers a check-in that
    SEPM stamped before that instant but committed after the walk had passed its place, and the
    second by which ``server_time`` may run ahead (it comes from a ``Date`` header): seconds, not
    minutes, or every incremental read re-reads the clients of the whole margin. A record missed
    anyway is never unsafe: the set keeps the client's older check-in, which holds a gate back, and
    the next check-in or full read brings it. An incremental read that does not fit the groups just
    read (a client in an unknown group) is replaced by a full read on the spot;
  - every desired server's certificate on its https, console and REST ports, by TLS.
- Records are cut down page by page as they arrive (``SepmClient.computers``) and read against the
  previous client set there (``ClientSet.reader``): a page's records are gone before the next page
  comes, so one observation never holds the raw JSON of all the clients beside the model built from
  it, and a record that says nothing new is kept as the position of the client it repeats.
- The snapshot carries its clients' columns (``Observed.client_columns()``), kept up to date by the
  client set, for the planner.
- A read after which most clients are new objects (the first one), at least ``settle_after`` of them,
  ends with a full collection (``reconciler.collector.settle``): its cost is the read's, not that of
  whatever would run next. Below ``SETTLE_AFTER`` clients that pass is too short to matter wherever it
  lands, and a full collection walks every object of the process, not only the new ones. Any other
  read of at least ``settle_after`` clients that made a new tuple of them ends with a collection of
  the young and middle generations (``collector.settle_young``), which walks that tuple once instead
  of twice.

Failure contract: the previous state (client set, groups) is only replaced when a snapshot is complete.
Transient failures, and races with changes made while reading (a group deleted between listing it and
reading its locations: 404/409), raise ``IncompleteObservation``. Permanent errors that a retry cannot
fix (rejected credentials, pin mismatch, an unreadable payload, a response over the limits) propagate
as they are, so the controller stalls the site instead of hammering SEPM.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from reconciler import collector
from reconciler.backoff import RetryPolicy, Sleep
from reconciler.desired.schema import DesiredSite, Server
from reconciler.model.observed import (
    Observed,
    ObservedServer,
    PortKind,
    PresentedCertificate,
)
from reconciler.sepm import adapter
from reconciler.sepm.client import SepmClient
from reconciler.sepm.client_set import ClientSet, Read
from reconciler.sepm.concurrency import run_all, task_group
from reconciler.sepm.consistency import Consistency
from reconciler.sepm.decoding import Element
from reconciler.sepm.errors import (
    Conflict,
    IncompleteObservation,
    NotFound,
    TransientError,
)
from reconciler.sepm.group_reader import GroupReader
from reconciler.sepm.tls import fetch_server_certificates, tls_ports

T = TypeVar("T")

TLS_RETRY = RetryPolicy(attempts=2, base_delay=0.5, max_delay=0.5)
"""A TLS read that failed is tried once more, after up to half a second."""


SETTLE_AFTER = 20_000
"""New client objects from which a read settles the collector itself (see the module docstring): at
100,000 the pass takes a third of a second, at a few thousand a few milliseconds."""


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
        incremental_margin_ms: int = 5_000,
        settle_after: int = SETTLE_AFTER,
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
        self._settle_after = settle_after
        self._groups = GroupReader(client)
        self._consistency = Consistency()
        self._clients = ClientSet()
        self._first = True
        self._incremental_reads = 0
        self._last_server_time: int | None = None

    @property
    def next_read_is_full(self) -> bool:
        """Whether the next ``observe()`` reads every client (else only those updated since)."""
        return self._first or self._incremental_reads + 1 >= self._full_read_every

    @property
    def groups_read(self) -> int:
        """How many groups' locations and settings the last ``observe()`` read (the others were kept)."""
        return self._groups.groups_read

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
            wire_groups = await self._client.groups(parse=self._groups.list_parser())
            paths = {group.full_path.casefold(): group.id for group in wire_groups}
            read = self._clients.reader(paths)
            async with task_group() as tasks:
                groups_read = tasks.create_task(self._groups.read(wire_groups, limit=self._limit))
                records_read = tasks.create_task(self._read_client_records(read))
                servers_read = tasks.create_task(self._read_servers())
            groups, (records, full), servers = (
                groups_read.result(),
                records_read.result(),
                servers_read.result(),
            )
            group_ids = {group.id for group in groups}
            clients = self._clients.merged(records, full=full)
            if not full and clients.outside(group_ids) is not None:
                records, full = await self._client.computers(parse=read), True
                clients = self._clients.merged(records, full=True)
            self._consistency.check(site, groups, group_ids, clients)
        except (NotFound, Conflict) as exc:
            raise IncompleteObservation(
                f"site {site}: the site changed while it was being read ({exc}); observe again"
            ) from exc
        except IncompleteObservation:
            raise
        except TransientError as exc:
            raise IncompleteObservation.from_error(f"site {site}: observation failed: {exc}", exc) from exc
        previous = self._clients.clients
        self._commit(clients, full=full, server_time=server_time)
        if clients.renewed >= self._settle_after and clients.renewed > len(clients.clients) // 2:
            # Most clients are new objects (a first read): the collector's full pass over them is due
            # soon; it runs here, charged to the read, not to whatever runs next (`reconciler.collector`).
            collector.settle()
        elif not clients.clients.shares_base(previous) and len(clients.clients) >= self._settle_after:
            collector.settle_young()  # a new tuple of every client: walked once, not twice
        # Every part is a model object already validated as it was built; validating the snapshot again
        # would copy the tuple of 100,000 clients and look at each of them (a fortieth of a second).
        observed = Observed.model_construct(
            site=site,
            server_time=server_time,
            version=version,
            servers=servers,
            groups=tuple(groups),
            clients=clients.clients,
        )
        return observed.with_client_columns(clients.columns)

    def _commit(self, clients: ClientSet, *, full: bool, server_time: int) -> None:
        self._groups.commit()
        self._clients = clients
        self._first = False
        self._incremental_reads = 0 if full else self._incremental_reads + 1
        self._last_server_time = server_time

    async def _limited(self, call: Callable[[], Awaitable[T]]) -> T:
        async with self._limit:
            return await call()

    # -- clients ----------------------------------------------------------------------------------

    async def _read_client_records(self, read: Callable[[Element], Read]) -> tuple[list[Read], bool]:
        """Computer records (each ``read`` as its page arrives) and whether they are all of them."""
        if self.next_read_is_full or self._last_server_time is None:
            return await self._client.computers(parse=read), True
        since = self._last_server_time - self._margin_ms
        return await self._client.computers(updated_since_ms=since, parse=read), False

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
