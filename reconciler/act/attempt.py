"""``attempt(step, ...)``: the one entry point that carries out a ready step, whatever its actuator.

Contract:
- Dispatches on ``step.actuator`` (`ActuatorKind`): ``rest`` PATCHes and reads back, ``command`` runs the
  site's program, ``operator`` hands back the console instructions. A gate (``journal``) is never
  attempted: it is recorded by the controller once its evidence is met.
- Returns one `reconciler.act.outcome.Outcome` and raises nothing an actuator can meet: a refused
  PATCH, a missing secret or a failed program are `Failed` outcomes with their reason.
- Journals nothing (the controller writes the intent before and the outcome after) and decides nothing
  about retrying: ``Failed.permanent`` says which way it goes.
- ``sepm_now()`` reads SEPM's clock *after* a command SEPM cannot show has run: the time its gate
  counts from (a time taken before the command would start the gate early).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from reconciler.act import operator, rest
from reconciler.act.command import run_command
from reconciler.act.outcome import Done, Failed, NeedsOperator, Outcome, Started
from reconciler.act.values import actuator_for, step_values
from reconciler.desired.schema import DesiredSite
from reconciler.desired.secrets import SecretError, resolve_secret
from reconciler.model.plan import ActuatorKind, Step
from reconciler.sepm.client import SepmClient
from reconciler.sepm.errors import PermanentError, SepmError


async def attempt(
    step: Step,
    *,
    desired: DesiredSite,
    client: SepmClient,
    base: Path,
    sepm_now: Callable[[], Awaitable[int]],
) -> Outcome:
    """Carry ``step`` out once (see the module docstring); ``base`` is the desired-state file's folder."""
    match step.actuator:
        case ActuatorKind.REST:
            return await _rest(step, client)
        case ActuatorKind.COMMAND:
            return await _command(step, desired, base, sepm_now)
        case ActuatorKind.OPERATOR:
            return NeedsOperator(operator.instructions_for(desired, step, base=base))
        case ActuatorKind.JOURNAL:
            raise ValueError(f"{step.id} is a gate: it is recorded once open, never attempted")


async def _rest(step: Step, client: SepmClient) -> Outcome:
    try:
        return Done(applied_at=await rest.apply(step, client))
    except SepmError as error:
        return Failed(
            reason=type(error).__name__,
            message=str(error),
            permanent=isinstance(error, PermanentError),
            retry_after=getattr(error, "retry_after", None),
        )
    except rest.ChangeNotVisible as error:
        return Failed(reason="ChangeNotVisible", message=str(error))


async def _command(
    step: Step, desired: DesiredSite, base: Path, sepm_now: Callable[[], Awaitable[int]]
) -> Outcome:
    choice = actuator_for(desired, step)
    if choice is None or choice.command is None:
        raise ValueError(f"{step.id} has no command actuator in the desired state of {desired.site}")
    try:
        secrets = {name: resolve_secret(ref, base=base) for name, ref in choice.command.env.items()}
    except SecretError as error:
        return Failed(reason="SecretError", message=str(error), permanent=True)
    result = await run_command(
        choice.command, values=step_values(desired, step, base=base), secrets=secrets, cwd=str(base)
    )
    if not result.ok:
        return Failed(reason="CommandFailed", message=result.summary(), detail=result.output)
    if operator.needs_acknowledgement(step):
        # Nothing on SEPM shows an MSL copy or deletion: the exit status is all the evidence there is.
        return Done(applied_at=await sepm_now(), message=result.summary())
    return Started(message=result.summary())
