"""The status board: the last status of every site and the controller's counters, shared across threads.

Contract: workers write (``publish``, ``count_reconcile``, ``count_request``), the HTTP thread reads
(metrics built at scrape time, ``/status``, ``/readyz``); every access takes one lock. Counters only grow,
per site and small enum (result, endpoint family, outcome), so their cardinality is bounded.
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass, field

from reconciler.telemetry.status import SiteStatus

DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
"""Upper bounds (seconds) of the reconcile-duration histogram: one REST read to a 100,000-client walk."""


@dataclass
class Histogram:
    """Cumulative bucket counts and the sum, as Prometheus wants them."""

    counts: list[int] = field(default_factory=lambda: [0] * (len(DURATION_BUCKETS) + 1))
    total: float = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(DURATION_BUCKETS, seconds)] += 1
        self.total += seconds

    def buckets(self) -> list[tuple[str, float]]:
        cumulative, running = [], 0
        for bound, count in zip((*DURATION_BUCKETS, float("inf")), self.counts, strict=True):
            running += count
            cumulative.append(("+Inf" if bound == float("inf") else f"{bound:g}", float(running)))
        return cumulative


class StatusBoard:
    """The last status of every site, shared by the workers (writers) and the HTTP thread (reader)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._statuses: dict[str, SiteStatus] = {}
        self._updates: dict[tuple[str, str], int] = {}
        self._reconciles: dict[tuple[str, str], int] = {}
        self._durations: dict[str, Histogram] = {}
        self._requests: dict[tuple[str, str, str], int] = {}
        self.expected_sites: set[str] = set()
        self.unattributed_errors: tuple[str, ...] = ()

    def publish(self, status: SiteStatus) -> None:
        with self._lock:
            self._statuses[status.site] = status
            key = (status.site, status.phase)
            self._updates[key] = self._updates.get(key, 0) + 1

    def count_reconcile(self, site: str, result: str, seconds: float) -> None:
        with self._lock:
            self._reconciles[(site, result)] = self._reconciles.get((site, result), 0) + 1
            self._durations.setdefault(site, Histogram()).observe(seconds)

    def count_request(self, site: str, endpoint: str, outcome: str) -> None:
        with self._lock:
            key = (site, endpoint, outcome)
            self._requests[key] = self._requests.get(key, 0) + 1

    def statuses(self) -> list[SiteStatus]:
        with self._lock:
            return [self._statuses[s] for s in sorted(self._statuses)]

    def status(self, site: str) -> SiteStatus | None:
        with self._lock:
            return self._statuses.get(site)

    def updates(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self._updates)

    def reconciles(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self._reconciles)

    def durations(self) -> dict[str, Histogram]:
        with self._lock:
            return {site: Histogram(list(h.counts), h.total) for site, h in self._durations.items()}

    def requests(self) -> dict[tuple[str, str, str], int]:
        with self._lock:
            return dict(self._requests)

    def ready(self) -> bool:
        with self._lock:
            return self.expected_sites <= set(self._statuses)
