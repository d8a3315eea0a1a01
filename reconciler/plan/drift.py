"""Step checks: what the journal says is done must still be visible where a later step relies on it.

``STEP_CHECKS`` run mid-rotation, given the steps ``steps.build_steps`` made (``checks`` holds the chain
machinery and the site and rotation checks). A step in the journal stays done whatever SEPM shows now
(gates latch), so what was done must still be visible where a later step relies on it. Each finding
names what changed and what to do; none fires in the normal flow, where every done step stays visible
until a later step undoes it on purpose:
  PreparationDrifted        while a certificate update or a certificate gate is still ahead, a
                            treated location no longer uses its HTTP copy (after its assign step,
                            or having been on it from the start) or has secure communications on
                            (after its disable step, or having had them off from the start). Its
                            clients could be orphaned by the update. Restore steps come only after
                            every certificate gate, so a location going back on purpose is never
                            seen here; under abort, with no certificate change left, neither.
  CertificateReverted       a server whose update is done no longer presents its desired
                            certificate while any step is still ahead (another update, a gate, an
                            enable or restore): clients that took the new certificate could be
                            orphaned once secure communications are back. Only the new certificate
                            back on that server releases it (an abort keeps the update, too).
  ServerChangedOutOfTurn    multi-server, not aborted: while one server is inside its gate (update
                            done, gate neither done nor proceeded), another server whose gate is
                            not done presents something other than its journalled original. A
                            server already on its desired certificate at the start is unchanged.
                            Released by an abort (every gate is then measured before secure
                            communications come back), by proceeding past the first gate, or by
                            the second server back on its original.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from reconciler.model import step_ids
from reconciler.model.plan import Step, StepKind
from reconciler.model.progress import Progress
from reconciler.plan.checks import Finding, RotationFacts
from reconciler.plan.scope import presents_desired


@dataclass(frozen=True)
class StepFacts(RotationFacts):
    progress: Progress  # the step checks only run once a rotation has started
    steps: tuple[Step, ...]
    """the rotation's steps from here, in order, their state not decided yet."""

    def ahead(self, step: Step) -> bool:
        return step.id not in self.progress.done

    def done_updates(self) -> Iterator[tuple[Step, str]]:
        """The certificate updates the journal holds as done, with their server, in step order."""
        for step in self.steps:
            if step.kind is StepKind.UPDATE_CERTIFICATE and step.server is not None and not self.ahead(step):
                yield step, step.server


StepCheck = Callable[[StepFacts], Finding | None]


def preparation_drifted(facts: StepFacts) -> Finding | None:
    progress = facts.progress
    if not any(facts.ahead(s) for s in facts.steps if _changes_certificates(s)):
        return None
    for original in facts.scope.treated:
        location = facts.site.location(original.group_id, original.location_id)
        msl = facts.desired.msl(original.management_server_list)
        if location is None or msl is None:
            continue  # a vanished location is MissingLocation's; an unknown list was checked before
        copy, done = msl.copy_name, progress.done
        # What the rotation made of it so far (or found so at the start): it must still show that.
        on_copy = original.management_server_list == copy or step_ids.assign_msl(original.key) in done
        insecure = not original.secure_communications or (
            step_ids.secure_communications(original.key, on=False) in done
        )
        drift = []
        if on_copy and location.management_server_list != copy:
            drift.append(f"uses '{location.management_server_list}' again")
        if insecure and location.secure_communications:
            drift.append("has secure communications on")
        if drift:
            return (
                "PreparationDrifted",
                f"{original.where} {' and '.join(drift)}, but until every certificate gate is done this "
                f"rotation needs it on the HTTP copy '{copy}' with secure communications off, or its "
                "clients could be orphaned; re-apply that by hand (suspend the site meanwhile and resume "
                "once its clients have checked in: the prepare gate is not measured again)"
                + _or_abort(facts),
            )
    return None


def certificate_reverted(facts: StepFacts) -> Finding | None:
    if not any(facts.ahead(s) for s in facts.steps):
        return None
    for step, server in facts.done_updates():
        observed = facts.site.observed.server(server)
        if presents_desired(observed, step.certificate or ""):
            continue
        shown = ", ".join(sorted(observed.presented_fingerprints())) if observed is not None else ""
        if shown == facts.progress.original_certificates.get(server):
            shown = f"its original certificate {shown} again"
        return (
            "CertificateReverted",
            f"server {server} presents {shown or 'no certificate'} although its update to "
            f"{step.certificate} is done: clients that took the new certificate could be orphaned by the "
            f"next step; put the new certificate back on {server} by hand and the rotation (or its "
            "abort) goes on; to keep the old one instead, suspend the site "
            f"(`sepm-reconciler suspend {facts.site.observed.site}`) and repair it by hand",
        )
    return None


def server_changed_out_of_turn(facts: StepFacts) -> Finding | None:
    progress, site = facts.progress, facts.site.observed.site
    if progress.aborted or facts.scope.procedure != "multi-server":
        return None
    for _, first in facts.done_updates():
        gate = step_ids.certificate_gate(first)
        if gate in progress.done or gate in progress.proceeded:
            continue  # not inside its gate (any more)
        for server in facts.desired.servers:
            other = server.name
            if other == first or step_ids.certificate_gate(other) in progress.done:
                continue
            presented = _changed(facts, other)
            if not presented:
                continue
            return (
                "ServerChangedOutOfTurn",
                f"server {other} presents {presented} instead of its original certificate while {first} "
                f"is still inside its gate ({gate}): a rolling update changes one server at a time, and "
                f"clients that needed {other} as their fallback while {first} changed may have been cut "
                f"off; check those clients, then abort (`sepm-reconciler abort {site}`: both gates are "
                "measured before secure communications come back), or, if none was cut off, "
                f"`sepm-reconciler proceed {site} {gate} --reason ...`",
            )
    return None


STEP_CHECKS: tuple[StepCheck, ...] = (
    preparation_drifted,
    certificate_reverted,
    server_changed_out_of_turn,
)


def _changes_certificates(step: Step) -> bool:
    """An update, or the gate after one (``gate:certificate:<server>``, ``gate:certificates``)."""
    return step.kind is StepKind.UPDATE_CERTIFICATE or step_ids.is_certificate_gate(step.id)


def _changed(facts: StepFacts, server_name: str) -> str:
    """What the server presents, if that is not the certificate journalled at the start; else ''."""
    original = facts.progress.original_certificates.get(server_name)
    observed = facts.site.observed.server(server_name)
    presented = observed.presented_fingerprints() if observed is not None else set()
    if original is None or not presented or presented == {original}:
        return ""
    return ", ".join(sorted(presented))


def _or_abort(facts: StepFacts) -> str:
    if facts.progress.aborted:
        return "; the abort then goes on and restores it after the certificate gates"
    return f", or restore the secure original (`sepm-reconciler abort {facts.site.observed.site}`)"
