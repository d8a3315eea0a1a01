"""What a site's worker tells: its status after every reconcile, and one log event per change of state.

Contract:
- Every reconcile publishes the site's status (`reconciler.telemetry.status`): to the status board
  (metrics, ``/status``), the status file other processes read, and whoever else listens.
- A log event is written when the site's state changes (phase, reason, current step or gate), never at
  every poll, with the fields a log pipeline filters on as ``extra``: ``site``, ``phase``, ``reason``,
  ``step``, ``gate``, ``rotation`` and ``revision``. Stalls are warnings; the rest is information.
- The revision told is the one in force: a rotation's own while one runs (it is bound to the desired
  state it started from), else the revision the site's file was read at.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.act import operator
from reconciler.controller.desired_source import DesiredSource
from reconciler.controller.schedule import Next, Status
from reconciler.controller.site_journal import SiteRecord
from reconciler.desired.schema import DesiredSite
from reconciler.model.observed import Observed
from reconciler.model.plan import Plan
from reconciler.telemetry.status import AppliedRevision, SiteStatus, status_for_plan

log = logging.getLogger(__name__)


@dataclass
class SiteReporter:
    site: str
    source: DesiredSource
    publish: Callable[[SiteStatus], None]
    status: SiteStatus | None = None
    _told: tuple[str, ...] = field(default=(), repr=False)

    def plan(
        self,
        *,
        desired: DesiredSite,
        observed: Observed,
        record: SiteRecord,
        result: Plan,
        in_flight: frozenset[str],
        base: Path,
    ) -> None:
        """The status a fresh plan gives the site (``base``: the desired-state file's folder)."""
        current = self.source.sites.get(self.site)
        rotation = record.rotation
        self._tell(
            status_for_plan(
                desired=desired,
                observed=observed,
                plan=result,
                rotation_id=rotation["id"] if rotation else None,
                queued_change=(
                    rotation is not None
                    and current is not None
                    and current.digest() != rotation["desired_digest"]
                ),
                desired_errors=tuple(self.source.errors.get(self.site, ())),
                previous=self.status,
                revision=self.revision(record),
                in_flight=in_flight,
                instructions=lambda step: operator.instructions_for(desired, step, base=base),
            )
        )

    def set(self, status: Status) -> None:
        """A status that is not a plan's (backing off, stalled, suspended, ...), over the last one."""
        base = self.status or SiteStatus(site=self.site, phase="Unknown")
        self._tell(
            base.model_copy(
                update={
                    "phase": status.phase,
                    "reason": status.reason,
                    "message": status.message,
                    "desired_errors": tuple(self.source.errors.get(self.site, ())),
                    "updated_at": time.time(),
                }
            )
        )

    def revision(self, record: SiteRecord) -> AppliedRevision:
        """The revision in force (see the module docstring)."""
        if record.rotation is not None:
            rotation = record.rotation
            return AppliedRevision(commit=rotation["git_revision"], subject=rotation["git_subject"])
        revision = self.source.revisions.get(self.site, self.source.revision)
        return AppliedRevision(commit=revision.commit, subject=revision.subject)

    def _tell(self, status: SiteStatus) -> None:
        self.status = status
        self.publish(status)
        gate = status.current_step if status.gate is not None else None
        state = (status.phase, status.reason, status.current_step or "", gate or "")
        if state == self._told:
            return
        self._told = state
        level = logging.WARNING if status.phase == "Stalled" else logging.INFO
        log.log(
            level,
            "site %s: %s (%s): %s",
            self.site,
            status.phase,
            status.reason,
            status.message,
            extra={
                "site": self.site,
                "phase": status.phase,
                "reason": status.reason,
                "step": status.current_step,
                "gate": gate,
                "rotation": status.rotation_id,
                "revision": status.revision.commit or None,
            },
        )


def reconcile_result(after: Next, status: SiteStatus | None) -> str:
    """What one reconcile came to, as the small enum of ``sepm_reconciler_reconciles_total{result}``."""
    if after.status is not None:
        told = after.status
        return {"Stalled": "stalled", "Suspended": "suspended", "Unknown": "invalid"}.get(
            told.phase, "retrying" if told.reason == "Retrying" else "waiting"
        )
    if status is None or status.phase == "Unknown":
        return "invalid"
    if status.phase == "Ready":
        return "converged"
    if status.phase == "Stalled":
        return "blocked"
    return "acted" if status.reason == "Acting" else "waiting"
