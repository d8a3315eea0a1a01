"""The site's configuration: servers, Management Server Lists, the group tree and its locations.

This module holds the state SEPM keeps in its database and answers the questions the client model
asks of it; it knows nothing of clients or time.

Settings resolution (``effective``):
- a group that inherits takes, for a location, its parent's effective settings of the location with
  the same name, or of the parent's default location when the parent has no such location;
- a location that uses the group's settings follows its group's default location;
- otherwise the location's own settings.
``scope(group)`` is the group and its inheriting descendants: everything whose effective settings (and
policy serial) a change of that group can move.

``target(group, location)`` is what a client of that location downloads at a successful check-in: the
effective MSL with every server's CURRENT certificate fingerprint, the secure flag, the heartbeat and
the group's policy serial. Targets and the servers' current faces (``servers_now``) are memoised and
interned (equal targets are the same object, so the client model can compare by identity);
``invalidate()`` drops the memo after any change.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reconciler.sim.errors import NotFound
from reconciler.sim.group_paths import PATH_SEPARATOR
from reconciler.sim.trust import CachedPolicy, CachedServer, ServerNow
from reconciler.sim.views import MslEntry


@dataclass(frozen=True)
class Settings:
    """Communication settings of one location (SEPM's GroupSettingsConfiguration, the parts we model)."""

    msl: str
    secure_communications: bool
    heartbeat_seconds: int
    mode: str


@dataclass(eq=False)
class Location:
    id: str
    name: str
    own: Settings | None  # None: uses the group's settings (never for the default location)


@dataclass(eq=False)
class Group:
    id: str
    name: str
    parent: Group | None
    inherits: bool
    description: str
    created_ms: int
    locations: list[Location]
    serial: str = ""
    serial_ms: int = 0
    modified_ms: int = 0
    children: list[Group] = field(default_factory=list)

    @property
    def full_path(self) -> str:
        return self.name if self.parent is None else f"{self.parent.full_path}{PATH_SEPARATOR}{self.name}"

    @property
    def default_location(self) -> Location:
        return self.locations[0]

    def where(self, location: Location) -> str:
        """``group path`` for the default location, ``group path (location)`` for the others."""
        return self.full_path if location is self.default_location else f"{self.full_path} ({location.name})"

    def location(self, location_id: str) -> Location:
        for loc in self.locations:
            if loc.id == location_id:
                return loc
        raise NotFound(f"group {self.full_path!r} has no location {location_id!r}")


@dataclass(eq=False)
class Server:
    name: str
    id: str
    index: int
    address: str
    ports: dict[str, int]
    listen_ports: dict[str, int]
    cert_pem: bytes = field(repr=False)
    key_pem: bytes = field(repr=False)
    fingerprint: str
    # port kind -> (certificate PEM, fingerprint, key PEM) presented instead of the current
    # certificate (the corrupted-certificate fault)
    port_overrides: dict[str, tuple[bytes, str, bytes]] = field(default_factory=dict, repr=False)
    down: bool = False

    def presented(self, port_kind: str) -> tuple[bytes, str, bytes]:
        """(certificate PEM, fingerprint, key PEM) that a TLS port of this server presents."""
        return self.port_overrides.get(port_kind, (self.cert_pem, self.fingerprint, self.key_pem))


@dataclass(eq=False)
class Msl:
    name: str
    protocol: str
    entries: tuple[MslEntry, ...]


class Topology:
    """Servers, MSLs and groups of one site, with memoised effective settings and client targets."""

    def __init__(self, *, servers: list[Server], msls: list[Msl], groups: list[Group]) -> None:
        self.servers = {s.name: s for s in servers}
        self.msls = {m.name: m for m in msls}
        self.groups = groups  # tree order: root first, each parent before its children
        self.by_id = {g.id: g for g in groups}
        self._targets: dict[tuple[str, str], CachedPolicy] = {}
        self._servers_now: dict[str, ServerNow] | None = None

    # -- lookups -------------------------------------------------------------------------------
    def group(self, group_id: str) -> Group:
        try:
            return self.by_id[group_id.upper()]
        except KeyError:
            raise NotFound(f"no group with id {group_id!r}") from None

    def server(self, name: str) -> Server:
        try:
            return self.servers[name]
        except KeyError:
            raise NotFound(f"no management server named {name!r}") from None

    def msl(self, name: str) -> Msl:
        try:
            return self.msls[name]
        except KeyError:
            raise NotFound(f"no management server list named {name!r}") from None

    def tree_order(self) -> list[Group]:
        """Root first, then depth-first in creation order (parents before children)."""
        out: list[Group] = []
        stack = [g for g in self.groups if g.parent is None][::-1]
        while stack:
            g = stack.pop()
            out.append(g)
            stack.extend(reversed(g.children))
        return out

    # -- settings ------------------------------------------------------------------------------
    def source(self, group: Group, location: Location) -> tuple[Group, Location]:
        """The (group, location) whose own settings are effective for ``location`` of ``group``."""
        while True:
            if group.inherits and group.parent is not None:
                parent = group.parent
                location = next(
                    (p for p in parent.locations if p.name == location.name), parent.default_location
                )
                group = parent
            elif location.own is None:
                location = group.default_location
            else:
                return group, location

    def effective(self, group: Group, location: Location) -> Settings:
        _g, loc = self.source(group, location)
        assert loc.own is not None  # source() only returns locations with their own settings
        return loc.own

    def scope(self, group: Group) -> list[Group]:
        """The group and its inheriting descendants (their settings follow it)."""
        out = [group]
        stack = [c for c in group.children if c.inherits]
        while stack:
            g = stack.pop()
            out.append(g)
            stack.extend(c for c in g.children if c.inherits)
        return out

    def descendants(self, group: Group) -> list[Group]:
        out = [group]
        stack = list(group.children)
        while stack:
            g = stack.pop()
            out.append(g)
            stack.extend(g.children)
        return out

    def assignments(self, msl_name: str) -> list[str]:
        """Where an MSL is assigned: ``group path`` / ``group path (location)`` of own settings."""
        out: list[str] = []
        for g in self.groups:
            if g.inherits and g.parent is not None:
                continue  # an inheriting group's stored settings are not in force
            for loc in g.locations:
                if loc.own is not None and loc.own.msl == msl_name:
                    out.append(g.where(loc))
        return out

    def insecure(self, group: Group) -> bool:
        """Whether any location of the group has secure communications off (effective)."""
        return any(not self.effective(group, loc).secure_communications for loc in group.locations)

    # -- what clients meet ---------------------------------------------------------------------
    def invalidate(self) -> None:
        """Forget memoised targets and server faces (after any change)."""
        self._targets.clear()
        self._servers_now = None

    def servers_now(self) -> dict[str, ServerNow]:
        if self._servers_now is None:
            self._servers_now = {
                s.name: ServerNow(
                    s.name,
                    s.index,
                    s.down,
                    s.presented("https")[1],
                    s.fingerprint,
                    https_port=s.ports["https"],
                    http_port=s.ports["http"],
                )
                for s in self.servers.values()
            }
        return self._servers_now

    def target(self, group: Group, location: Location) -> CachedPolicy:
        key = (group.id, location.id)
        found = self._targets.get(key)
        if found is None:
            settings = self.effective(group, location)
            msl = self.msls[settings.msl]
            policy = CachedPolicy(
                msl_name=msl.name,
                servers=tuple(
                    CachedServer(
                        e.server, e.priority, msl.protocol, e.port, self.servers[e.server].fingerprint
                    )
                    for e in msl.entries
                ),
                secure_communications=settings.secure_communications,
                heartbeat_ms=settings.heartbeat_seconds * 1000,
                serial=group.serial,
            )
            self._targets[key] = found = policy
        return found
