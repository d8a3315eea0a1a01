"""Groups' locations and settings, read again only where SEPM shows that they changed.

Reading a group's settings costs one request for its locations and one per location: some 4,000
requests for a site of 2,000 groups, most of an observation's cost. SEPM bumps a group's
``policySerialNumber`` at every policy change of the group (adapter fact 12): a location's settings,
its MSL, its secure-communications flag, the list of locations, the inheritance switch; and an
inheriting group's serial moves with its parent's, since its clients must fetch the new policy too.
Clients find a new policy by that serial alone, so a change that left it alone would never reach
them either.

Contract:
- ``read(groups)`` returns one ``ObservedGroup`` per wire group, in order. A group whose serial,
  ``defaultLocationId`` and inheritance equal those of the last committed read keeps the locations
  read then (its path comes from the new list: a rename moves no setting); a wire group that is the
  very object read then (``list_parser`` gives it again for a record that repeats) is that case
  without a look at its fields, since 2,000 groups are kept on every observation. Every other group, and
  every group on the first read, is read in full: its locations, then each location's settings, with
  no more requests in flight than the caller's semaphore admits (SEPM is a production server).
- ``commit()`` makes the last ``read`` the base of the next one. It is called only once the whole
  observation is complete, so a failed observation leaves the base as it was.
- ``list_parser()`` gives the parser for one walk of the group list: ``adapter.parse_group``, except
  that a record equal to the one the previous walk read for that group gives the group parsed then
  (2,000 records re-checked field by field on every observation otherwise). Equal means the same
  texts and the same true/false: ``1 == True`` in Python, so an inheritance flag that is not a
  boolean is parsed (and refused) afresh.
- Errors are those of the client and the adapter; the observer classifies them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from reconciler.model.observed import ObservedGroup, ObservedLocation
from reconciler.sepm import adapter
from reconciler.sepm.client import SepmClient
from reconciler.sepm.concurrency import run_all
from reconciler.sepm.errors import UnexpectedResponse

T = TypeVar("T")


def _same_settings(group: adapter.WireGroup, before: adapter.WireGroup) -> bool:
    """Whether SEPM shows no change of ``group``'s settings since ``before`` (see above)."""
    return group is before or (
        group.policy_serial == before.policy_serial
        and group.default_location_id == before.default_location_id
        and group.inherits == before.inherits
    )


class GroupReader:
    """Reads the groups of one site, keeping what it read last (see the module docstring)."""

    def __init__(self, client: SepmClient) -> None:
        self._client = client
        self._limit = asyncio.Semaphore()
        self._base: dict[str, tuple[adapter.WireGroup, ObservedGroup]] = {}
        self._pending: dict[str, tuple[adapter.WireGroup, ObservedGroup]] = {}
        self._records: dict[Any, tuple[Mapping[str, Any], adapter.WireGroup]] = {}
        self.groups_read = 0
        """How many groups the last ``read`` asked SEPM about (the others came from the base)."""

    async def read(self, groups: list[adapter.WireGroup], *, limit: asyncio.Semaphore) -> list[ObservedGroup]:
        self._limit = limit
        kept = {group.id: self._kept(group) for group in groups}
        stale = [group for group in groups if kept[group.id] is None]
        fresh = await run_all(self._read(group) for group in stale)
        kept.update(zip((group.id for group in stale), fresh, strict=True))
        self.groups_read = len(stale)
        observed = [kept[group.id] for group in groups]
        self._pending = {
            group.id: (group, seen) for group, seen in zip(groups, observed, strict=True) if seen
        }
        return [seen for seen in observed if seen is not None]

    def list_parser(self) -> Callable[[Mapping[str, Any]], adapter.WireGroup]:
        """The parser for one walk of the group list (see the module docstring)."""
        previous: Mapping[Any, tuple[Mapping[str, Any], adapter.WireGroup]] = self._records
        current: dict[Any, tuple[Mapping[str, Any], adapter.WireGroup]] = {}
        self._records = current

        def parse(raw: Mapping[str, Any]) -> adapter.WireGroup:
            group_id = raw.get("id")
            known = previous.get(group_id) if type(group_id) is str else None
            if known is not None and known[0] == raw and type(raw.get("policyInheritanceEnabled")) is bool:
                group = known[1]
            else:
                group = adapter.parse_group(raw)
            current[group.id] = (raw, group)
            return group

        return parse

    def commit(self) -> None:
        self._base, self._pending = self._pending, {}

    def _kept(self, group: adapter.WireGroup) -> ObservedGroup | None:
        """The group as last read, if SEPM shows no change since (with today's path)."""
        kept = self._base.get(group.id)
        if kept is None or not _same_settings(group, kept[0]):
            return None
        seen = kept[1]
        if seen.full_path == group.full_path:
            return seen
        return seen.model_copy(update={"full_path": group.full_path})

    async def _limited(self, call: Callable[[], Awaitable[T]]) -> T:
        async with self._limit:
            return await call()

    async def _read(self, group: adapter.WireGroup) -> ObservedGroup:
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
