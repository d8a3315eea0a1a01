"""The Grafana dashboard: valid JSON, PromQL that parses, and only the project's own metrics."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.metric_names import exported_families, family, names_in

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "sepm-reconciler.json"
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$site": ".*"}


def _dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def _targets(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]


def _as_promql(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


def test_dashboard_uses_only_metrics_the_controller_exports():
    """Every metric a panel queries is exported by the controller (or is Prometheus' `up`)."""
    exported = exported_families()
    used = {(title, name) for title, expr in _targets(_dashboard()) for name in names_in(expr)}
    assert len(used) > 10
    unknown = sorted((title, name) for title, name in used if family(name) not in exported)
    assert not unknown, f"panels query metrics nobody exports: {unknown}"


def test_every_exported_site_metric_is_on_the_dashboard():
    """Each sepm_reconciler_* family the controller exports is shown somewhere on the dashboard."""
    shown = {family(name) for _, expr in _targets(_dashboard()) for name in names_in(expr)}
    exported = {name for name in exported_families() if name.startswith("sepm_reconciler_")}
    # A counter of published statuses, kept for compatibility; reconciles_total is what to chart.
    missing = exported - shown - {"sepm_reconciler_status_updates"}
    assert not missing, f"exported but not on the dashboard: {sorted(missing)}"


def test_metric_name_reader_ignores_labels_and_functions():
    """names_in reads metric names, never label values, label names or function names."""
    expr = 'sum by (le) (rate(sepm_reconciler_x_bucket{site=~"up|process_y"}[5m])) / up'
    assert names_in(expr) == {"sepm_reconciler_x_bucket", "up"}


def test_panels_have_a_description_and_use_the_datasource_variable():
    """Each panel says what it shows, and queries through the dashboard's datasource variable."""
    dashboard = _dashboard()
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert {"datasource", "site"} <= variables
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel.get("description"), f"panel {panel['title']!r} has no description"
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"


@pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool is not installed (.ci/run installs it)"
)
def test_every_query_is_valid_promql(tmp_path: Path):
    """promtool parses every panel's query (Grafana's variables replaced by sample values)."""
    rules = [
        {"record": f"dashboard:query_{index}", "expr": _as_promql(expr)}
        for index, (_, expr) in enumerate(_targets(_dashboard()))
    ]
    path = tmp_path / "queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}), encoding="utf-8")
    done = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
