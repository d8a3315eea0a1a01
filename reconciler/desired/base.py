"""What every desired-state model shares: strictness, spelling, how a cross-field rule points at its item,
and how a secret is referred to.

Contract:
- `StrictModel` forbids unknown keys, is frozen, and reads camelCase keys (``managementServerLists``)
  into snake_case fields.
- A secret is never a value in desired state, only a `SecretRef` (``{env: NAME}`` or ``{file: PATH}``);
  `Secret` refuses a plain string, number or the like with a message that says what to write instead.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from reconciler.desired.fields import EnvironmentName


class RuleError(ValueError):
    """A cross-field rule broken by one item: ``loc`` is that item's path below the validated value.

    Pydantic keeps the exception in the error's ``ctx``; the loader appends ``loc`` to the error's own
    location, so ``duplicate server name`` points at ``servers[1].name`` rather than at ``servers``.
    """

    def __init__(self, message: str, *, loc: tuple[str | int, ...]) -> None:
        super().__init__(message)
        self.loc = loc


class StrictModel(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True, strict=False
    )


def _refuse_inline_secret(value: object) -> object:
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        raise ValueError(
            "secrets are not written in desired state: give a reference, {env: VARIABLE} or {file: PATH}"
        )
    return value


class SecretRef(StrictModel):
    """Where a secret is found at run time: an environment variable or a file (first line, stripped)."""

    env: EnvironmentName | None = None
    file: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of env or file")
        return self

    def describe(self) -> str:
        """Where the secret lives, for messages (never the secret itself)."""
        return f"environment variable {self.env}" if self.env else f"file {self.file}"


Secret = Annotated[SecretRef, BeforeValidator(_refuse_inline_secret)]
