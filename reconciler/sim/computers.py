"""Computer views (what SEPM's ``computers`` endpoint lists), cached per client.

A full walk of 100,000 clients at pageSize 1000 calls ``Site.computers()`` a hundred times in a few
seconds, so building 100,000 frozen views per call would dominate. Each client keeps its last view and
the simulated instant until which it stays true (``view_until``): its next check-in if it is parked
SETTLED (its ``lastUpdateTime`` moves then), or its next online/offline switch. Evaluation and changes
drop a client's view (``Client.view = None``). A call therefore rebuilds only the views that changed.
"""

from __future__ import annotations

from reconciler.sim.clients import SETTLED, Client, Population
from reconciler.sim.schedule import NEVER, is_online, next_checkin
from reconciler.sim.views import ComputerView


def computer_views(
    population: Population,
    now: int,
    *,
    updated_since_ms: int | None,
    site_name: str,
    server_ids: dict[str, str],
) -> list[ComputerView]:
    """Every client's view as of ``now`` (the caller has advanced the clients to ``now``)."""
    out: list[ComputerView] = []
    paths: dict[str, str] = {}  # group id -> full path, computed once per call
    for c in population.clients:
        view = c.view
        if view is None or c.view_until <= now:
            path = paths.get(c.group.id)
            if path is None:
                paths[c.group.id] = path = c.group.full_path
            view = _build(population, c, now, path=path, site_name=site_name, server_ids=server_ids)
        if updated_since_ms is None or view.last_update_ms > updated_since_ms:
            out.append(view)
    return out


def _build(
    population: Population, c: Client, now: int, *, path: str, site_name: str, server_ids: dict[str, str]
) -> ComputerView:
    last, server = population.last_update(c, now)
    until = _next_switch(c, now)
    if c.mode == SETTLED:
        until = min(until, next_checkin(c.anchor, c.cache.heartbeat_ms, c.windows, c.dormant, now))
    # Positional: this runs up to 100,000 times per call (field order of ComputerView).
    view = ComputerView(
        c.id,
        c.name,
        c.group.id,
        path,
        c.version,
        is_online(c.windows, c.dormant, now),
        last,
        c.cache.serial,
        server,
        server_ids.get(server, ""),
        c.ip,
        c.os_name,
        c.location.id,
        c.hardware_key,
        c.mac,
        c.created_ms,
        last,
        c.os_version,
        site_name,
        "WORKGROUP",
        c.logon_user,
    )
    c.view, c.view_until = view, until
    return view


def _next_switch(c: Client, now: int) -> int:
    """The next instant the client goes offline or comes back online."""
    if c.dormant:
        return NEVER
    for a, b in c.windows:
        if a > now:
            return a
        if b > now:
            return b
    return NEVER
