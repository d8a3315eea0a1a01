"""A site's clients between observations: replaced by a full read, updated by an incremental one.

Contract:
- ``ClientSet`` is never changed in place: ``merged`` returns a new one, so the observer keeps the old
  one until a snapshot is complete (a failed observation changes nothing).
- ``clients`` is sorted by id, and ``columns`` (``reconciler.model.client_columns``) is aligned with
  it: the planner's facts about each client, handed over with the snapshot.
- Records are read against the previous set as their page arrives (``reader``): a record that says
  nothing new becomes the position of the client it repeats, found from the set's columns, so that
  the client object itself (scattered in memory after a real observation) is not even looked at;
  only a new or changed record becomes a new client. ``merged`` then builds the next set from the
  previous one's columns, patched where clients changed: an incremental read touches the changed
  clients and copies columns, never walks the client objects; a removal or an addition gathers the
  kept positions from the old columns (in C) and merges the new clients in by id.
- ``clients`` is a ``PatchedTuple`` (``reconciler.model.patched_tuple``): while clients only change,
  each set keeps the tuple of the last one that built one and holds its changed clients beside it, so
  an incremental read makes no new tuple of 100,000 clients (nor a collection of one). A full read,
  an addition or a removal, and changes beyond an eighth of the clients, build a new tuple.
- ``by_group`` holds the positions of each group's clients (ascending; groups without clients are
  absent), so checking the clients against the group list costs one look per group, not one per client,
  and the planner need not group 100,000 positions again. An incremental read moves only the positions
  of the clients that changed group; the positions are regrouped only when clients come or go.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from operator import attrgetter, itemgetter
from typing import TypeVar

from reconciler import collector
from reconciler.model.client_columns import ClientColumns, positions_by_group
from reconciler.model.observed import ObservedClient
from reconciler.model.patched_tuple import PatchedTuple
from reconciler.sepm import adapter
from reconciler.sepm.decoding import Element, WireComputer

Read = int | ObservedClient | adapter.Deleted
"""What ``reader`` makes of one record: the position of the unchanged client it repeats, a new or
changed client, or a deletion."""
T = TypeVar("T")


_NO_CLIENTS: PatchedTuple[ObservedClient] = PatchedTuple()


def _empty_columns() -> ClientColumns:
    return ClientColumns(
        clients=_NO_CLIENTS,
        group_id=[],
        last_update_time=array("q"),
        profile_serial=[],
        agent_version=[],
        by_group={},
    )


@dataclass(frozen=True)
class ClientSet:
    clients: PatchedTuple[ObservedClient] = _NO_CLIENTS
    columns: ClientColumns = field(default_factory=_empty_columns)
    ids: Sequence[str] = ()
    names: Sequence[str] = ()
    online: bytes = b""
    servers: Sequence[str] = ()
    index: Mapping[str, int] = field(default_factory=dict)
    """Client id -> its position in ``clients``."""
    renewed: int = 0
    """How many of ``clients`` are new objects, made by the read that built this set (added or changed)."""

    @property
    def by_group(self) -> Mapping[str, Sequence[int]]:
        """Group id -> the positions of its clients in ``clients``, ascending (groups without clients
        are absent)."""
        by_group = self.columns.by_group
        return by_group if by_group is not None else {}

    def reader(self, paths: Mapping[str, str]) -> Callable[[Element], Read]:
        """Reads one computer record against this set (see the module docstring); ``paths`` maps a
        group's case-folded path to its id, for records whose group has no id."""
        index = self.index
        group, last = self.columns.group_id, self.columns.last_update_time
        serial, version = self.columns.profile_serial, self.columns.agent_version
        names, online, servers = self.names, self.online, self.servers
        shared: dict[str, str] = {}

        def known(  # noqa: PLR0917 - called once per record: positional is the cheap call
            unique_id: str, name: str, group_id: str, agent: str, seen: int, held: str, up: bool, server: str
        ) -> int | None:
            i = index.get(unique_id)
            if (
                i is not None
                and last[i] == seen
                and group[i] == group_id
                and serial[i] == held
                and names[i] == name
                and online[i] == up
                and version[i] == agent
                and servers[i] == server
            ):
                return i
            return None

        def read(record: Element) -> Read:
            if type(record) is WireComputer:
                typed = adapter.read_typed(record, known, shared)
                if typed is not None:
                    return typed
                record = record.as_dict()  # the odd case, read field by field (not typed a second time)
            return adapter.read_computer(record, group_ids_by_path=paths, known=known, shared=shared)

        return read

    def merged(self, reads: Iterable[Read], *, full: bool) -> ClientSet:
        """The set after ``reads`` (made by this set's ``reader``): on nothing for a full read (what it
        does not repeat is gone), else on this set. Deletions remove."""
        size = len(self.clients)
        kept = bytearray(size) if full else bytearray(b"\x01") * size
        changed: dict[int, ObservedClient] = {}
        added: dict[str, ObservedClient] = {}
        index = self.index
        for read in reads:
            if type(read) is int:
                kept[read] = 1
            elif isinstance(read, adapter.Deleted):
                gone = index.get(read.id)
                if gone is not None:
                    kept[gone] = 0
                    changed.pop(gone, None)
                added.pop(read.id, None)
            else:
                assert isinstance(read, ObservedClient)  # the reader makes nothing else
                position = index.get(read.id)
                if position is None:
                    added[read.id] = read
                else:
                    kept[position] = 1
                    changed[position] = read
        # The copies below are containers of 100,000 references that make no cycles: a collection
        # in the middle would walk the old ones and the half-built new ones for nothing.
        with collector.paused():
            if not added and kept.count(0) == 0:
                return self._patched(changed, compact=full)
            return self._rebuilt(kept, changed, sorted(added.values(), key=_id))

    def outside(self, group_ids: Collection[str]) -> ObservedClient | None:
        """A client whose group is not among ``group_ids``, or None when every client's group is."""
        missing = {group_id for group_id in self.by_group if group_id not in group_ids}
        if not missing:
            return None
        return next(self.clients[i] for i, g in enumerate(self.columns.group_id) if g in missing)

    def _patched(self, changed: Mapping[int, ObservedClient], *, compact: bool = False) -> ClientSet:
        """The same clients at the same positions, some replaced: a column is copied and patched only
        where a changed client differs in it, and shared with this set otherwise. The clients are
        patched (``PatchedTuple.patched``), and ``compact`` puts them on a tuple of their own."""
        clients = self.clients.patched(changed)
        if compact:
            clients = clients.compacted()
        if clients is self.clients:  # nothing changed, nothing to fold
            return replace(self, renewed=0)
        columns = self.columns
        # The copies are long-lived containers of 100,000 references: each one the collector must walk
        # while it is young costs a pass over its elements (names: some 10 ms a walk at 100,000), so a
        # column no client changed (names, versions, usually groups) is not copied at all.
        before, group = columns.group_id, _patched_column(columns.group_id, changed, _GROUP)
        moves = (
            [(i, before[i], group[i]) for i in changed if before[i] != group[i]]
            if group is not before
            else []
        )
        last = array("q", columns.last_update_time)
        online = bytearray(self.online)
        for i, client in changed.items():
            last[i] = client.last_update_time
            online[i] = client.online
        return _built(
            clients=clients,
            group=group,
            last=last,
            serial=_patched_column(columns.profile_serial, changed, _SERIAL),
            version=_patched_column(columns.agent_version, changed, _VERSION),
            ids=self.ids,
            names=_patched_column(self.names, changed, _NAME),
            online=bytes(online),
            servers=_patched_column(self.servers, changed, _SERVER),
            index=self.index,
            by_group=_moved(self.by_group, moves),
            renewed=len(changed),
        )

    def _rebuilt(
        self, kept: bytearray, changed: Mapping[int, ObservedClient], added: list[ObservedClient]
    ) -> ClientSet:
        """Positions moved (removals, additions): the kept positions are gathered from the old columns,
        patched, and the added clients (sorted by id) merged in by id."""
        survivors = [i for i, keep in enumerate(kept) if keep]
        base = self._patched(changed)
        take = _gather(survivors)
        ids, names, servers = take(base.ids), take(base.names), take(base.servers)
        clients, group = take(base.clients.as_tuple()), take(base.columns.group_id)
        last = take(base.columns.last_update_time)
        serial, version = take(base.columns.profile_serial), take(base.columns.agent_version)
        online = take(base.online)
        if added:
            # Where each new client goes among the kept ones (ids of both are sorted).
            cuts = [bisect.bisect_left(ids, client.id) for client in added]
            ids = _spliced(ids, cuts, [c.id for c in added])
            clients = _spliced(clients, cuts, added)
            group = _spliced(group, cuts, [c.group_id for c in added])
            last = _spliced(last, cuts, [c.last_update_time for c in added])
            serial = _spliced(serial, cuts, [c.profile_serial for c in added])
            version = _spliced(version, cuts, [c.agent_version for c in added])
            names = _spliced(names, cuts, [c.name for c in added])
            online = _spliced(online, cuts, [int(c.online) for c in added])
            servers = _spliced(servers, cuts, [c.last_server for c in added])
        index = dict(zip(ids, range(len(ids)), strict=True))
        return _built(
            clients=PatchedTuple(clients),
            group=group,
            last=array("q", last),
            serial=serial,
            version=version,
            ids=ids,
            names=names,
            online=bytes(online),
            servers=servers,
            index=index,
            by_group=positions_by_group(group),
            renewed=len(changed) + len(added),
        )


