"""The shipped Prometheus alert rules: valid, unit-tested with promtool, and about metrics we export."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from reconciler.model.plan import GateMeasurement
from reconciler.telemetry.board import StatusBoard
from reconciler.telemetry.metrics import SiteCollector
from reconciler.telemetry.status import SiteStatus

RULES = Path(__file__).resolve().parents[1] / "deploy" / "prometheus"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not installed (Debian package 'prometheus'; .ci/run installs it)"
)


@needs_promtool
def test_rules_are_valid():
    """`promtool check rules` accepts the rule file."""
    done = subprocess.run(
        [PROMTOOL, "check", "rules", str(RULES / "alerts.yaml")], check=False, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


@needs_promtool
def test_rules_fire_as_their_unit_tests_say():
    """`promtool test rules` passes: each alert fires when, and only when, its test expects."""
    done = subprocess.run(
        [PROMTOOL, "test", "rules", "alerts_test.yaml"],
        cwd=RULES,
        check=False,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_rules_only_use_metrics_the_controller_exports():
    """Every metric an alert expression names is produced by the controller's collector."""
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
    exported = {family.name for family in SiteCollector(board).collect()}
    rules = yaml.safe_load((RULES / "alerts.yaml").read_text())
    used = {
        name
        for group in rules["groups"]
        for rule in group["rules"]
        for name in re.findall(r"sepm_reconciler_[a-z_]+", rule["expr"])
    }
    assert used
    assert used <= exported, f"alerts name metrics nobody exports: {sorted(used - exported)}"
