"""A rotation under way that the journal does not know: how SEPM shows it, and how to take it over.

A journal can be lost (a deleted volume, a new pod without its PVC, a truncated file) while a rotation
is half done. Without it, a prepared site (HTTP list copies assigned, secure communications off) looks
like any other, and a controller that took it for the normal state would update certificates and never
restore anything. So the planner asks SEPM itself (`under_way`); the check ``RotationWithoutJournal``
(``checks``) blocks the site on what it finds, and nothing is done until a person chooses
(`sepm-reconciler adopt SITE`, with ``--restore`` to restore at once).

Evidence that a rotation is under way (`under_way`), each from the observation and the desired state:
- a location uses the HTTP copy of a desired Management Server List (``copy_name``);
- a location has secure communications off although its group is not in ``secureCommunicationsOff``;
- some desired servers present their desired certificate while others do not (a rolling update
  stopped half-way: the next server must not change before the first one's gate).

`adopt` rebuilds what the journal would have recorded at the start, from the desired state's list
definitions: a location on an HTTP copy originally used the list it copies, secure communications were on
unless the group is in ``secureCommunicationsOff``; a server already on its desired certificate
presented its (single) ``previousSha256`` before. The procedure and the treated locations are chosen as
for a new rotation of that restored site, plus every location found changed. The adopted rotation then
re-observes every step (visible ones are recorded at once) and every gate counts from the adoption, so
taking over never skips the evidence: it can only wait longer.
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.desired.schema import DesiredSite
from reconciler.model.observed import Observed, ObservedGroup, ObservedLocation
from reconciler.model.progress import LocationOriginal, Procedure
from reconciler.plan.scope import choose_scope, presents_desired
from reconciler.plan.site import SiteView, Target, view


@dataclass(frozen=True)
class Adoption:
    """What an adopted rotation starts from; ``problems`` say why it cannot be adopted (then empty)."""

    procedure: Procedure | None
    originals: dict[str, LocationOriginal]
    original_certificates: dict[str, str]
    problems: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()
    """what SEPM shows of the rotation under way (`under_way`); empty: there is nothing to adopt."""


def under_way(desired: DesiredSite, site: SiteView) -> tuple[str, ...]:
    """What on SEPM says a rotation is under way (see the module docstring); empty when nothing does."""
    copies = {msl.copy_name: msl.name for msl in desired.management_server_lists}
    evidence: list[str] = []
    for target in site.targets:
        msl = target.location.management_server_list
        if msl in copies and msl != copies[msl]:
            evidence.append(f"{target.where} uses '{msl}', the HTTP copy of '{copies[msl]}'")
        if not target.location.secure_communications and not _insecure_by_design(desired, target.group):
            evidence.append(
                f"{target.where} has secure communications off (its group is not in secureCommunicationsOff)"
            )
    on_new = [s.name for s in desired.servers if _on_desired(site.observed, s.name, s.certificate.sha256)]
    if on_new and len(on_new) < len(desired.servers):
        others = [s.name for s in desired.servers if s.name not in on_new]
        evidence.append(
            f"{', '.join(on_new)} already present(s) the desired certificate while {', '.join(others)} "
            "do(es) not"
        )
    return tuple(evidence)


def adopt(desired: DesiredSite, observed: Observed) -> Adoption:
    """The rotation a lost journal would hold, rebuilt from the desired state (module docstring)."""
    site = view(observed, desired.no_failover_versions)
    evidence = under_way(desired, site)
    certificates, problems = _original_certificates(desired, observed)
    if problems:
        return Adoption(None, {}, {}, problems, evidence)
    restored = observed.model_copy(update={"groups": tuple(_restored(desired, g) for g in observed.groups)})
    scope = choose_scope(desired, view(restored, desired.no_failover_versions), None)
    originals = {o.key: o for o in scope.treated}
    for target in site.targets:
        if target.key not in originals and _changed(desired, target):
            originals[target.key] = _original(desired, target)
    return Adoption(scope.procedure, originals, certificates, (), evidence)


def _insecure_by_design(desired: DesiredSite, group: ObservedGroup) -> bool:
    return group.full_path.casefold() in {path.casefold() for path in desired.secure_communications_off}


def _on_desired(observed: Observed, server: str, fingerprint: str) -> bool:
    return presents_desired(observed.server(server), fingerprint)


def _before(desired: DesiredSite, group: ObservedGroup, location: ObservedLocation) -> tuple[str, bool]:
    """(MSL, secure communications) of a location before the rotation: lists un-copied; secure
    communications on, unless they are off in a group that is in ``secureCommunicationsOff``."""
    msl = location.management_server_list
    copied_from = next((m.name for m in desired.management_server_lists if m.copy_name == msl), msl)
    secure = location.secure_communications or not _insecure_by_design(desired, group)
    return copied_from, secure


def _changed(desired: DesiredSite, target: Target) -> bool:
    location = target.location
    before = _before(desired, target.group, location)
    return before != (location.management_server_list, location.secure_communications)


def _original(desired: DesiredSite, target: Target) -> LocationOriginal:
    msl, secure = _before(desired, target.group, target.location)
    return LocationOriginal(
        group_id=target.group.id,
        group_path=target.group.full_path,
        location_id=target.location.id,
        location_name=target.location.name,
        management_server_list=msl,
        secure_communications=secure,
    )


def _restored(desired: DesiredSite, group: ObservedGroup) -> ObservedGroup:
    """The group as it was before the rotation (`_before` for each location)."""
    locations = []
    for location in group.locations:
        msl, secure = _before(desired, group, location)
        locations.append(
            location.model_copy(update={"management_server_list": msl, "secure_communications": secure})
        )
    return group.model_copy(update={"locations": tuple(locations)})


def _original_certificates(
    desired: DesiredSite, observed: Observed
) -> tuple[dict[str, str], tuple[str, ...]]:
    originals: dict[str, str] = {}
    problems: list[str] = []
    for server in desired.servers:
        found = observed.server(server.name)
        presented = found.presented_fingerprints() if found is not None else set()
        if presented != {server.certificate.sha256}:
            if len(presented) == 1:
                originals[server.name] = next(iter(presented))
            continue
        previous = server.certificate.previous_sha256
        if len(previous) == 1:
            originals[server.name] = previous[0]
        else:
            problems.append(
                f"{server.name} already presents its desired certificate, and the certificate it presented "
                f"before cannot be told: list exactly that one under previousSha256 ({len(previous)} listed)"
            )
    return originals, tuple(problems)
