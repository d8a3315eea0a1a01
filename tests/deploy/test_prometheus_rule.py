"""The PrometheusRule is generated from deploy/prometheus/alerts.yaml, the one source of the rules."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import prometheus_rule  # noqa: E402


def test_generated_prometheus_rule_is_up_to_date():
    """deploy/kubernetes/prometheusrule.yaml is exactly what the generator makes from alerts.yaml."""
    assert prometheus_rule.TARGET.read_text(encoding="utf-8") == prometheus_rule.render(), (
        "deploy/kubernetes/prometheusrule.yaml is stale: run `python scripts/prometheus_rule.py`"
    )


def test_prometheus_rule_carries_the_rule_groups_unchanged():
    """The rule's spec.groups equal the groups of alerts.yaml, alert for alert."""
    rule = yaml.safe_load(prometheus_rule.render())
    source = yaml.safe_load(prometheus_rule.SOURCE.read_text(encoding="utf-8"))
    assert rule["kind"] == "PrometheusRule"
    assert rule["spec"]["groups"] == source["groups"]


def test_check_mode_fails_on_a_stale_file(tmp_path, monkeypatch, capsys):
    """`--check` exits 1 and says what to run when the generated file differs from its source."""
    stale = tmp_path / "prometheusrule.yaml"
    stale.write_text(prometheus_rule.render().replace("for: 10m", "for: 20m"), encoding="utf-8")
    monkeypatch.setattr(prometheus_rule, "TARGET", stale)
    assert prometheus_rule.main(["--check"]) == 1
    assert "python scripts/prometheus_rule.py" in capsys.readouterr().err
    stale.write_text(prometheus_rule.render(), encoding="utf-8")
    assert prometheus_rule.main(["--check"]) == 0
