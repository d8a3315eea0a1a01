"""How the steps REST cannot do are carried out: a site-supplied program or a person at the console.

Contract: each step kind has exactly one actuator; a program gets its inputs through argv placeholders
and its secrets through ``env`` references, never through argv; its ``timeout`` and ``settle`` are
bounded where they are declared.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from reconciler.desired.argv import ArgvItem
from reconciler.desired.base import Secret, StrictModel
from reconciler.desired.fields import DAY, Duration, EnvironmentName, within
from reconciler.model.plan import ActuatorKind


class CommandActuator(StrictModel):
    """A site-supplied program. ``argv`` items may hold ``{site}``, ``{server}``, ``{address}``,
    ``{keystore}``, ``{msl}``, ``{msl_copy}``, ``{http_port}``, ``{fingerprint}``; secrets reach it through
    ``env`` (variable name -> secret reference), never through argv.

    Placeholders are plain ``{name}`` (`reconciler.desired.argv`). ``timeout`` is 1s to 1d and ``settle``
    0 to 1d: a day is longer than any certificate import or list copy takes, and the bound keeps both
    inside what a clock and ``asyncio`` can schedule.
    """

    argv: Annotated[list[ArgvItem], Field(min_length=1)]
    timeout: Annotated[Duration, AfterValidator(within(1, DAY))] = 600
    settle: Annotated[Duration, AfterValidator(within(0, DAY))] = Field(
        default=600,
        description="after the program exits 0 (or the controller restarts while it may have run), how long "
        "SEPM may take to show the change (a certificate import restarts its services) before it runs again",
    )
    env: dict[EnvironmentName, Secret] = Field(default_factory=dict)


class OperatorActuator(StrictModel):
    """A task for a human at the SEPM console, completed by observation or ``sepm-reconciler ack``."""


class ActuatorChoice(StrictModel):
    command: CommandActuator | None = None
    operator: OperatorActuator | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ActuatorChoice:
        if (self.command is None) == (self.operator is None):
            raise ValueError("choose exactly one of command or operator")
        return self

    @property
    def kind(self) -> ActuatorKind:
        return ActuatorKind.COMMAND if self.command is not None else ActuatorKind.OPERATOR


def _operator() -> ActuatorChoice:
    return ActuatorChoice(operator=OperatorActuator())


class Actuators(StrictModel):
    """How each step kind that REST cannot do is carried out."""

    certificate_update: ActuatorChoice = Field(default_factory=_operator)
    msl_copy: ActuatorChoice = Field(default_factory=_operator)
    msl_delete: ActuatorChoice | None = Field(
        default=None, description="absent: HTTP copies are left in place after the rotation"
    )
