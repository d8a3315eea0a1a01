"""The steps of a rotation in execution order, before the planner decides their state.

Step ids (their form lives in `reconciler.model.step_ids`) are the journal's keys, stable across
re-plans (``<g>/<l>`` is a target key), in order:

- ``copy_msl:<msl>``: make the HTTP copy of an MSL that a treated target uses (actuators.mslCopy).
- ``assign_msl:<g>/<l>``: point a treated target at that copy (rest).
- ``disable_secure_communications:<g>/<l>``: switch the flag off where it was on (rest).
- ``gate:prepared``: the clients of treated groups have checked in since (journal). Only when there
  was something to prepare: a gate waits for a change to reach the clients, and with no change there
  is nothing to wait for (and a rotation never starts on a gate).
- ``update_certificate:<server>``: replace one server's certificate (actuators.certificateUpdate).
- multi-server: ``gate:certificate:<server>`` after each update, every client of the site counted
  from that update; single-server: one ``gate:certificates`` after all updates, counted from the last.
- ``enable_secure_communications:<g>/<l>``: switch the flag back on where it was on (rest).
- ``restore_msl:<g>/<l>``: point the target back at its original MSL (rest, kind ``assign_msl``).
- only with actuators.mslDelete: ``gate:restored`` (clients of the restored groups have checked in
  on their own lists), then ``delete_msl_copy:<msl>`` per copy made.

Minimal transitions: a target already on the HTTP copy gets no copy, assign or restore; a target
whose secure communications an admin already switched off is neither switched off nor back on; only
the servers ``Scope.servers`` names (``scope.servers_to_update``) get an update. Certificate updates
come in desired order, except that servers already on their new certificate (update journalled, or
visible) come first, then servers whose certificate moved elsewhere (no longer the journalled
original), then the untouched ones: no server is acted on while another one that already changed is
inside its gate. A copy is deleted only if no target uses it as its original list.

Abort (``progress.aborted``) means "back to the secure original": preparation steps not yet done are
dropped, and so is the prepare gate unless it has opened; certificate updates whose server still
presents its original certificate are dropped, while servers whose certificate already moved keep
their update (recorded without acting when visible) and their gate, so that secure communications
still come back on only after every client holds the new certificate. An update acted on but not
seen yet (``progress.attempted``) whose server still presents its original is **in doubt**: the
new certificate may still appear after secure communications are back. It is kept (after the moved
ones) and the planner blocks on it (``UpdateMayStillApply``) until it shows, and then gets its gate,
or an operator acknowledges it, which means "not applied" and drops it. The restore steps always
follow; the ones whose effect is already visible are recorded without acting.

Each draft says whether observation shows its effect (``visible``; ``None`` for MSL copies, which
REST cannot list, unless a location is seen using the copy, which shows that it exists) and, for a
gate, whom it counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from reconciler.desired.schema import DesiredSite, ManagementServerList, Server
from reconciler.model import step_ids
from reconciler.model.plan import ActuatorKind, Step, StepKind, StepState
from reconciler.model.progress import LocationOriginal, Progress, StepRecord
from reconciler.plan.gates import GateScope, Part
from reconciler.plan.scope import Scope, presents_desired
from reconciler.plan.site import SiteView


@dataclass(frozen=True)
class Draft:
    """A step whose state is still to be decided (it is built ``waiting``)."""

    step: Step
    visible: bool | None
    """observation already shows the step's effect; None: SEPM cannot show it (an MSL copy)."""
    gate: GateScope | None = None
    location_missing: bool = False
    in_doubt: bool = False
    """abort: an update acted on, not seen and not acknowledged, that may still apply (see above)."""


