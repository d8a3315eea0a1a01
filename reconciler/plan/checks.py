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
  RotationWithoutJournal    no rotation in the journal, but SEPM shows one under way (an HTTP copy
                            assigned, secure communications off outside secureCommunicationsOff,
                            servers half-way through a rolling update): the journal was lost or
                            replaced. Nothing is done until someone runs ``adopt`` (``adoption``).

``ROTATION_CHECKS`` (when there is something to do):
  UnknownManagementServerList  a target uses an MSL the desired state does not list (an HTTP copy of
                            a listed MSL is known: mid-rotation it is expected). Checked on every
                            observed target before the start, on the treated ones and (multi-server)
                            every target afterwards, and on the journalled originals.
  FailoverNotPossible       multi-server: a target that is not treated relies on failover, but its
                            MSL lists fewer than two servers.
  UnpreparedLocation        mid-rotation, with a certificate update still ahead, an untreated target
                            cannot take the rotation's procedure: under single-server it was not a
                            target at the start (new since, or a location whose own settings then
                            equalled its group's, so it looked like it followed the group); under
                            multi-server its group now holds a 14.2 client (which cannot fail
                            over). The treated set stays fixed (no procedure switch half-way); the
                            message offers a way out that ends (make the location follow its
                            group, or abort and tell it apart before the next rotation).

The step checks, which need the rotation's steps, are in ``reconciler.plan.drift``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from reconciler.desired.schema import DesiredSite
from reconciler.model import step_ids
from reconciler.model.progress import Progress
from reconciler.plan.adoption import under_way
from reconciler.plan.scope import (
    Scope,
    can_fail_over,
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


F = TypeVar("F", bound=Facts)
Check = Callable[[Facts], Finding | None]
RotationCheck = Callable[[RotationFacts], Finding | None]


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


def rotation_without_journal(facts: Facts) -> Finding | None:
    if facts.progress is not None:
        return None
    evidence = under_way(facts.desired, facts.site)
    if not evidence:
        return None
    site = facts.site.observed.site
    shown = "; ".join(evidence[:5]) + (f"; and {len(evidence) - 5} more" if len(evidence) > 5 else "")
    return (
        "RotationWithoutJournal",
        f"SEPM shows a rotation under way that the journal does not hold (was the journal lost or "
        f"replaced?): {shown}. Nothing is changed until you choose: `sepm-reconciler adopt {site}` rebuilds "
        "the rotation's originals from the desired state (each HTTP copy goes back to the list it copies; "
        "secure communications back on except in secureCommunicationsOff) and continues it, every gate "
        f"counted from now; `sepm-reconciler adopt {site} --restore` does the same and restores the "
        "originals at once. If secure communications are off on purpose somewhere, list that group under "
        "secureCommunicationsOff instead",
    )


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
    if all(step_ids.update_certificate(s.name) in progress.done for s in facts.scope.servers):
        return None  # no certificate change is ahead: nothing left to orphan anybody
    site = facts.site.observed.site
    for target in facts.site.targets:
        if target.key in facts.scope.treated_keys:
            continue
        if facts.scope.procedure == "single-server":
            return ("UnpreparedLocation", _unprepared(target, site))
        if target.group.id in facts.site.legacy_sources:
            return (
                "UnpreparedLocation",
                f"{target.where} now holds a 14.2 client, which cannot fail over during a rolling update, "
                "and it was not prepared when the rotation started; a certificate update now could orphan "
                f"its clients: abort rotation {progress.rotation_id} (`sepm-reconciler abort {site}`; the "
                "next rotation treats its group, since the 14.2 client is there now), or move those clients "
                "to a group that was prepared",
            )
    return None


def _unprepared(target: Target, site: str) -> str:
    """Why a location of a single-server rotation was not prepared, and a way out that ends."""
    location = target.location
    state = "on" if location.secure_communications else "off"
    risk = (
        f"its clients still use '{location.management_server_list}' with secure communications {state}, and "
        "a certificate update now could orphan them"
    )
    if location.is_default:
        return (
            f"{target.where} was not prepared (its group is new since the rotation started); {risk}. Way "
            "out: make the group inherit from its parent in the SEPM console (the parent is prepared), or "
            f"move its clients to a prepared group; or abort (`sepm-reconciler abort {site}`): the next "
            "rotation prepares the group, since it exists now"
        )
    return (
        f"{target.where} was not prepared (it is new since the rotation started, or it has communication "
        "settings of its own that equalled its group's then, so it looked like a location that follows its "
        f"group); {risk}. Way out: in the SEPM console make the location use its group's communication "
        "settings (the group is prepared, so the location is too, and the rotation goes on by itself); or "
        f"abort (`sepm-reconciler abort {site}`) and, before rotating again, give the location settings "
        "that differ from its group's (a heartbeat of its own will do), so that the next rotation prepares it"
    )


SITE_CHECKS: tuple[Check, ...] = (
    inconsistent_desired_state,
    unknown_server,
    corrupted_certificate,
    unexpected_certificate,
    rotation_without_journal,
)
ROTATION_CHECKS: tuple[RotationCheck, ...] = (
    unknown_management_server_list,
    failover_not_possible,
    unprepared_location,
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
