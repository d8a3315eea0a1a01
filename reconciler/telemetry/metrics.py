"""Prometheus metrics, built at scrape time from the status board.

Contract (DESIGN.md, Telling):
- Metrics are produced at scrape time from the last status of each site and the board's counters (a
  custom collector), so a series disappears with its site and nothing goes stale.
- Labels are low-cardinality: ``site``, ``server``, and small enums (``phase``, ``result``, ``endpoint``,
  ``outcome``); the applied revision is one series per site. Never a client or a group.
- Plus ``sepm_reconciler_build_info`` and prometheus_client's process metrics (``process_*``).
- Nothing here holds a secret: statuses hold none.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from reconciler import __version__
from reconciler.telemetry.board import StatusBoard
from reconciler.telemetry.status import SiteStatus

PHASES = ("Ready", "Reconciling", "Stalled", "Suspended", "Unknown")
PREFIX = "sepm_reconciler_"
NOT_VALID = ("InvalidDesiredState", "DesiredStateRemoved")

SiteValue = Callable[[SiteStatus], float | None]


def _insecure_seconds(status: SiteStatus) -> float:
    since = status.insecure_since
    if since is None or not status.server_time:
        return 0.0
    return max(0.0, (status.server_time - since) / 1000)


SITE_GAUGES: tuple[tuple[str, str, SiteValue], ...] = (
    ("gate_clients_passed", "clients through the current gate", lambda s: s.gate.passed if s.gate else 0),
    ("gate_clients_in_scope", "clients the gate waits for", lambda s: s.gate.in_scope if s.gate else 0),
    (
        "gate_deadline_timestamp_seconds",
        "SEPM time the current gate stalls at",
        lambda s: s.gate.deadline / 1000 if s.gate else None,
    ),
    (
        "gate_eta_timestamp_seconds",
        "SEPM time the current gate can open at the earliest (its last client's predicted check-in)",
        lambda s: s.gate.eta / 1000 if s.gate and s.gate.eta else None,
    ),
    (
        "rotation_eta_timestamp_seconds",
        "SEPM time the rotation can complete at the earliest (the physical bound, chained over its gates)",
        lambda s: s.eta / 1000 if s.eta else None,
    ),
    ("operator_tasks_pending", "operator tasks waiting", lambda s: len(s.operator_tasks)),
    ("dormant_clients", "clients excluded as dormant", lambda s: len(s.dormant)),
    ("desired_state_errors", "errors in the site's desired-state file", lambda s: len(s.desired_errors)),
    (
        "desired_state_valid",
        "1 when the site's desired-state file is valid (0: invalid, or removed)",
        lambda s: 0 if s.desired_errors or s.reason in NOT_VALID else 1,
    ),
    (
        "secure_communications_disabled_seconds",
        "SEPM seconds since some location of the site has had secure communications off",
        _insecure_seconds,
    ),
    ("rotation_steps_done", "steps done of the rotation in progress", lambda s: s.steps_done),
    (
        "last_observation_timestamp_seconds",
        "when the site was last observed completely (this host's clock)",
        lambda s: s.observed_at,
    ),
)


class SiteCollector(Collector):
    """Builds every series from the board at scrape time."""

    def __init__(self, board: StatusBoard, *, clock: Callable[[], float] = time.time) -> None:
        self.board = board
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        statuses = self.board.statuses()
        yield from self._site_metrics(statuses)
        yield from self._server_metrics(statuses)
        yield from self._counters()
        unattributed = GaugeMetricFamily(
            PREFIX + "desired_state_unattributed_errors",
            "errors in desired-state files that cannot be tied to a site",
        )
        unattributed.add_metric([], float(len(self.board.unattributed_errors)))
        yield unattributed
        build = GaugeMetricFamily(PREFIX + "build_info", "the running release", labels=["version", "python"])
        build.add_metric([__version__, platform.python_version()], 1.0)
        yield build

    def _site_metrics(self, statuses: list[SiteStatus]) -> Iterator[Metric]:
        phase = GaugeMetricFamily(
            PREFIX + "site_phase", "1 for the site's current phase", labels=["site", "phase"]
        )
        revision = GaugeMetricFamily(
            PREFIX + "applied_revision_info",
            "the Git revision of the desired state in force",
            labels=["site", "revision", "subject"],
        )
        gauges = [
            (GaugeMetricFamily(PREFIX + name, text, labels=["site"]), value)
            for name, text, value in SITE_GAUGES
        ]
        for status in statuses:
            for name in PHASES:
                phase.add_metric([status.site, name], 1.0 if status.phase == name else 0.0)
            revision.add_metric([status.site, status.revision.commit, status.revision.subject], 1.0)
            for family, value in gauges:
                number = value(status)
                if number is not None:
                    family.add_metric([status.site], float(number))
        yield phase
        yield revision
        yield from (family for family, _ in gauges)

    def _server_metrics(self, statuses: list[SiteStatus]) -> Iterator[Metric]:
        not_after = GaugeMetricFamily(
            PREFIX + "certificate_not_after_timestamp_seconds",
            "expiry of the certificate a server presents",
            labels=["site", "server"],
        )
        matches = GaugeMetricFamily(
            PREFIX + "certificate_matches_desired",
            "1 when every port of the server presents the desired certificate",
            labels=["site", "server"],
        )
        for status in statuses:
            for server, cert in status.certificates.items():
                not_after.add_metric([status.site, server], float(cert["not_after"]) / 1000)
                matches.add_metric([status.site, server], 1.0 if cert["matches"] else 0.0)
        yield not_after
        yield matches

    def _counters(self) -> Iterator[Metric]:
        updates = CounterMetricFamily(
            PREFIX + "status_updates", "statuses published, by phase", labels=["site", "phase"]
        )
        for (site, name), count in sorted(self.board.updates().items()):
            updates.add_metric([site, name], float(count))
        reconciles = CounterMetricFamily(
            PREFIX + "reconciles", "reconciles, by what came of them", labels=["site", "result"]
        )
        for (site, result), count in sorted(self.board.reconciles().items()):
            reconciles.add_metric([site, result], float(count))
        durations = HistogramMetricFamily(
            PREFIX + "reconcile_duration_seconds", "how long one reconcile took", labels=["site"]
        )
        for site, histogram in sorted(self.board.durations().items()):
            durations.add_metric([site], histogram.buckets(), histogram.total)
        requests = CounterMetricFamily(
            PREFIX + "sepm_requests",
            "requests to SEPM's REST API, by endpoint family and outcome",
            labels=["site", "endpoint", "outcome"],
        )
        for (site, endpoint, outcome), count in sorted(self.board.requests().items()):
            requests.add_metric([site, endpoint, outcome], float(count))
        yield from (updates, reconciles, durations, requests)


def registry_for(board: StatusBoard) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(SiteCollector(board))
    ProcessCollector(registry=registry)
    return registry