def _built(
    *,
    clients: PatchedTuple[ObservedClient],
    group: Sequence[str],
    last: array[int],
    serial: Sequence[str],
    version: Sequence[str],
    ids: Sequence[str],
    names: Sequence[str],
    online: bytes,
    servers: Sequence[str],
    index: Mapping[str, int],
    by_group: Mapping[str, Sequence[int]],
    renewed: int,
) -> ClientSet:
    columns = ClientColumns(
        clients=clients,
        group_id=group,
        last_update_time=last,
        profile_serial=serial,
        agent_version=version,
        by_group=by_group,
    )
    return ClientSet(
        clients=clients,
        columns=columns,
        ids=ids,
        names=names,
        online=online,
        servers=servers,
        index=index,
        renewed=renewed,
    )


def _id(client: ObservedClient) -> str:
    return client.id


_GROUP = attrgetter("group_id")
_SERIAL = attrgetter("profile_serial")
_VERSION = attrgetter("agent_version")
_NAME = attrgetter("name")
_SERVER = attrgetter("last_server")


def _patched_column(
    column: Sequence[str], changed: Mapping[int, ObservedClient], field: Callable[[ObservedClient], str]
) -> Sequence[str]:
    """``column`` with each changed client's ``field`` at its position: ``column`` itself when none
    differs, else a patched copy (a tuple: once the collector has seen that it holds only texts, it
    stops walking it)."""
    differs = {i: value for i, client in changed.items() if column[i] != (value := field(client))}
    if not differs:
        return column
    copy = list(column)
    for i, value in differs.items():
        copy[i] = value
    return tuple(copy)


