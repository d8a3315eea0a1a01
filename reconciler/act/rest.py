"""The ``rest`` actuator: change a location's settings through SEPM's REST API, then read it back.

Contract: ``apply`` PATCHes only what the step changes (the MSL assignment, or the secure-communications
flag) and then re-reads the location until SEPM shows the change (read-your-writes), up to ``attempts``
reads. It returns SEPM's clock at the read that showed it: the time the gate counts from. A change SEPM
accepts but never shows raises `ChangeNotVisible`; SEPM refusing it raises the client's typed error.
Applying a step twice is harmless: the PATCH sets a value, it does not toggle one.
"""

from __future__ import annotations

import asyncio
from typing import Any

from reconciler.model.plan import Step, StepKind
from reconciler.sepm import adapter
from reconciler.sepm.client import SepmClient


class ChangeNotVisible(Exception):
    """SEPM accepted a change but did not show it on reading back."""


def configuration_for(step: Step) -> dict[str, Any]:
    """The partial ``configuration`` a REST step PATCHes."""
    if step.kind is StepKind.ASSIGN_MSL and step.management_server_list:
        return adapter.assign_msl_configuration(step.management_server_list)
    if step.kind is StepKind.DISABLE_SECURE_COMMUNICATIONS:
        return adapter.secure_communications_configuration(False)
    if step.kind is StepKind.ENABLE_SECURE_COMMUNICATIONS:
        return adapter.secure_communications_configuration(True)
    raise ValueError(f"step {step.id} ({step.kind}) is not a REST step")


def visible(step: Step, settings: adapter.LocationSettings) -> bool:
    """Whether a location's settings show the step's effect."""
    if step.kind is StepKind.ASSIGN_MSL:
        return settings.management_server_list == step.management_server_list
    if step.kind is StepKind.DISABLE_SECURE_COMMUNICATIONS:
        return settings.secure_communications is False
    if step.kind is StepKind.ENABLE_SECURE_COMMUNICATIONS:
        return settings.secure_communications is True
    return False


async def apply(step: Step, client: SepmClient, *, attempts: int = 10, pause: float = 0.2) -> int:
    """PATCH the step's change and return SEPM's time at the first read that shows it."""
    if step.group_id is None or step.location_id is None:
        raise ValueError(f"step {step.id} names no group/location")
    where = f"group {step.group_path or step.group_id}, location {step.location_name or step.location_id}"
    if not await _shows(step, client, where):
        await client.patch_location_settings(step.group_id, step.location_id, configuration_for(step))
    for attempt in range(attempts):
        if await _shows(step, client, where):
            if client.server_time_ms is None:
                raise ChangeNotVisible(f"{where}: SEPM sent no clock with its answer; cannot time the gate")
            return client.server_time_ms
        await asyncio.sleep(pause * (attempt + 1))
    raise ChangeNotVisible(f"{where}: SEPM accepted '{step.description}' but does not show it")


async def _shows(step: Step, client: SepmClient, where: str) -> bool:
    assert step.group_id is not None
    assert step.location_id is not None
    body = await client.location_settings(step.group_id, step.location_id)
    return visible(step, adapter.parse_location_settings(body, where=where))
