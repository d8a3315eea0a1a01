"""The shipped Prometheus alert rules: valid, unit-tested with promtool, and about metrics we export."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy.metric_names import exported_families, family, names_in
from tests.deploy.runbook import runbook_anchors

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
    """Every metric an alert expression names is produced by the controller (or is Prometheus' `up`)."""
    used = {name for rule in _alerts() for name in names_in(rule["expr"])}
    assert used
    unknown = {name for name in used if family(name) not in exported_families()}
    assert not unknown, f"alerts name metrics nobody exports: {sorted(unknown)}"


def test_every_alert_links_to_its_runbook_section():
    """Each alert's runbook_url points at docs/runbook.md, at a heading that exists there."""
    anchors = runbook_anchors()
    for rule in _alerts():
        url = rule["annotations"].get("runbook_url", "")
        page, _, anchor = url.partition("#")
        assert page.endswith("/docs/runbook.md"), f"{rule['alert']}: runbook_url {url!r}"
        assert anchor == rule["alert"].lower(), f"{rule['alert']}: anchor {anchor!r} is not its name"
        assert anchor in anchors, f"{rule['alert']}: docs/runbook.md has no section #{anchor}"


def test_runbook_anchors_are_read_from_headings():
    """The anchor reader finds GitHub's anchors for headings, and none for plain text."""
    text = "# Title\n\n### SepmSiteStalled\n\nSepmNotAHeading\n## Blocking reasons\n"
    assert runbook_anchors(text) == {"title", "sepmsitestalled", "blocking-reasons"}


def _alerts() -> list[dict]:
    rules = yaml.safe_load((RULES / "alerts.yaml").read_text())
    return [rule for group in rules["groups"] for rule in group["rules"] if "alert" in rule]
