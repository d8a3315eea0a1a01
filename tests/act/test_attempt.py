"""The one entry point: every actuator's attempt comes back as one typed outcome, never an exception."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from reconciler.act import Done, Failed, NeedsOperator, Started, attempt
from reconciler.backoff import RetryPolicy
from reconciler.desired.schema import DesiredSite
from reconciler.model.plan import ActuatorKind, Step, StepKind, StepState
from reconciler.sepm.client import SepmClient
from tests.plan.builders import desired_site
from tests.sepm.sepm_fakes import (
    BASE_URL,
    PASSWORD,
    USERNAME,
    FakeSepm,
    error,
    make_certificate,
    settings_body,
)

SEPM_NOW = 1_750_000_123_000


def _with_commands(desired: DesiredSite, code: str, **env: dict[str, str]) -> DesiredSite:
    """The same site, with command actuators that run ``code`` in Python."""
    command = {"command": {"argv": [sys.executable, "-c", code, "{step}"], "timeout": 30, "env": env}}
    document = desired.model_dump(by_alias=True, mode="json")
    document["actuators"] = {"certificateUpdate": command, "mslCopy": command}
    return DesiredSite.model_validate(document)


def _step(kind: StepKind, actuator: ActuatorKind, **fields: object) -> Step:
    return Step(
        id=f"{kind}:x", kind=kind, state=StepState.READY, actuator=actuator, description="do it", **fields
    )


UPDATE = _step(StepKind.UPDATE_CERTIFICATE, ActuatorKind.COMMAND, server="sepm01", certificate="AA")
COPY = _step(
    StepKind.COPY_MSL,
    ActuatorKind.COMMAND,
    management_server_list="Default (HTTP)",
    source_management_server_list="Default",
    http_ports={"sepm01": 8014},
)


def _client(fake: FakeSepm) -> SepmClient:
    return SepmClient(
        base_url=BASE_URL,
        username=USERNAME,
        password=PASSWORD,
        allowed_fingerprints=frozenset({make_certificate("sepm-test").sha256}),
        transport=fake.transport,
        monotonic=lambda: 0.0,
        retry=RetryPolicy(attempts=2, base_delay=0.0, max_delay=0.0),
    )


async def _sepm_now() -> int:
    return SEPM_NOW


async def _attempt(step: Step, desired: DesiredSite, tmp_path: Path, fake: FakeSepm | None = None):
    async with _client(fake or FakeSepm()) as client:
        return await attempt(step, desired=desired, client=client, base=tmp_path, sepm_now=_sepm_now)


async def test_an_operator_step_comes_back_with_its_console_instructions(tmp_path):
    """An operator step is not acted on: the outcome carries the console steps, ending with ack."""
    step = COPY.model_copy(update={"actuator": ActuatorKind.OPERATOR})
    outcome = await _attempt(step, desired_site(), tmp_path)
    assert isinstance(outcome, NeedsOperator)
    assert any("Use HTTP protocol" in line for line in outcome.instructions)
    assert outcome.instructions[-1] == f"Then run: sepm-reconciler ack hq {step.id}"


async def test_a_command_sepm_cannot_show_is_done_on_its_exit_status(tmp_path):
    """An MSL copy that exited 0 is done at SEPM's time: nothing on SEPM could show it."""
    outcome = await _attempt(COPY, _with_commands(desired_site(), "print('copied')"), tmp_path)
    assert outcome == Done(applied_at=SEPM_NOW, message=f"command {sys.executable} exited 0: copied")


async def test_a_certificate_import_is_only_started_until_sepm_shows_it(tmp_path):
    """A certificate update that exited 0 is Started, not Done: TLS must show the new certificate."""
    outcome = await _attempt(UPDATE, _with_commands(desired_site(), "print('imported')"), tmp_path)
    assert isinstance(outcome, Started)
    assert "imported" in outcome.message


async def test_a_failing_command_is_a_transient_failure_with_its_output_for_the_journal(tmp_path):
    """A non-zero exit is a Failed outcome to retry later; its output goes to the journal text."""
    code = "import sys; print('line one'); print('keystore locked'); sys.exit(3)"
    outcome = await _attempt(UPDATE, _with_commands(desired_site(), code), tmp_path)
    assert isinstance(outcome, Failed)
    assert (outcome.reason, outcome.permanent) == ("CommandFailed", False)
    assert outcome.message.endswith("exited 3: keystore locked")
    assert "line one" in outcome.journal_text


async def test_a_missing_secret_is_a_permanent_failure_and_nothing_runs(tmp_path, monkeypatch):
    """A secret the command needs but nobody set stalls the site; the program is never started."""
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    marker = tmp_path / "ran"
    desired = _with_commands(desired_site(), f"open({str(marker)!r}, 'w')", PW={"env": "NOT_SET_ANYWHERE"})
    outcome = await _attempt(UPDATE, desired, tmp_path)
    assert isinstance(outcome, Failed)
    assert (outcome.reason, outcome.permanent) == ("SecretError", True)
    assert not marker.exists()


REST = _step(
    StepKind.DISABLE_SECURE_COMMUNICATIONS, ActuatorKind.REST, group_id="G1", location_id="L1", group_path="x"
)


async def test_a_rest_step_is_done_at_the_sepm_time_that_showed_it(tmp_path):
    """A PATCH that reads back as applied is Done at SEPM's clock of that read."""
    fake = FakeSepm()
    fake.settings[("G1", "L1")] = settings_body("Default", secure=True)
    outcome = await _attempt(REST, desired_site(), tmp_path, fake)
    assert outcome == Done(applied_at=fake.now_ms)
    assert fake.settings[("G1", "L1")]["configuration"]["general_settings"]["security_settings"] == {
        "secure_communications": False
    }


@pytest.mark.parametrize(
    ("answer", "reason", "permanent"),
    [
        pytest.param(error(409, "busy"), "Conflict", True, id="conflict-stalls"),
        pytest.param(error(400, "no such setting"), "Refused", True, id="refused-stalls"),
        pytest.param(error(503, "db down"), "ServerError", False, id="5xx-backs-off"),
    ],
)
async def test_a_rest_step_sepm_refuses_is_a_failed_outcome(tmp_path, answer, reason, permanent):
    """SEPM's refusal of a PATCH comes back typed: its error name as reason, permanent or not."""
    fake = FakeSepm()
    fake.settings[("G1", "L1")] = settings_body("Default", secure=True)
    fake.add_script("PATCH", "groups/G1/locations/L1/settings", *[answer] * 5)
    outcome = await _attempt(REST, desired_site(), tmp_path, fake)
    assert isinstance(outcome, Failed)
    assert (outcome.reason, outcome.permanent) == (reason, permanent)
