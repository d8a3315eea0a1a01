"""Prometheus metrics, built at scrape time from the status board.

Contract (DESIGN.md, Telling):
- Metrics are produced at scrape time from the last status of each site (a custom collector), so a
  series disappears with its site and nothing goes stale.
- Labels are low-cardinality: ``site``, ``server``, and small enums (``phase``). Never a client or a group.
- Nothing here holds a secret: statuses hold none.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from reconciler.telemetry.status import SiteStatus

PHASES = ("Ready", "Reconciling", "Stalled", "Suspended", "Unknown")


class StatusBoard:
    """The last status of every site, shared by the workers (writers) and the HTTP thread (reader)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._statuses: dict[str, SiteStatus] = {}
        self._reconciles: dict[tuple[str, str], int] = {}
        self.expected_sites: set[str] = set()

    def publish(self, status: SiteStatus) -> None:
        with self._lock:
            self._statuses[status.site] = status
            key = (status.site, status.phase)
            self._reconciles[key] = self._reconciles.get(key, 0) + 1

    def statuses(self) -> list[SiteStatus]:
        with self._lock:
            return [self._statuses[s] for s in sorted(self._statuses)]

    def reconciles(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self._reconciles)

    def ready(self) -> bool:
        with self._lock:
            return self.expected_sites <= set(self._statuses)


class SiteCollector(Collector):
    """Builds every series from the board at scrape time."""

    def __init__(self, board: StatusBoard, *, clock: Callable[[], float] = time.time) -> None:
        self.board = board
        self.clock = clock

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        statuses = self.board.statuses()
        phase = GaugeMetricFamily(
            "sepm_reconciler_site_phase", "1 for the site's current phase", labels=["site", "phase"]
        )
        passed = GaugeMetricFamily(
            "sepm_reconciler_gate_clients_passed", "clients through the current gate", labels=["site"]
        )
        scope = GaugeMetricFamily(
            "sepm_reconciler_gate_clients_in_scope", "clients the gate waits for", labels=["site"]
        )
        deadline = GaugeMetricFamily(
            "sepm_reconciler_gate_deadline_timestamp_seconds",
            "SEPM time the current gate stalls at",
            labels=["site"],
        )
        tasks = GaugeMetricFamily(
            "sepm_reconciler_operator_tasks_pending", "operator tasks waiting", labels=["site"]
        )
        dormant = GaugeMetricFamily(
            "sepm_reconciler_dormant_clients", "clients excluded as dormant", labels=["site"]
        )
        invalid = GaugeMetricFamily(
            "sepm_reconciler_desired_state_errors", "errors in the site's desired-state file", labels=["site"]
        )
        insecure = GaugeMetricFamily(
            "sepm_reconciler_secure_communications_disabled_seconds",
            "SEPM seconds since some location of the site has had secure communications off",
            labels=["site"],
        )
        not_after = GaugeMetricFamily(
            "sepm_reconciler_certificate_not_after_timestamp_seconds",
            "expiry of the certificate a server presents",
            labels=["site", "server"],
        )
        matches = GaugeMetricFamily(
            "sepm_reconciler_certificate_matches_desired",
            "1 when every port of the server presents the desired certificate",
            labels=["site", "server"],
        )
        steps = GaugeMetricFamily(
            "sepm_reconciler_rotation_steps_done", "steps done of the rotation in progress", labels=["site"]
        )
        for status in statuses:
            site = status.site
            for name in PHASES:
                phase.add_metric([site, name], 1.0 if status.phase == name else 0.0)
            gate = status.gate
            passed.add_metric([site], float(gate.passed) if gate else 0.0)
            scope.add_metric([site], float(gate.in_scope) if gate else 0.0)
            if gate:
                deadline.add_metric([site], gate.deadline / 1000)
            tasks.add_metric([site], float(len(status.operator_tasks)))
            dormant.add_metric([site], float(len(status.dormant)))
            invalid.add_metric([site], float(len(status.desired_errors)))
            since = status.insecure_since
            seconds = (status.server_time - since) / 1000 if since is not None and status.server_time else 0.0
            insecure.add_metric([site], max(0.0, seconds))
            steps.add_metric([site], float(status.steps_done))
            for server, cert in status.certificates.items():
                not_after.add_metric([site, server], float(cert["not_after"]) / 1000)
                matches.add_metric([site, server], 1.0 if cert["matches"] else 0.0)
        reconciles = CounterMetricFamily(
            "sepm_reconciler_status_updates", "statuses published, by phase", labels=["site", "phase"]
        )
        for (site, name), count in sorted(self.board.reconciles().items()):
            reconciles.add_metric([site, name], float(count))
        yield from (
            phase,
            passed,
            scope,
            deadline,
            tasks,
            dormant,
            invalid,
            insecure,
            not_after,
            matches,
            steps,
        )
        yield reconciles


def registry_for(board: StatusBoard) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(SiteCollector(board))
    return registry
