"""The ``command`` actuator: run a site-supplied program for what SEPM's REST API cannot do.

Contract:
- ``argv`` is a template: each item is formatted with the step's values (``{site}``, ``{server}``,
  ``{keystore}``, ...; see `reconciler.desired.schema.COMMAND_PLACEHOLDERS`). Items are never joined
  into a shell line, so a value cannot inject arguments.
- Secrets reach the program only through its environment (``env`` in the desired state). The
  environment is otherwise minimal (PATH, HOME, LANG, TZ and ``SEPM_RECONCILER_*`` context): the
  controller's own environment, which may hold the SEPM password, is not passed on.
- Output (stdout and stderr interleaved) is kept, truncated to its last 64 KiB, with every secret value
  replaced by ``***`` before it leaves this module.
- A program that outlives its timeout is killed with its whole process group.
- Exit 0 is not proof: the controller re-observes. A non-zero exit is a failed attempt, retried later.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from reconciler.desired.schema import CommandActuator

_KEEP_BYTES = 64 * 1024
_PASS_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "PYTHONPATH", "VIRTUAL_ENV")


@dataclass(frozen=True)
class CommandResult:
    """What a command did. ``output`` is already redacted."""

    argv: tuple[str, ...]
    exit_code: int | None
    output: str
    timed_out: bool
    seconds: float

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    def summary(self) -> str:
        """One line for status and the journal."""
        if self.timed_out:
            return f"command {self.argv[0]} timed out after {self.seconds:.0f}s"
        if self.exit_code is None:
            return f"command {self.argv[0]} did not run: {self.output}"
        tail = self.output.strip().splitlines()[-1:] if self.output.strip() else []
        last = f": {tail[0][:200]}" if tail else ""
        return f"command {self.argv[0]} exited {self.exit_code}{last}"


def render_argv(template: list[str], values: Mapping[str, str]) -> tuple[str, ...]:
    """Fill the argv template; an unknown placeholder is a KeyError naming it."""
    return tuple(item.format_map(dict(values)) for item in template)


def redact(text: str, secrets: Mapping[str, str]) -> str:
    """Replace every secret value (longest first, so a secret inside another is covered) by ``***``."""
    for value in sorted((v for v in secrets.values() if v), key=len, reverse=True):
        text = text.replace(value, "***")
    return text


def child_environment(secrets: Mapping[str, str], context: Mapping[str, str]) -> dict[str, str]:
    env = {name: os.environ[name] for name in _PASS_THROUGH if name in os.environ}
    env.update({f"SEPM_RECONCILER_{k.upper()}": v for k, v in context.items()})
    env.update(secrets)
    return env


async def run_command(
    actuator: CommandActuator,
    *,
    values: Mapping[str, str],
    secrets: Mapping[str, str],
    cwd: str | None = None,
) -> CommandResult:
    """Run the actuator's program once with ``values`` in its argv and ``secrets`` in its environment."""
    started = time.monotonic()
    try:
        argv = render_argv(actuator.argv, values)
    except KeyError as missing:
        return _not_started(actuator.argv, f"argv uses {{{missing.args[0]}}}, which this step does not offer")
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=child_environment(secrets, values),
            cwd=cwd,
            start_new_session=True,  # its own process group, so a timeout kills grandchildren too
        )
    except OSError as error:  # no such program, not executable, bad working folder
        return _not_started(
            tuple(redact(a, secrets) for a in argv), f"could not start: {error.strerror or error}"
        )
    timed_out = False
    try:
        raw, _ = await asyncio.wait_for(process.communicate(), timeout=actuator.timeout)
    except TimeoutError:
        timed_out = True
        _kill_group(process.pid)
        raw, _ = await process.communicate()
    except asyncio.CancelledError:
        # Shutdown while the program runs: do not leave it behind; the step stays "intent" in the journal
        # and is re-checked by observation after restart.
        _kill_group(process.pid)
        with contextlib.suppress(Exception):
            await asyncio.shield(process.wait())
        raise
    output = raw[-_KEEP_BYTES:].decode("utf-8", errors="replace") if raw else ""
    return CommandResult(
        argv=tuple(redact(a, secrets) for a in argv),
        exit_code=process.returncode,
        output=redact(output, secrets),
        timed_out=timed_out,
        seconds=time.monotonic() - started,
    )


def _not_started(argv: Sequence[str], why: str) -> CommandResult:
    """A command that never ran is a failed attempt like any other, never a crash of the controller."""
    return CommandResult(argv=tuple(argv), exit_code=None, output=why, timed_out=False, seconds=0.0)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
