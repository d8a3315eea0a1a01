"""What a rotation has done so far: the planner's memory, kept in the journal.

Contract:
- ``Progress`` is rebuilt from the journal before every plan; the planner never keeps state of its own.
- ``originals`` is captured from an observation before the first change of a rotation and never
  rewritten: it is exactly what the restore steps put back, and the set of locations the rotation may
  touch (invariant 3: nothing else is touched).
- ``done[step_id].applied_at`` is the SEPM server time of the observation that first showed the step's
  effect (read-your-writes). Gates count heartbeats from it. Taking the time the change became visible,
  not the time it was requested, errs on the side of waiting longer.
- A gate is recorded in ``done`` once it opens; from then on it stays open (gates latch), so a client
  that goes quiet after the certificate changed cannot reopen an earlier gate.
- ``procedure`` and ``treated`` are fixed when the rotation starts, so that a 14.2 client appearing
  mid-rotation cannot switch the site to another procedure half-way.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from reconciler.model.step_ids import target_key

Procedure = Literal["single-server", "multi-server"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def describe_location(location_name: str, group_path: str) -> str:
    """How steps and findings name a location: ``location 'Office' of My Company\\Sales``."""
    return f"location '{location_name}' of {group_path}"


class LocationOriginal(_Frozen):
    """A location's settings before the rotation changed anything."""

    group_id: str
    group_path: str
    location_id: str
    location_name: str
    management_server_list: str
    secure_communications: bool

    @property
    def key(self) -> str:
        return target_key(self.group_id, self.location_id)

    @property
    def where(self) -> str:
        return describe_location(self.location_name, self.group_path)


class StepRecord(_Frozen):
    """A step that is done: its effect was observed (or, for a gate, its evidence was met)."""

    applied_at: int = Field(description="SEPM epoch ms at which the effect was first observed")
    message: str = ""


class Progress(_Frozen):
    """The journal's view of one rotation, as the planner needs it."""

    rotation_id: str
    desired_digest: str
    procedure: Procedure
    started_at: int = Field(description="SEPM epoch ms of the observation the rotation started from")
    originals: dict[str, LocationOriginal] = Field(
        default_factory=dict, description="by target_key; the locations given the single-server treatment"
    )
    original_certificates: dict[str, str] = Field(
        default_factory=dict, description="server name -> fingerprint presented before the rotation"
    )
    done: dict[str, StepRecord] = Field(default_factory=dict)
    acknowledged: dict[str, str] = Field(
        default_factory=dict, description="operator step id -> who acknowledged and what they said"
    )
    proceeded: dict[str, str] = Field(
        default_factory=dict, description="gate step id -> break-glass reason given with `proceed`"
    )
    aborted: bool = False
    attempted: tuple[str, ...] = Field(
        default=(),
        description="step ids acted on (an intent was journaled) but not done: their effect may still appear",
    )
