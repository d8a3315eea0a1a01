"""What a simulated site is made of, the lock that guards it, and the one way it changes.

`SiteState` is the base of `reconciler.sim.engine.Site`; the modules that add the site's behaviour
(``site_config``, ``site_servers``, ``engine``) share state only through it, on these terms:
- Every public method of the site takes the one ``threading.RLock`` (``_lock``); the HTTP layer may
  call from many threads. Certificate-change callbacks run after the lock is released.
- Times are epoch milliseconds of the simulated clock (``clock``).
- A change goes through ``_changing``: it first plays the check-ins of the clients it can affect up to
  the change's instant, under the old state, then applies itself, so check-ins at the very instant of
  a change see the state before it. Then the serials are bumped, the memos forgotten and the insecure
  windows brought up to date.
- Policy serials of a group and its inheriting descendants are bumped at every setting change of the
  group; every group's at a certificate change (MSLs carry the servers' certificates). A patch that
  changes nothing saves nothing and bumps nothing. Faults the engine owns (a server down, a port
  presenting another certificate) are changes like any other, without a bump: they take effect for
  check-ins after the instant they are switched.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from reconciler.sim.build import build_site, new_id
from reconciler.sim.clock import SimClock
from reconciler.sim.report import History
from reconciler.sim.scenario import Scenario
from reconciler.sim.serial import format_serial, next_serial_ms
from reconciler.sim.site_views import group_view
from reconciler.sim.topology import Group
from reconciler.sim.views import GroupView


class SiteState:
    """Servers, MSLs, groups, locations and clients on a simulated clock, with the site's identity."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        clock: SimClock,
        seed: int = 0,
        certificates: dict[str, tuple[bytes, bytes]] | None = None,
    ) -> None:
        self._lock = threading.RLock()
        self.clock = clock
        self.scenario = scenario
        self.seed = seed
        built = build_site(scenario, start_ms=clock.now_ms(), seed=seed, certificates=certificates)
        self._topology, self._population, self.start_ms = built.topology, built.population, built.start_ms
        self._history = History(topology=self._topology, start_ms=self.start_ms)
        self.name = scenario.site
        self.site_id = new_id(built.rng)
        self.domain_id = new_id(built.rng)
        self.domain_name = scenario.domain
        self.admin_username = scenario.admin.username
        given = scenario.admin.password
        self.admin_password = given.get_secret_value() if given is not None else secrets.token_urlsafe(18)
        self._replication_broken_since: int | None = None
        self._callbacks: list[Callable[[str], None]] = []

    def __repr__(self) -> str:
        size = f"servers={len(self._topology.servers)}, clients={len(self._population.clients)}"
        return f"Site(name={self.name!r}, {size})"

    def _group_view(self, g: Group) -> GroupView:
        return group_view(g, computers=self._population.group_size(g))

    @contextmanager
    def _changing(self, groups: list[Group] | None, *, bump: bool) -> Iterator[int]:
        """Play the affected clients up to now, yield the change time, then bump serials and forget
        memos. ``groups`` None means every group (server and certificate changes)."""
        scope = self._topology.groups if groups is None else groups
        t = self.clock.now_ms()
        self._population.advance(scope, t)
        self._population.settle_before_change(scope, t)
        yield t
        if bump:
            for g in scope:
                g.serial_ms = next_serial_ms(g.serial_ms, t)
                g.serial = format_serial(g.id, g.serial_ms)
        self._topology.invalidate()
        self._population.reset()
        self._history.note_security(scope, t)