def _gather(positions: list[int]) -> Callable[[Sequence[T]], list[T]]:
    """Takes ``positions`` out of a column, in C."""
    if not positions:
        return lambda column: []
    if len(positions) == 1:
        only = positions[0]
        return lambda column: [column[only]]
    getter = itemgetter(*positions)
    return lambda column: list(getter(column))


def _spliced(column: Sequence[T], cuts: list[int], values: list[T]) -> list[T]:
    """``column`` with ``values[k]`` inserted before position ``cuts[k]`` (cuts are non-decreasing)."""
    out: list[T] = []
    start = 0
    for cut, value in zip(cuts, values, strict=True):
        out.extend(column[start:cut])
        out.append(value)
        start = cut
    out.extend(column[start:])
    return out


def _moved(
    by_group: Mapping[str, Sequence[int]], moves: list[tuple[int, str, str]]
) -> Mapping[str, Sequence[int]]:
    """``by_group`` after each (position, from group, to group) of ``moves``: the groups a move touches
    get new lists, the others are shared with the previous set (which stays as it was)."""
    if not moves:
        return by_group
    touched: dict[str, list[int]] = {}
    for position, before, after in moves:
        for group_id in (before, after):
            if group_id not in touched:
                touched[group_id] = list(by_group.get(group_id, ()))
        touched[before].remove(position)
        bisect.insort(touched[after], position)
    result = dict(by_group)
    for group_id, positions in touched.items():
        if positions:
            result[group_id] = positions
        else:
            result.pop(group_id, None)
    return result
