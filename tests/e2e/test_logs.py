"""The controller's log during a real rotation: JSON lines with the state-change fields, httpx's request
lines off at INFO, and never a secret."""

from __future__ import annotations

import json
import logging
import os

import pytest

from reconciler.cli import logs
from reconciler.cli.rehearsal import KEYSTORE_VARIABLE, PASSWORD_VARIABLE
from tests.e2e.harness import run_controller


@pytest.fixture
def json_logs():
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    logs.configure(level="INFO", log_format="json")
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])


async def test_a_rotation_logs_one_json_event_per_state_change_and_no_secret(
    rehearse, journal_path, capfd, json_logs
):
    """Every line is a JSON object; state changes carry site, step, gate, reason and revision; no line is
    one of httpx's per-request lines; neither the SEPM password nor the keystore password appears."""
    rehearsal = rehearse("single-server")
    capfd.readouterr()

    run = await run_controller(rehearsal, journal_path)

    assert not run.timed_out
    lines = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    events = [json.loads(line) for line in lines]
    assert all({"time", "level", "logger", "message"} <= set(e) for e in events)
    changes = [e for e in events if e["logger"] == "reconciler.controller.reporting"]
    assert changes, "no state change was logged"
    assert all(e["site"] == rehearsal.site and "phase" in e and "reason" in e for e in changes)
    assert any(e.get("gate", "").startswith("gate:") for e in changes)
    assert any(e.get("step", "").startswith("update_certificate:") for e in changes)
    steps = [(e.get("phase"), e.get("reason"), e.get("step"), e.get("gate")) for e in changes]
    assert len(steps) == len(set(steps)) or len(steps) < 3 * len(set(steps)), (
        "state changes logged at every poll"
    )
    assert not any(e["logger"].startswith(("httpx", "httpcore")) for e in events)
    text = "\n".join(lines)
    for secret in (os.environ[PASSWORD_VARIABLE], os.environ[KEYSTORE_VARIABLE]):
        assert secret not in text
