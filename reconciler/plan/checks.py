"""Blocking checks: ordered chains of pure functions, each returning ``(reason, message)`` or None.

The first finding blocks the whole site: the plan is a single ``check:<Reason>`` step, ``blocked``,
whose CamelCase reason goes to status and metrics and whose message says what is wrong, where, and
what a human should do. Order matters: the first chain runs before the planner decides whether there
is anything to do at all (so a converged site plans empty even if its desired MSLs are incomplete);
the second only when a rotation is needed or under way.

``SITE_CHECKS`` (always):
  InconsistentDesiredState  the rotation was started for another desired state (digest differs).
  UnknownServer             a desired server is not in the observation.
  CorruptedCertificate      one server's ports present different fingerprints: Broadcom calls for
                            disaster recovery, not this procedure. Always blocks, even half-way
                            through an update; the next observation plans again.
  UnexpectedCertificate     a server presents a fingerprint that is neither its desired one, nor one
                            of its ``previousSha256``, nor the one journalled at the rotation's start.
                            Checked only when there is something to compare with (``previousSha256``
                            given, or a rotation under way).

``ROTATION_CHECKS`` (when there is something to do):
  UnknownManagementServerList  a target uses an MSL the desired state does not list (an HTTP copy of
                            a listed MSL is known: mid-rotation it is expected). Checked on every
                            observed target before the start, on the treated ones and (multi-server)
                            every target afterwards, and on the journalled originals.
  FailoverNotPossible       multi-server: a target that is not treated relies on failover, but its
                            MSL lists fewer than two servers.
  UnpreparedLocation        mid-rotation, with a certificate update still ahead, an untreated target
                            cannot take the rotation's procedure: under single-server it appeared
                            after the start (never prepared); under multi-server its group now
                            holds a 14.2 client (which cannot fail over). The treated set stays
                            fixed (no procedure switch half-way): a human aborts instead.

``STEP_CHECKS`` (mid-rotation, given the steps ``steps.build_steps`` made): a step in the journal
stays done whatever SEPM shows now (gates latch), so what was done must still be visible where a
later step relies on it. Each finding names what changed and what to do; none fires in the normal
flow, where every done step stays visible until a later step undoes it on purpose:
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

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from reconciler.desired.schema import DesiredSite
from reconciler.model.plan import Step, StepKind
from reconciler.model.progress import Progress
from reconciler.plan.scope import (
    Scope,
    can_fail_over,
    certificate_gate_id,
    presents_desired,
    update_step_id,
)
from reconciler.plan.site import SiteView, Target

Finding = tuple[str, str]
"""(CamelCase reason, message for a human)."""


@dataclass(frozen=True)
class Facts:
    """What every check may read."""

    desired: DesiredSite
    site: SiteView
    progress: Progress | None


@dataclass(frozen=True)
class RotationFacts(Facts):
    scope: Scope


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


F = TypeVar("F", bound=Facts)
Check = Callable[[Facts], Finding | None]
RotationCheck = Callable[[RotationFacts], Finding | None]
StepCheck = Callable[[StepFacts], Finding | None]


def inconsistent_desired_state(facts: Facts) -> Finding | None:
    progress = facts.progress
    if progress is None or progress.desired_digest == facts.desired.digest():
        return None
    return (
        "InconsistentDesiredState",
        f"rotation {progress.rotation_id} was started for desired state {progress.desired_digest[:12]}, "
        f"but this plan was given {facts.desired.digest()[:12]}; plan the rotation with its own desired "
        "state (a new desired state is planned after it completes), or abort it "
        f"(`sepm-reconciler abort {facts.site.observed.site}`)",
    )


def unknown_server(facts: Facts) -> Finding | None:
    observed = {s.name for s in facts.site.observed.servers}
    for server in facts.desired.servers:
        if server.name not in observed:
            return (
                "UnknownServer",
                f"server {server.name} of the desired state is not among the observed servers "
                f"({', '.join(sorted(observed)) or 'none'}); correct its name in the desired state or "
                "make it reachable",
            )
    return None


def corrupted_certificate(facts: Facts) -> Finding | None:
    for server in facts.site.observed.servers:
        if len(server.presented_fingerprints()) > 1:
            ports = ", ".join(f"{port} {cert.sha256}" for port, cert in sorted(server.certificates.items()))
            return (
                "CorruptedCertificate",
                f"server {server.name} presents different certificates on its ports ({ports}): this calls "
                "for SEPM disaster recovery, not a certificate rotation (Broadcom); repair the server so "
                "that every port presents one certificate, then reconcile again",
            )
    return None


def unexpected_certificate(facts: Facts) -> Finding | None:
    originals = facts.progress.original_certificates if facts.progress is not None else {}
    for server in facts.desired.servers:
        observed = facts.site.observed.server(server.name)
        previous = server.certificate.previous_sha256
        if observed is None or (not previous and facts.progress is None):
            continue
        allowed = set(server.certificate.allowed)
        if server.name in originals:
            allowed.add(originals[server.name])
        for port, cert in sorted(observed.certificates.items()):
            if cert.sha256 not in allowed:
                return (
                    "UnexpectedCertificate",
                    f"server {server.name} presents {cert.sha256} on its {port} port, which is neither its "
                    "desired certificate, nor one of its previousSha256, nor the one it presented when the "
                    "rotation started; find out who changed it, and add it to previousSha256 if it is "
                    "legitimate",
                )
    return None


def unknown_management_server_list(facts: RotationFacts) -> Finding | None:
    progress, scope = facts.progress, facts.scope
    if progress is None or scope.procedure == "multi-server":
        checked: Iterable[Target] = facts.site.targets
    else:
        checked = (t for t in facts.site.targets if t.key in scope.treated_keys)
    for target in checked:
        msl = target.location.management_server_list
        if facts.desired.msl(msl) is None:
            return _unknown_msl(facts.desired, msl, target.where)
    for original in scope.treated:
        msl = original.management_server_list
        if facts.desired.msl(msl) is None:
            return _unknown_msl(facts.desired, msl, f"{original.where} (journalled original)")
    return None


def failover_not_possible(facts: RotationFacts) -> Finding | None:
    if facts.scope.procedure != "multi-server":
        return None
    for target in facts.site.targets:
        msl_name = target.location.management_server_list
        if target.key in facts.scope.treated_keys or can_fail_over(facts.desired, msl_name):
            continue
        msl = facts.desired.msl(msl_name)
        servers = ", ".join(msl.servers) if msl is not None else "no known server"
        return (
            "FailoverNotPossible",
            f"{target.where} uses management server list '{msl_name}' ({servers}): its clients cannot "
            "fail over during a rolling update; add a second server to that list, or use procedure auto "
            "or single-server",
        )
    return None


def unprepared_location(facts: RotationFacts) -> Finding | None:
    progress = facts.progress
    if progress is None or progress.aborted:
        return None
    if all(update_step_id(s.name) in progress.done for s in facts.scope.servers):
        return None  # no certificate change is ahead: nothing left to orphan anybody
    for target in facts.site.targets:
        if target.key in facts.scope.treated_keys:
            continue
        if facts.scope.procedure == "single-server":
            why = "appeared after the rotation started, so it was never moved to the HTTP copy"
        elif target.group.id in facts.site.legacy_sources:
            why = "now holds a 14.2 / 14.2.1 client, which cannot fail over during a rolling update"
        else:
            continue
        return (
            "UnpreparedLocation",
            f"{target.where} {why}; a certificate update now could orphan its clients: abort rotation "
            f"{progress.rotation_id} (`sepm-reconciler abort {facts.site.observed.site}`; a new rotation "
            "will treat it), or move those clients elsewhere",
        )
    return None


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
        on_copy = original.management_server_list == copy or f"assign_msl:{original.key}" in done
        insecure = not original.secure_communications or (
            f"disable_secure_communications:{original.key}" in done
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
        gate = certificate_gate_id(first)
        if gate in progress.done or gate in progress.proceeded:
            continue  # not inside its gate (any more)
        for server in facts.desired.servers:
            other = server.name
            if other == first or certificate_gate_id(other) in progress.done:
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


SITE_CHECKS: tuple[Check, ...] = (
    inconsistent_desired_state,
    unknown_server,
    corrupted_certificate,
    unexpected_certificate,
)
ROTATION_CHECKS: tuple[RotationCheck, ...] = (
    unknown_management_server_list,
    failover_not_possible,
    unprepared_location,
)
STEP_CHECKS: tuple[StepCheck, ...] = (
    preparation_drifted,
    certificate_reverted,
    server_changed_out_of_turn,
)


def first_finding(checks: Iterable[Callable[[F], Finding | None]], facts: F) -> Finding | None:
    """The first check in order that finds something, or None."""
    for check in checks:
        finding = check(facts)
        if finding is not None:
            return finding
    return None


def _unknown_msl(desired: DesiredSite, msl: str, where: str) -> Finding:
    known = ", ".join(f"'{m.name}'" for m in desired.management_server_lists)
    return (
        "UnknownManagementServerList",
        f"{where} uses management server list '{msl}', which the desired state does not list (it lists "
        f"{known}); add it under managementServerLists with its servers",
    )


def _changes_certificates(step: Step) -> bool:
    """An update, or the gate after one (``gate:certificate:<server>``, ``gate:certificates``)."""
    return step.kind is StepKind.UPDATE_CERTIFICATE or step.id.startswith("gate:certificate")


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
