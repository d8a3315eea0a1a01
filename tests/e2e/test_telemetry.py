"""Metrics and health endpoints of a running controller, read over HTTP during a rotation."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.harness import run_at_first_gate, scrape


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_metrics_follow_the_rotation(rehearse, journal_path):
    """During a gate, /metrics shows the site Reconciling with the gate's counts, /readyz is 200 and /status
    lists the site; after the rotation the certificates match and the phase is Ready."""
    rehearsal = rehearse("single-server")
    site = rehearsal.site
    seen: dict = {}

    async def during_gate(controller) -> None:
        seen["metrics"] = samples((await scrape(controller, "/metrics")).text)
        seen["readyz"] = (await scrape(controller, "/readyz")).status_code
        seen["status"] = (await scrape(controller, "/status")).json()

    run = await run_at_first_gate(rehearsal, journal_path, during_gate)
    assert not run.timed_out

    during = seen["metrics"]
    assert during[("sepm_reconciler_site_phase", (("phase", "Reconciling"), ("site", site)))] == 1.0
    assert during[("sepm_reconciler_site_phase", (("phase", "Ready"), ("site", site)))] == 0.0
    assert during[("sepm_reconciler_gate_clients_in_scope", (("site", site),))] > 0
    assert during[("sepm_reconciler_secure_communications_disabled_seconds", (("site", site),))] >= 0
    assert seen["readyz"] == 200
    assert seen["status"][0]["site"] == site
    assert not any("client" in label or "group" in label for (_, labels) in during for label, _ in labels)

    final = run.statuses[-1]
    assert final.phase == "Ready"
    assert all(cert["matches"] for cert in final.certificates.values())


PROMTOOL = shutil.which("promtool")


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed (Debian package 'prometheus')")
async def test_a_live_scrape_follows_prometheus_conventions_and_is_complete(rehearse, journal_path):
    """A scrape taken mid-rotation passes `promtool check metrics`, and holds the reconcile counter and
    histogram, SEPM request counts, the last observation time, validity, build info and process metrics."""
    rehearsal = rehearse("single-server")
    seen: dict = {}

    async def scrape_metrics(controller) -> None:
        seen["text"] = (await scrape(controller, "/metrics")).text

    run = await run_at_first_gate(rehearsal, journal_path, scrape_metrics)
    assert not run.timed_out

    done = await asyncio.to_thread(
        subprocess.run,
        [PROMTOOL, "check", "metrics"],
        input=seen["text"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    names = {name for (name, _) in samples(seen["text"])}
    site = rehearsal.site
    for wanted in (
        "sepm_reconciler_reconciles_total",
        "sepm_reconciler_reconcile_duration_seconds_bucket",
        "sepm_reconciler_sepm_requests_total",
        "sepm_reconciler_last_observation_timestamp_seconds",
        "sepm_reconciler_desired_state_valid",
        "sepm_reconciler_desired_state_unattributed_errors",
        "sepm_reconciler_build_info",
        "sepm_reconciler_applied_revision_info",
        "process_cpu_seconds_total",
    ):
        assert wanted in names, f"{wanted} missing from a live scrape"
    values = samples(seen["text"])
    assert values[("sepm_reconciler_desired_state_valid", (("site", site),))] == 1.0
    assert (
        time.time() - values[("sepm_reconciler_last_observation_timestamp_seconds", (("site", site),))] < 60
    )
    requests = {
        dict(labels)["endpoint"]: value
        for (name, labels), value in values.items()
        if name == "sepm_reconciler_sepm_requests_total"
        and dict(labels)["site"] == site
        and dict(labels)["outcome"] == "ok"
    }
    assert requests.get("POST identity/authenticate", 0) >= 1
    assert requests.get("GET computers", 0) >= 1
    assert "GET groups/{id}/locations" in requests  # identifiers folded: one series per endpoint family