def build_steps(
    desired: DesiredSite, site: SiteView, scope: Scope, progress: Progress | None
) -> tuple[Draft, ...]:
    """Every step the rotation needs from here, in execution order (see the module docstring)."""
    done = progress.done if progress is not None else {}
    aborted = progress is not None and progress.aborted
    treated = [(o, msl) for o in scope.treated if (msl := desired.msl(o.management_server_list))]
    on_copy = [(o, msl) for o, msl in treated if o.management_server_list != msl.copy_name]

    copies = [_copy(desired, site, msl) for msl in _distinct(msl for _, msl in on_copy)]
    preparation = [
        *copies,
        *(_assign(site, o, msl.copy_name, step_ids.assign_msl(o.key)) for o, msl in on_copy),
        *(_secure(site, o, on=False) for o, _ in treated if o.secure_communications),
    ]
    prepares = bool(preparation)
    if aborted:
        preparation = [d for d in preparation if d.step.id in done]
        copies = [d for d in copies if d.step.id in done]
    drafts = list(preparation)
    if prepares and (not aborted or step_ids.PREPARED_GATE in done):
        drafts.append(
            _group_gate(
                site, step_ids.PREPARED_GATE, scope.treated_groups, preparation, "moved to the HTTP copy"
            )
        )

    drafts.extend(_certificates(desired, site, scope, progress))

    restore = [
        *(_secure(site, o, on=True) for o, _ in treated if o.secure_communications),
        *(_assign(site, o, o.management_server_list, step_ids.restore_msl(o.key)) for o, _ in on_copy),
    ]
    drafts.extend(restore)

    if desired.actuators.msl_delete is not None:
        still_used = {o.management_server_list for o in scope.treated} | {
            t.location.management_server_list for t in site.targets if t.key not in scope.treated_keys
        }
        deletions = [_delete(desired, d) for d in copies if d.step.management_server_list not in still_used]
        if deletions:
            moved_back = [d for d in restore if step_ids.parse(d.step.id).kind == step_ids.RESTORE_MSL]
            groups = frozenset(d.step.group_id for d in moved_back if d.step.group_id is not None)
            changes = [d for d in restore if d.step.group_id in groups]
            drafts.append(
                _group_gate(
                    site, step_ids.RESTORED_GATE, groups, changes, "moved back to their original lists"
                )
            )
            drafts.extend(deletions)
    return tuple(drafts)


def _certificates(
    desired: DesiredSite, site: SiteView, scope: Scope, progress: Progress | None
) -> list[Draft]:
    done = progress.done if progress is not None else {}
    servers = scope.servers
    moved = {s.name for s in servers if _moved(site, s, progress)}
    in_doubt: set[str] = set()
    if progress is not None and progress.aborted:
        in_doubt = {s.name for s in servers if s.name not in moved and _attempted(s, progress)}
        servers = tuple(s for s in servers if s.name in moved | in_doubt)

    def rank(server: Server) -> int:
        """0: on its new certificate already (needs only its gate); 1: moved elsewhere (needs an act);
        2: untouched. No server is acted on while another one that already changed is inside its gate."""
        if _on_new(site, server, done):
            return 0
        return 1 if server.name in moved else 2

    ordered = sorted(servers, key=rank)  # stable: desired order within each rank
    drafts: list[Draft] = []
    for server in ordered:
        drafts.append(_update(desired, site, server, in_doubt=server.name in in_doubt))
        if scope.procedure == "multi-server":
            drafts.append(_site_gate(site, step_ids.certificate_gate(server.name), [server]))
    if ordered and scope.procedure == "single-server":
        drafts.append(_site_gate(site, step_ids.CERTIFICATES_GATE, ordered))
    return drafts


def _moved(site: SiteView, server: Server, progress: Progress | None) -> bool:
    """The server's certificate changed in this rotation: journalled, visible, or no longer the original."""
    if progress is None:
        return False
    if _on_new(site, server, progress.done):
        return True
    original = progress.original_certificates.get(server.name)
    observed = site.observed.server(server.name)
    return original is not None and observed is not None and observed.presented_fingerprints() != {original}


def _attempted(server: Server, progress: Progress) -> bool:
    """Acted on, not done, and not acknowledged as "not applied"."""
    step_id = step_ids.update_certificate(server.name)
    return (
        step_id in progress.attempted
        and step_id not in progress.done
        and step_id not in progress.acknowledged
    )


def _copy(desired: DesiredSite, site: SiteView, msl: ManagementServerList) -> Draft:
    ports = {name: server.ports.http for name in msl.servers if (server := desired.server(name))}
    shown = ", ".join(f"{name}:{port}" for name, port in ports.items())
    step = Step(
        id=step_ids.copy_msl(msl.name),
        kind=StepKind.COPY_MSL,
        state=StepState.WAITING,
        actuator=desired.actuators.msl_copy.kind,
        description=f"copy management server list '{msl.name}' to '{msl.copy_name}' using HTTP ({shown})",
        management_server_list=msl.copy_name,
        source_management_server_list=msl.name,
        http_ports=ports,
    )
    # SEPM cannot list MSLs, but a location seen on the copy shows that the copy exists.
    in_use = any(loc.management_server_list == msl.copy_name for _, loc in site.observed.iter_locations())
    return Draft(step, visible=True if in_use else None)


def _delete(desired: DesiredSite, copy: Draft) -> Draft:
    assert desired.actuators.msl_delete is not None  # callers only delete with an actuator
    source = copy.step.source_management_server_list
    assert source is not None  # every copy step names the list it copies
    step = Step(
        id=step_ids.delete_msl_copy(source),
        kind=StepKind.DELETE_MSL_COPY,
        state=StepState.WAITING,
        actuator=desired.actuators.msl_delete.kind,
        description=f"delete management server list '{copy.step.management_server_list}' (the HTTP copy)",
        management_server_list=copy.step.management_server_list,
        source_management_server_list=source,
    )
    return Draft(step, visible=None)


