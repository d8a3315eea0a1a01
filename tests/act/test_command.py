"""The command actuator: argv templates, secrets through the environment, redaction, timeouts."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest

from reconciler.act.command import redact, render_argv, run_command
from reconciler.desired.schema import CommandActuator

PY = sys.executable


def actuator(code: str, *, timeout: int = 30) -> CommandActuator:
    return CommandActuator(argv=[PY, "-c", code, "{server}", "{keystore}"], timeout=timeout)


async def test_values_fill_argv_items_without_a_shell():
    """Placeholders are filled per argv item; a value with shell syntax stays one literal argument."""
    result = await run_command(
        actuator("import sys; print(sys.argv[1:])"),
        values={"server": "sepm01; rm -rf /", "keystore": "/k/$(whoami).p12"},
        secrets={},
    )
    assert result.ok
    assert "['sepm01; rm -rf /', '/k/$(whoami).p12']" in result.output


async def test_secrets_reach_the_program_only_through_its_environment(monkeypatch):
    """Declared secrets are in the child's environment, the controller's own variables are not, and the
    secret never appears in the kept output or argv."""
    monkeypatch.setenv("SEPM_PASSWORD_OF_CONTROLLER", "controller-secret")
    code = "import os; print(os.environ.get('KEYSTORE_PASSWORD')); print(os.environ.get('SEPM_PASSWORD_OF_CONTROLLER'))"
    result = await run_command(
        actuator(code), values={"server": "s", "keystore": "k"}, secrets={"KEYSTORE_PASSWORD": "hunter2-long"}
    )
    assert result.ok
    assert "hunter2-long" not in result.output
    assert result.output.splitlines()[0] == "***"
    assert result.output.splitlines()[1] == "None"
    assert "SEPM_RECONCILER_SERVER" not in result.output


async def test_context_values_are_offered_as_environment_variables():
    """The step's values are also given as SEPM_RECONCILER_* variables for scripts that prefer them."""
    result = await run_command(
        actuator("import os; print(os.environ['SEPM_RECONCILER_SERVER'])"),
        values={"server": "sepm02", "keystore": "k"},
        secrets={},
    )
    assert result.output.strip() == "sepm02"


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper is dead already)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


async def test_timeout_kills_the_whole_process_group(tmp_path):
    """A program that outlives its timeout is killed together with the children it started."""
    marker = tmp_path / "grandchild.pid"
    code = (
        "import subprocess, sys, time;"
        f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
        f"open({str(marker)!r}, 'w').write(str(p.pid)); time.sleep(60)"
    )
    started = time.monotonic()
    result = await run_command(actuator(code, timeout=1), values={"server": "s", "keystore": "k"}, secrets={})
    assert result.timed_out
    assert not result.ok
    assert time.monotonic() - started < 10
    grandchild = int(marker.read_text())
    await asyncio.sleep(0.2)
    assert not alive(grandchild)
    assert "timed out" in result.summary()


async def test_failure_is_reported_with_the_exit_code_and_last_line():
    """A non-zero exit is a failed attempt whose summary names the exit code and the program's last words."""
    result = await run_command(
        actuator(
            "import sys; print('first', flush=True); print('no such MSL', file=sys.stderr); sys.exit(3)"
        ),
        values={"server": "s", "keystore": "k"},
        secrets={},
    )
    assert result.exit_code == 3
    assert not result.ok
    assert result.summary().endswith("exited 3: no such MSL")


def test_unknown_placeholder_is_a_key_error_naming_it():
    """Rendering a template with a value the step does not offer fails loudly, naming the placeholder."""
    with pytest.raises(KeyError, match="keystore"):
        render_argv(["tool", "{keystore}"], {"server": "s"})


@pytest.mark.parametrize(
    ("text", "secrets", "expected"),
    [
        pytest.param("pw=abc", {"A": "abc"}, "pw=***", id="plain"),
        pytest.param("abcdef abc", {"A": "abc", "B": "abcdef"}, "*** ***", id="longest-first"),
        pytest.param("nothing", {"A": ""}, "nothing", id="empty-secret-ignored"),
    ],
)
def test_redact(text, secrets, expected):
    """Secret values are replaced by *** (longest first, so a secret inside another is covered)."""
    assert redact(text, secrets) == expected


async def test_a_program_that_cannot_start_is_a_failed_attempt_not_a_crash(tmp_path):
    """A missing program is reported as a failed attempt (no exception reaches the controller)."""
    missing = CommandActuator(argv=[str(tmp_path / "no-such-tool"), "{server}"])
    result = await run_command(missing, values={"server": "s"}, secrets={})
    assert not result.ok
    assert result.exit_code is None
    assert "did not run: could not start" in result.summary()


async def test_a_placeholder_the_step_lacks_is_a_failed_attempt():
    """A template naming a value the step does not offer fails the attempt and says which value."""
    result = await run_command(CommandActuator(argv=[PY, "{keystore}"]), values={"server": "s"}, secrets={})
    assert not result.ok
    assert "{keystore}" in result.summary()
