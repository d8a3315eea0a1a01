"""Simulated clients, evaluated lazily: check-ins are computed when someone looks, not on timers.

The contract with the engine (``Site``), which holds the lock:
- ``advance(groups, t)`` plays every check-in of those groups' clients up to and including ``t``
  against the CURRENT site state. The engine calls it for the groups a change can affect, at the
  change's time, BEFORE applying the change; so for every group, the site state that matters to its
  clients has not changed since the group's ``until``.
- ``settle_before_change(groups, t)`` then turns every parked client of those groups (see below) back
  into an explicit one as of ``t``, because its parking assumption is about to break.
- After the change the engine calls ``reset()`` (memos depend on the servers and targets).

Client modes. Between two changes a client's check-ins mostly have a known outcome, and such clients
are "parked": nothing is stored per check-in and the truth is computed in closed form on read
(``reconciler.sim.schedule``):
- SETTLED: its cache is its location's current target and every check-in succeeds; its last check-in
  is ``last_checkin(anchor .. now)`` and the server that took it a pure function of that time.
- STUCK: every check-in fails (``classify`` says never); the missed check-ins are counted in closed
  form and the cut-off interval stays open.
- ACTIVE: anything else (a stale cache, a client that does not fail over whose outcome depends on
  the random order). Its
  check-ins are played one by one, in ``advance``, until it parks. A change of the site state makes every
  affected client ACTIVE again, so each one plays its first check-in after the change explicitly.

Groups are the unit of evaluation ("vectorised by group"): a change of one group touches only its
clients and its inheriting descendants', a certificate change touches all.

Not modelled: push mode (the mode is stored and reported; clients still check in at their heartbeat)
and SEPM's accelerated heartbeats.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from reconciler.sim.schedule import NEVER, Windows, count_checkins, is_online, last_checkin, next_checkin
from reconciler.sim.topology import Group, Location, Topology
from reconciler.sim.trust import (
    ALWAYS_OK,
    NEVER_OK,
    CachedPolicy,
    ServerNow,
    attempt,
    classify,
    orphan_reason,
    pick,
    winners,
)
from reconciler.sim.views import ComputerView

ACTIVE, SETTLED, STUCK = 0, 1, 2


@dataclass(eq=False, slots=True)
class CutOff:
    """A run of missed check-ins of one client: from the first miss until its next success."""

    client: Client
    start: int
    last: int
    count: int
    reason: str
    end: int | None = None


class Client:
    """One simulated client; static identity plus the mutable cache and check-in state."""

    __slots__ = (
        "anchor",
        "cache",
        "created_ms",
        "cut",
        "dormant",
        "fails_over",
        "group",
        "hardware_key",
        "id",
        "idx",
        "ip",
        "last_ok",
        "last_server",
        "location",
        "logon_user",
        "mac",
        "missed",
        "mode",
        "name",
        "next_due",
        "os_name",
        "os_version",
        "version",
        "view",
        "view_until",
        "windows",
    )

    def __init__(
        self,
        *,
        idx: int,
        id: str,
        name: str,
        group: Group,
        location: Location,
        version: str,
        fails_over: bool,
        windows: Windows,
        dormant: bool,
        cache: CachedPolicy,
        anchor: int,
        created_ms: int,
    ) -> None:
        self.idx, self.id, self.name, self.group, self.location = idx, id, name, group, location
        self.version, self.fails_over, self.windows, self.dormant = version, fails_over, windows, dormant
        self.cache, self.anchor, self.last_ok, self.created_ms = cache, anchor, anchor, created_ms
        self.last_server = ""
        self.mode = ACTIVE
        self.next_due = NEVER
        self.cut: CutOff | None = None
        self.missed = 0
        self.view: ComputerView | None = None
        self.view_until = 0
        self.ip = f"10.{(idx >> 16) & 255}.{(idx >> 8) & 255}.{idx & 255}"
        self.mac = "00-50-56-" + "-".join(f"{(idx >> s) & 255:02X}" for s in (16, 8, 0))
        self.hardware_key = id[::-1]
        self.os_name, self.os_version = ("Windows 10", "10.0") if idx % 5 else ("Windows Server 2019", "10.0")
        self.logon_user = f"user{idx % 1000:03d}"


@dataclass(slots=True)
class _Bucket:
    clients: list[Client]
    until: int
    active: list[Client]


class Population:
    """All clients of a site, grouped per group, with lazy evaluation (see the module docstring)."""

    def __init__(self, *, topology: Topology, seed: int, clients: list[Client], start_ms: int) -> None:
        self._topology = topology
        self._seed = seed
        self.clients = clients
        self.cutoffs: list[CutOff] = []
        self._buckets: dict[str, _Bucket] = {g.id: _Bucket([], start_ms, []) for g in topology.groups}
        self._judged: dict[int, tuple[CachedPolicy, str, list[ServerNow]]] = {}
        for c in clients:
            self._buckets[c.group.id].clients.append(c)
            _verdict, cands = self._judge(c.cache, c.fails_over)
            if cands:  # the server that took its last check-in before the start
                c.last_server = pick(cands, seed=seed, client=c.idx, t=c.anchor).name
            if not c.dormant:
                self._settle_or_activate(c, start_ms)

    # -- memo --------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget outcome classifications (after any change of servers or settings)."""
        self._judged.clear()

    def _judge(self, cache: CachedPolicy, fails_over: bool) -> tuple[str, list[ServerNow]]:
        key = id(cache) * 2 + fails_over
        found = self._judged.get(key)
        if found is None:
            servers = self._topology.servers_now()
            verdict = classify(cache, servers, fails_over=fails_over)
            cands = winners(cache, servers) if verdict == ALWAYS_OK else []
            # Keep ``cache`` referenced so that its id cannot be reused while the memo lives.
            self._judged[key] = found = (cache, verdict, cands)
        return found[1], found[2]

    def group_size(self, group: Group) -> int:
        return len(self._buckets[group.id].clients)

    # -- evaluation ----------------------------------------------------------------------------
    def advance(self, groups: Iterable[Group], t: int) -> None:
        """Play every check-in up to and including ``t`` of these groups' clients."""
        for g in groups:
            bucket = self._buckets[g.id]
            if t <= bucket.until:
                continue
            for c in bucket.active:
                if c.next_due <= t:
                    self._play(c, t)
            bucket.active = [c for c in bucket.active if c.mode == ACTIVE and c.next_due < NEVER]
            bucket.until = t

    def advance_all(self, t: int) -> None:
        self.advance(self._topology.groups, t)

    def settle_before_change(self, groups: Iterable[Group], t: int) -> None:
        """Make every parked client of these groups explicit as of ``t`` (after ``advance(.., t)``)."""
        for g in groups:
            bucket = self._buckets[g.id]
            for c in bucket.clients:
                self._unpark(c, t)
            bucket.active = [c for c in bucket.clients if c.next_due < NEVER]

    def _unpark(self, c: Client, t: int) -> None:
        h = c.cache.heartbeat_ms
        if c.mode == SETTLED:
            lc = last_checkin(c.anchor, h, c.windows, c.dormant, t)
            if lc > c.anchor:
                c.last_ok, c.last_server, c.anchor = lc, self._server_at(c, lc), lc
        elif c.mode == STUCK and c.cut is not None:
            missed = count_checkins(c.anchor, h, c.windows, c.dormant, since=c.anchor, until=t)
            if missed:
                c.anchor = last_checkin(c.anchor, h, c.windows, c.dormant, t)
                c.missed += missed
                c.cut.count += missed
                c.cut.last = c.anchor
        c.mode = ACTIVE
        c.next_due = next_checkin(c.anchor, h, c.windows, c.dormant, t)
        c.view = None

    def _server_at(self, c: Client, t: int) -> str:
        _verdict, cands = self._judge(c.cache, c.fails_over)
        return pick(cands, seed=self._seed, client=c.idx, t=t).name

    def _settle_or_activate(self, c: Client, t: int) -> None:
        """Park a client whose cache is its target (it just downloaded it) when that always works."""
        verdict, _cands = self._judge(c.cache, c.fails_over)
        if verdict == ALWAYS_OK:
            c.mode = SETTLED
        else:
            c.mode = ACTIVE
            c.next_due = next_checkin(c.anchor, c.cache.heartbeat_ms, c.windows, c.dormant, t)
            self._buckets[c.group.id].active.append(c)

    def _play(self, c: Client, t: int) -> None:
        """Play an ACTIVE client's check-ins up to ``t`` one by one until it parks."""
        servers = self._topology.servers_now()
        while c.next_due <= t:
            tn = c.next_due
            verdict, cands = self._judge(c.cache, c.fails_over)
            served: str | None
            reason = ""
            if verdict == ALWAYS_OK:
                served = pick(cands, seed=self._seed, client=c.idx, t=tn).name
            else:
                outcome = attempt(
                    c.cache, servers, fails_over=c.fails_over, seed=self._seed, client=c.idx, t=tn
                )
                served, reason = outcome.server, outcome.reason
            c.anchor = tn
            c.view = None
            if served is None:
                self._miss(c, tn, reason)
                if verdict == NEVER_OK:
                    c.mode = STUCK
                    return
            else:
                c.last_ok, c.last_server = tn, served
                if c.cut is not None:
                    c.cut.end = tn
                    c.cut = None
                c.cache = self._topology.target(c.group, c.location)
                if self._judge(c.cache, c.fails_over)[0] == ALWAYS_OK:
                    c.mode = SETTLED
                    return
            c.next_due = next_checkin(tn, c.cache.heartbeat_ms, c.windows, c.dormant, tn)

    def _miss(self, c: Client, t: int, reason: str) -> None:
        c.missed += 1
        if c.cut is None:
            c.cut = CutOff(c, t, t, 1, reason)
            self.cutoffs.append(c.cut)
        else:
            # The run keeps the reason of its first miss: that is what cut the client off.
            c.cut.last, c.cut.count = t, c.cut.count + 1

    # -- reading -------------------------------------------------------------------------------
    def last_update(self, c: Client, now: int) -> tuple[int, str]:
        """(lastUpdateTime, last server name) as of ``now`` (after ``advance_all(now)``)."""
        if c.mode == SETTLED:
            lc = last_checkin(c.anchor, c.cache.heartbeat_ms, c.windows, c.dormant, now)
            if lc > c.anchor:
                return lc, self._server_at(c, lc)
        return c.last_ok, c.last_server

    def _stuck_extra(self, c: Client, now: int) -> tuple[int, int]:
        """Misses of a parked STUCK client after its anchor, up to ``now``: (count, time of the last)."""
        if c.mode != STUCK:
            return 0, 0
        h = c.cache.heartbeat_ms
        extra = count_checkins(c.anchor, h, c.windows, c.dormant, since=c.anchor, until=now)
        return extra, (last_checkin(c.anchor, h, c.windows, c.dormant, now) if extra else 0)

    def missed(self, c: Client, now: int) -> int:
        """Missed check-ins of this client so far, as of ``now``."""
        return c.missed + self._stuck_extra(c, now)[0]

    def cut_progress(self, cut: CutOff, now: int) -> tuple[int, int]:
        """(missed check-ins, time of the latest) of a run of misses, as of ``now``."""
        if cut.end is not None or cut.client.cut is not cut:
            return cut.count, cut.last
        extra, last = self._stuck_extra(cut.client, now)
        return (cut.count + extra, last) if extra else (cut.count, cut.last)

    def online(self, c: Client, now: int) -> bool:
        return is_online(c.windows, c.dormant, now)

    def orphan_reason(self, c: Client) -> str | None:
        return orphan_reason(c.cache, self._topology.servers_now(), fails_over=c.fails_over)

    def forget_views(self, groups: Iterable[Group]) -> None:
        """Drop cached views (a rename changed the clients' group paths)."""
        for g in groups:
            for c in self._buckets[g.id].clients:
                c.view = None