def _assign(site: SiteView, original: LocationOriginal, msl: str, step_id: str) -> Draft:
    location = site.location(original.group_id, original.location_id)
    step = Step(
        id=step_id,
        kind=StepKind.ASSIGN_MSL,
        state=StepState.WAITING,
        actuator=ActuatorKind.REST,
        description=f"assign management server list '{msl}' to {original.where}",
        management_server_list=msl,
        group_id=original.group_id,
        group_path=original.group_path,
        location_id=original.location_id,
        location_name=original.location_name,
    )
    visible = location is not None and location.management_server_list == msl
    return Draft(step, visible=visible, location_missing=location is None)


def _secure(site: SiteView, original: LocationOriginal, *, on: bool) -> Draft:
    location = site.location(original.group_id, original.location_id)
    verb = "enable" if on else "disable"
    step = Step(
        id=step_ids.secure_communications(original.key, on=on),
        kind=StepKind.ENABLE_SECURE_COMMUNICATIONS if on else StepKind.DISABLE_SECURE_COMMUNICATIONS,
        state=StepState.WAITING,
        actuator=ActuatorKind.REST,
        description=f"{verb} secure communications on {original.where}",
        secure_communications=on,
        group_id=original.group_id,
        group_path=original.group_path,
        location_id=original.location_id,
        location_name=original.location_name,
    )
    visible = location is not None and location.secure_communications is on
    return Draft(step, visible=visible, location_missing=location is None)


def _update(desired: DesiredSite, site: SiteView, server: Server, *, in_doubt: bool) -> Draft:
    keystore = server.certificate.keystore
    step = Step(
        id=step_ids.update_certificate(server.name),
        kind=StepKind.UPDATE_CERTIFICATE,
        state=StepState.WAITING,
        actuator=desired.actuators.certificate_update.kind,
        description=f"update the certificate of {server.name} to SHA-256 {server.certificate.sha256}",
        server=server.name,
        certificate=server.certificate.sha256,
        keystore=keystore.path if keystore is not None else None,
    )
    return Draft(step, visible=_visible(site, server), in_doubt=in_doubt)


def _group_gate(
    site: SiteView, gate_id: str, groups: frozenset[str], changes: Sequence[Draft], what: str
) -> Draft:
    """A gate over the clients whose settings come from ``groups``, each counted from the latest of the
    ``changes`` made to its own settings-source group (from the rotation's start if there were none)."""
    by_group: dict[str, list[str]] = {}
    for draft in changes:
        if draft.step.group_id is not None:
            by_group.setdefault(draft.step.group_id, []).append(draft.step.id)
    parts = tuple(Part(tuple(by_group.get(group, ())), (group,)) for group in sorted(groups))
    step = Step(
        id=gate_id,
        kind=StepKind.GATE,
        state=StepState.WAITING,
        actuator=ActuatorKind.JOURNAL,
        description=f"wait until the clients of the groups {what} have checked in",
    )
    return Draft(step, visible=None, gate=GateScope(parts, tuple(d.step.id for d in changes)))


def _site_gate(site: SiteView, gate_id: str, updates: Sequence[Server]) -> Draft:
    """A gate over every client of the site, counted from the latest of the given certificate updates."""
    since = tuple(step_ids.update_certificate(s.name) for s in updates)
    names = ", ".join(s.name for s in updates)
    step = Step(
        id=gate_id,
        kind=StepKind.GATE,
        state=StepState.WAITING,
        actuator=ActuatorKind.JOURNAL,
        description=f"wait until every client has checked in since the new certificate of {names}",
        server=updates[0].name if len(updates) == 1 else None,
    )
    every = Part(since, tuple(site.clients.sources))
    return Draft(step, visible=None, gate=GateScope((every,), since, unsourced=True))


def _visible(site: SiteView, server: Server) -> bool:
    return presents_desired(site.observed.server(server.name), server.certificate.sha256)


def _on_new(site: SiteView, server: Server, done: Mapping[str, StepRecord]) -> bool:
    """The server is on its new certificate: its update is journalled, or visible."""
    return step_ids.update_certificate(server.name) in done or _visible(site, server)


def _distinct(msls: Iterable[ManagementServerList]) -> list[ManagementServerList]:
    seen: dict[str, ManagementServerList] = {}
    for msl in msls:
        seen.setdefault(msl.name, msl)
    return list(seen.values())
