"""The values a step offers to a command template and to operator instructions.

One function, so that what a command sees as ``{keystore}`` and what an operator is told to upload are the
same file.
"""

from __future__ import annotations

from pathlib import Path

from reconciler.desired.schema import ActuatorChoice, DesiredSite
from reconciler.model.plan import Step, StepKind


def step_values(desired: DesiredSite, step: Step, *, base: Path) -> dict[str, str]:
    """``{site}``, ``{step}``, ``{server}``, ... for ``step``; keystore paths are made absolute from ``base``
    (the desired-state file's folder)."""
    values: dict[str, str] = {"site": desired.site, "step": step.id}
    if step.server:
        server = desired.server(step.server)
        values["server"] = step.server
        if server is not None:
            values["address"] = server.address
            values["http_port"] = str(server.ports.http)
            keystore = server.certificate.keystore
            if keystore is not None:
                values["keystore"] = str((base / keystore.path).resolve())
                values["keystore_format"] = keystore.format or _guess_format(keystore.path)
    if step.keystore and "keystore" not in values:
        values["keystore"] = str((base / step.keystore).resolve())
    if step.certificate:
        values["fingerprint"] = step.certificate
    if step.kind in (StepKind.COPY_MSL, StepKind.DELETE_MSL_COPY):
        # For these steps the step's MSL is the HTTP copy; ``{msl}`` is the list it was copied from.
        if step.source_management_server_list:
            values["msl"] = step.source_management_server_list
        if step.management_server_list:
            values["msl_copy"] = step.management_server_list
    elif step.management_server_list:
        values["msl"] = step.management_server_list
    if step.http_ports:
        values["http_ports"] = ",".join(f"{name}={port}" for name, port in step.http_ports.items())
    return values


def _guess_format(path: str) -> str:
    return "pkcs12" if path.lower().endswith((".p12", ".pfx")) else "pem"


def actuator_for(desired: DesiredSite, step: Step) -> ActuatorChoice | None:
    """The desired state's actuator for a step REST cannot do (None for REST steps and gates)."""
    actuators = desired.actuators
    if step.kind is StepKind.UPDATE_CERTIFICATE:
        return actuators.certificate_update
    if step.kind is StepKind.COPY_MSL:
        return actuators.msl_copy
    if step.kind is StepKind.DELETE_MSL_COPY:
        return actuators.msl_delete
    return None
