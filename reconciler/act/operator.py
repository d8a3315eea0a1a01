"""The ``operator`` actuator: a task for a human at the SEPM console, in the seed procedure's own words.

Contract: the controller publishes the task (status, metrics, journal history) and does nothing else. The
step completes when observation proves it (a certificate update: the server presents the desired
fingerprint on every port) or, for what cannot be observed (an MSL copy or deletion), when someone runs
``sepm-reconciler ack SITE STEP``. The instructions name every value the operator needs; they never name a
secret (a keystore password is referred to by where it lives).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from reconciler.act.values import step_values
from reconciler.desired.schema import DesiredSite
from reconciler.model.plan import Step, StepKind


def instructions_for(desired: DesiredSite, step: Step, *, base: Path) -> tuple[str, ...]:
    """The console steps for ``step``, with its values taken from the desired state (``base``: the
    desired-state file's folder, for keystore paths)."""
    return instructions(desired, step, step_values(desired, step, base=base))


def instructions(desired: DesiredSite, step: Step, values: Mapping[str, str]) -> tuple[str, ...]:
    """The console steps for ``step`` (one line each), ending with how the controller will know."""
    ack = f"Then run: sepm-reconciler ack {desired.site} {step.id}"
    if step.kind is StepKind.COPY_MSL:
        ports = ", ".join(f"{server}: {port}" for server, port in (step.http_ports or {}).items())
        return (
            "In the SEPM console open Policies > Policy Components > Management Server Lists.",
            f"Select '{step.source_management_server_list}'; under Tasks choose Copy the List, "
            "then Paste List.",
            f"Edit the copy: name it '{step.management_server_list}' and choose 'Use HTTP protocol'.",
            f"For each server address choose Edit > 'Customize HTTP port' and set ({ports}).",
            "Click OK, OK. Do not assign it: the controller assigns it to every group and location.",
            ack,
        )
    if step.kind is StepKind.UPDATE_CERTIFICATE:
        keystore = values.get("keystore", "the keystore prepared for this rotation")
        password = _keystore_password_hint(desired, step.server)
        return (
            f"In the SEPM console open Admin > Servers > {step.server} > Manage Server Certificate.",
            f"Choose 'Update the server certificate' and import {keystore}{password}.",
            "Restart the SEPM services on that server when the console asks for it.",
            f"The controller completes this step by itself when {step.server} presents SHA-256 "
            f"{step.certificate} on its client, console and REST ports.",
        )
    if step.kind is StepKind.DELETE_MSL_COPY:
        return (
            "In the SEPM console open Policies > Policy Components > Management Server Lists.",
            f"Delete '{step.management_server_list}' (no group or location uses it any more).",
            ack,
        )
    return (f"{step.description}.", ack)


def _keystore_password_hint(desired: DesiredSite, server_name: str | None) -> str:
    server = desired.server(server_name) if server_name else None
    keystore = server.certificate.keystore if server else None
    if keystore is None or keystore.password is None:
        return ""
    return f" (its password is in {keystore.password.describe()})"


def needs_acknowledgement(step: Step) -> bool:
    """Steps whose effect SEPM cannot show: only an operator's word completes them."""
    return step.kind in (StepKind.COPY_MSL, StepKind.DELETE_MSL_COPY)
