"""The metric names the shipped dashboard and alert rules may use, and a reader of names in PromQL.

Names come from the code that exports them (the site collector, prometheus_client's process collector),
so a rename there breaks the tests that use this module.
"""

from __future__ import annotations

import re

from prometheus_client import ProcessCollector

from reconciler.model.plan import GateMeasurement
from reconciler.telemetry.board import StatusBoard
from reconciler.telemetry.metrics import SiteCollector
from reconciler.telemetry.status import SiteStatus

SCRAPE_SERIES = frozenset({"up"})
"""Series Prometheus itself makes for every target."""

_SUFFIXES = ("_bucket", "_count", "_sum", "_total", "_created", "_info")
_NAME = re.compile(r"\b(?:sepm_reconciler_[a-z0-9_]+|process_[a-z0-9_]+|up)\b(?!\s*\()")


def family(name: str) -> str:
    """The metric family a sample name belongs to (``x_bucket`` -> ``x``; counters without ``_total``)."""
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def exported_families() -> set[str]:
    """Every family the controller's registry produces today, plus those issue 9 adds."""
    board = StatusBoard()
    gate = GateMeasurement(
        cycles=3, since=0, deadline=1, earliest_open=0, in_scope=2, passed=1, max_lagging=0, open=False
    )
    board.publish(
        SiteStatus(
            site="hq",
            phase="Reconciling",
            gate=gate,
            server_time=10_000,
            insecure_since=5_000,
            certificates={"sepm01": {"sha256": "AA", "not_after": 1, "matches": False}},
        )
    )
    names = {family(f.name) for f in SiteCollector(board).collect()}
    names |= {family(f.name) for f in ProcessCollector(registry=None).collect()}
    names |= {family(n) for n in SCRAPE_SERIES}
    return names


def names_in(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (label values and function names left out)."""
    without_labels = re.sub(r"\{[^}]*\}", "", expr)
    return set(_NAME.findall(without_labels))
