"""What happened to the site: the event log, insecure windows and the end-of-run report.

- Every change (REST or console, and fault switches) is an event: simulated time, actor, action,
  target, before and after. Secrets never enter an event (a certificate change records fingerprints).
- An insecure window of a group runs from when any of its locations' EFFECTIVE secure-communications
  flag turned off to when all of them are on again (an inheriting group opens and closes windows with
  its parent).
- The report (``build_report``) is the oracle of the end-to-end tests:
  ``{"time", "clients", "cutOff", "orphaned", "insecureWindows", "events", "missedCheckIns"}`` where
  ``cutOff`` lists every run of missed check-ins (from the first miss to the next success, ``to`` null
  while it lasts), ``orphaned`` every client that no server can accept any more (rule in
  ``reconciler.sim.trust``), ``insecureWindows`` maps group paths to ``[[from, to|null], ...]``.
"""

from __future__ import annotations

from typing import Any

from reconciler.sim.clients import Population
from reconciler.sim.topology import Group, Topology


class History:
    """The event log and the insecure windows of one site."""

    def __init__(self, *, topology: Topology, start_ms: int) -> None:
        self.events: list[dict[str, Any]] = []
        self._windows: dict[str, list[list[int | None]]] = {}
        self._topology = topology
        self.note_security(topology.groups, start_ms)

    def record(
        self, t: int, *, actor: str, action: str, target: str, before: Any = None, after: Any = None
    ) -> None:
        self.events.append(
            {"time": t, "actor": actor, "action": action, "target": target, "before": before, "after": after}
        )

    def note_security(self, groups: list[Group], t: int) -> None:
        """Open or close the insecure windows of these groups after a change at ``t``."""
        for g in groups:
            windows = self._windows.setdefault(g.id, [])
            open_now = bool(windows) and windows[-1][1] is None
            if self._topology.insecure(g) and not open_now:
                windows.append([t, None])
            elif open_now and not self._topology.insecure(g):
                windows[-1][1] = t

    def insecure_windows(self) -> dict[str, list[list[int | None]]]:
        by_id = self._topology.by_id
        return {by_id[gid].full_path: [list(w) for w in ws] for gid, ws in self._windows.items() if ws}


def build_report(*, now: int, topology: Topology, population: Population, history: History) -> dict[str, Any]:
    """The report as of ``now`` (the caller has advanced every client to ``now``)."""
    cut_off = []
    for cut in population.cutoffs:
        c = cut.client
        count, last = population.cut_progress(cut, now)
        cut_off.append(
            {
                "id": c.id,
                "computerName": c.name,
                "group": c.group.full_path,
                "agentVersion": c.version,
                "from": cut.start,
                "to": cut.end,
                "lastMissed": last,
                "missedCheckIns": count,
                "reason": cut.reason,
            }
        )
    orphaned = []
    missed_total = 0
    for c in population.clients:
        missed_total += population.missed(c, now)
        why = population.orphan_reason(c)
        if why is not None:
            last, _server = population.last_update(c, now)
            orphaned.append(
                {
                    "id": c.id,
                    "computerName": c.name,
                    "group": c.group.full_path,
                    "agentVersion": c.version,
                    "online": population.online(c, now),
                    "lastUpdateTime": last,
                    "reason": why,
                }
            )
    return {
        "time": now,
        "clients": len(population.clients),
        "cutOff": cut_off,
        "orphaned": orphaned,
        "insecureWindows": history.insecure_windows(),
        "events": list(history.events),
        "missedCheckIns": missed_total,
    }
