"""Changes an administrator makes to a simulated site: location settings, groups, MSLs, replication.

Each change checks itself first (``reconciler.sim.edits``: what SEPM would refuse is ``Refused``, and
nothing changes), applies itself through the change protocol of ``reconciler.sim.site_state`` where
clients can notice it, and records an event (``reconciler.sim.report``) with the actor, the target and
what was there before and after. Assigning a copied MSL is a location-settings patch: copying or
deleting one affects no client.
"""

from __future__ import annotations

from reconciler.sim import edits
from reconciler.sim.site_state import SiteState
from reconciler.sim.site_views import msl_view
from reconciler.sim.views import GroupView, MslView


class SiteConfig(SiteState):
    """The site's configuration changes, as SEPM's REST API and console make them."""

    def patch_location_settings(
        self,
        group_id: str,
        location_id: str,
        *,
        msl: str | None = None,
        secure_communications: bool | None = None,
        heartbeat_seconds: int | None = None,
        mode: str | None = None,
        actor: str,
    ) -> None:
        """Change a location's own settings; Refused for inheriting groups and unknown MSLs."""
        with self._lock:
            g = self._topology.group(group_id)
            loc = g.location(location_id)
            after = edits.patched_settings(
                self._topology,
                g,
                loc,
                msl=msl,
                secure_communications=secure_communications,
                heartbeat_seconds=heartbeat_seconds,
                mode=mode,
            )
            before = loc.own
            if before is None or after == before:
                return  # nothing to save: SEPM's policy (and its serial) stay as they are
            with self._changing(self._topology.scope(g), bump=True) as t:
                loc.own = after
                g.modified_ms = t
            self._history.record(
                t,
                actor=actor,
                action="patch-location-settings",
                target=g.where(loc),
                before=edits.settings_dict(before),
                after=edits.settings_dict(after),
            )

    def patch_group(
        self,
        group_id: str,
        *,
        inherits: bool | None = None,
        name: str | None = None,
        description: str | None = None,
        actor: str,
    ) -> GroupView:
        """Rename, describe, or switch policy inheritance (which bumps the serials of its scope)."""
        with self._lock:
            g = self._topology.group(group_id)
            edits.check_group_patch(g, inherits=inherits, name=name)
            now = self.clock.now_ms()
            if name is not None and name != g.name:
                path_before, g.name = g.full_path, name
                self._population.forget_views(self._topology.descendants(g))
                self._history.record(now, actor=actor, action="rename-group", target=path_before, after=name)
            if description is not None and description != g.description:
                self._history.record(
                    now,
                    actor=actor,
                    action="describe-group",
                    target=g.full_path,
                    before=g.description,
                    after=description,
                )
                g.description = description
            if inherits is not None and inherits != g.inherits:
                with self._changing(self._topology.scope(g), bump=True) as t:
                    if not inherits:
                        kept = edits.own_settings_after_inheriting(self._topology, g)
                        for loc, own in zip(g.locations, kept, strict=True):
                            loc.own = own
                    g.inherits = inherits
                    g.modified_ms = t
                self._history.record(
                    t,
                    actor=actor,
                    action="set-inheritance",
                    target=g.full_path,
                    before=not inherits,
                    after=inherits,
                )
            return self._group_view(g)

    def copy_msl(
        self,
        source: str,
        new_name: str,
        *,
        protocol: str = "http",
        http_ports: dict[str, int] | None = None,
        actor: str,
    ) -> MslView:
        """Copy an MSL (console: Copy the List, Paste, edit protocol and HTTP ports). Assigning it is a
        location-settings patch; until then no client is affected."""
        with self._lock:
            copy = edits.msl_copy(self._topology, source, new_name, protocol=protocol, http_ports=http_ports)
            self._topology.msls[new_name] = copy
            self._history.record(
                self.clock.now_ms(),
                actor=actor,
                action="copy-msl",
                target=new_name,
                before=source,
                after={"protocol": protocol, "entries": [list(e) for e in copy.entries]},
            )
            return msl_view(self._topology, copy)

    def delete_msl(self, name: str, *, actor: str) -> None:
        """Delete an MSL; Refused while it is assigned to any group or location."""
        with self._lock:
            edits.check_msl_deletable(self._topology, name)
            del self._topology.msls[name]
            self._history.record(self.clock.now_ms(), actor=actor, action="delete-msl", target=name)

    def break_replication(self, *, actor: str) -> None:
        with self._lock:
            now = self.clock.now_ms()
            if self._replication_broken_since is None:
                self._replication_broken_since = now
            self._history.record(now, actor=actor, action="break-replication", target=self.name)

    def restore_replication(self, *, actor: str) -> None:
        with self._lock:
            self._replication_broken_since = None
            self._history.record(
                self.clock.now_ms(), actor=actor, action="restore-replication", target=self.name
            )
