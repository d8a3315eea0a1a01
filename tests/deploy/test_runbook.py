"""docs/runbook.md has a section for every reason a site can stop on, so an alert always leads somewhere."""

from __future__ import annotations

import re
from pathlib import Path

from reconciler.desired.secrets import SecretError
from reconciler.sepm import errors
from tests.deploy.runbook import runbook_anchors

PLAN = Path(__file__).resolve().parents[2] / "reconciler" / "plan"


def planner_reasons() -> set[str]:
    """Every CamelCase reason the planner can block a site with, read from its source."""
    reasons = set()
    for path in PLAN.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        reasons |= set(
            re.findall(r'^\s*\(?\s*"([A-Z][a-z]+(?:[A-Z][a-z]+)+)",\s*$', text, flags=re.MULTILINE)
        )
        reasons |= set(re.findall(r'"reason":\s*"([A-Z][a-z]+(?:[A-Z][a-z]+)+)"', text))
    return reasons


def stall_reasons() -> set[str]:
    """Every error that stalls a site: SEPM's permanent errors and unresolvable secrets."""
    permanent = {
        name
        for name, value in vars(errors).items()
        if isinstance(value, type)
        and issubclass(value, errors.PermanentError)
        and value is not errors.PermanentError
    }
    return permanent | {SecretError.__name__}


def test_planner_reasons_are_found():
    """The reader finds the planner's reasons (so the next test cannot pass on an empty set)."""
    found = planner_reasons()
    assert {
        "CorruptedCertificate",
        "GateDeadlineExceeded",
        "PreparationDrifted",
        "UpdateMayStillApply",
    } <= found
    assert len(found) >= 13


def test_every_planner_reason_has_a_runbook_section():
    """Each blocking reason of the planner has its own section in docs/runbook.md."""
    missing = {reason for reason in planner_reasons() if reason.lower() not in runbook_anchors()}
    assert not missing, f"docs/runbook.md has no section for: {sorted(missing)}"


def test_every_stall_reason_has_a_runbook_section():
    """Each error that stalls a site (credentials, pins, secrets, refusals) has its section too."""
    assert {"CredentialsRejected", "PinMismatch", "SecretError"} <= stall_reasons()
    missing = {reason for reason in stall_reasons() if reason.lower() not in runbook_anchors()}
    assert not missing, f"docs/runbook.md has no section for: {sorted(missing)}"
