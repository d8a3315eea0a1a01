"""Step and gate ids: how each is made, and how one is read back. The only place that knows their form.

Ids are the journal's keys (steps, gate measurements, acknowledgements, break-glass requests) and what
operators type (``sepm-reconciler ack SITE STEP``, ``proceed SITE GATE``). Their form is therefore a
contract: changing one would orphan the journal rows of rotations in progress and break operators'
scripts. ``tests/model/test_step_ids.py`` pins every form below.

``<g>/<l>`` is a **target key**: a group id and one of its location ids (`target_key`).

=========================================  =========================================================
``copy_msl:<msl>``                         make the HTTP copy of Management Server List ``<msl>``
``assign_msl:<g>/<l>``                     point a location at the HTTP copy of its list
``disable_secure_communications:<g>/<l>``  switch the location's secure communications off
``gate:prepared``                          clients have taken the preparation
``update_certificate:<server>``            replace one server's certificate
``gate:certificate:<server>``              multi-server: clients have taken that server's certificate
``gate:certificates``                      single-server: clients have taken every new certificate
``enable_secure_communications:<g>/<l>``   switch the location's secure communications back on
``restore_msl:<g>/<l>``                    point the location back at its original list
``gate:restored``                          clients have checked in on their original lists
``delete_msl_copy:<msl>``                  delete the HTTP copy made of ``<msl>`` (the original's name)
``check:<Reason>``                         a blocking check (never journalled as done)
=========================================  =========================================================

Every gate id starts with ``gate:``; the certificate gates (both forms) with ``gate:certificate``.
"""

from __future__ import annotations

from dataclasses import dataclass

GATE_PREFIX = "gate:"
PREPARED_GATE = "gate:prepared"
CERTIFICATES_GATE = "gate:certificates"
RESTORED_GATE = "gate:restored"
_CERTIFICATE_GATE = "gate:certificate:"

COPY_MSL = "copy_msl"
ASSIGN_MSL = "assign_msl"
DISABLE_SECURE_COMMUNICATIONS = "disable_secure_communications"
ENABLE_SECURE_COMMUNICATIONS = "enable_secure_communications"
UPDATE_CERTIFICATE = "update_certificate"
RESTORE_MSL = "restore_msl"
DELETE_MSL_COPY = "delete_msl_copy"
CHECK = "check"

_ACTIONS = (
    COPY_MSL,
    ASSIGN_MSL,
    DISABLE_SECURE_COMMUNICATIONS,
    ENABLE_SECURE_COMMUNICATIONS,
    UPDATE_CERTIFICATE,
    RESTORE_MSL,
    DELETE_MSL_COPY,
    CHECK,
)


def target_key(group_id: str, location_id: str) -> str:
    """Stable key of one location's communication settings: ``<group id>/<location id>``."""
    return f"{group_id}/{location_id}"


def copy_msl(msl: str) -> str:
    return f"{COPY_MSL}:{msl}"


def assign_msl(target: str) -> str:
    return f"{ASSIGN_MSL}:{target}"


def secure_communications(target: str, *, on: bool) -> str:
    """``enable_secure_communications:<g>/<l>`` or ``disable_secure_communications:<g>/<l>``."""
    return f"{ENABLE_SECURE_COMMUNICATIONS if on else DISABLE_SECURE_COMMUNICATIONS}:{target}"


def update_certificate(server: str) -> str:
    return f"{UPDATE_CERTIFICATE}:{server}"


def certificate_gate(server: str) -> str:
    """The gate after one server's update (multi-server)."""
    return f"{_CERTIFICATE_GATE}{server}"


def restore_msl(target: str) -> str:
    return f"{RESTORE_MSL}:{target}"


def delete_msl_copy(msl: str) -> str:
    """Deleting the HTTP copy made of ``msl`` (named by the original list, as ``copy_msl`` is)."""
    return f"{DELETE_MSL_COPY}:{msl}"


def check(reason: str) -> str:
    return f"{CHECK}:{reason}"


def is_gate(step_id: str) -> bool:
    return step_id.startswith(GATE_PREFIX)


def is_certificate_gate(step_id: str) -> bool:
    """``gate:certificate:<server>`` or ``gate:certificates``: a gate that follows certificate updates."""
    return step_id == CERTIFICATES_GATE or step_id.startswith(_CERTIFICATE_GATE)


@dataclass(frozen=True)
class ParsedId:
    """A step id read back: its ``kind`` (``assign_msl``, ``gate``, ...) and what it names.

    ``subject`` is the MSL, the target key, the server or the reason; for a gate it is what follows
    ``gate:`` (``prepared``, ``certificates``, ``restored``, ``certificate:<server>``).
    """

    kind: str
    subject: str

    @property
    def server(self) -> str | None:
        """The server an update or a multi-server gate names."""
        if self.kind == UPDATE_CERTIFICATE:
            return self.subject
        prefix = _CERTIFICATE_GATE.removeprefix(GATE_PREFIX)
        if self.kind == "gate" and self.subject.startswith(prefix):
            return self.subject.removeprefix(prefix)
        return None


def parse(step_id: str) -> ParsedId:
    """Read a step id back; ``ValueError`` (naming the id) for anything this module does not make."""
    kind, sep, subject = step_id.partition(":")
    if sep and subject and (kind in _ACTIONS or kind == "gate"):
        return ParsedId(kind=kind, subject=subject)
    raise ValueError(f"{step_id!r} is not a step id (e.g. assign_msl:<group>/<location>, gate:prepared)")
