"""What a rotation covers: its procedure, the locations it treats, and the servers it updates.

Contract:
- A **treated** target gets the single-server treatment (PROCEDURE.md): it is moved to the HTTP copy
  of its Management Server List and, if its secure-communications flag was on, that flag is switched
  off until every client holds the new certificates; then both are put back exactly as they were.
- Once a rotation has started (``progress`` exists) the procedure and the treated set are the
  journal's: ``progress.procedure`` and the keys of ``progress.originals``. They are fixed at the
  start so that a 14.2 client appearing half-way cannot switch the site to another procedure.
- Before the start, ``desired.procedure`` decides:

  ============  =================================================================================
  single-server every target is treated.
  multi-server  targets whose settings-source group holds a 14.2 / 14.2.1 client are treated (the
                mixed procedure); every other target relies on failover, which the check
                ``FailoverNotPossible`` demands.
  auto          multi-server when the desired site has two or more servers; then targets whose MSL
                lists fewer than two servers, and targets of groups holding 14.2 clients, are
                treated. When every target ends up treated, or the site has one server, it is the
                plain single-server procedure.
  ============  =================================================================================

  A target whose MSL is not in the desired state counts as unable to fail over; the check
  ``UnknownManagementServerList`` blocks such a plan before it can matter.
- **Servers to update**, in desired order: those whose observed certificate differs from the desired
  one on any port, those whose journalled original certificate differs from the desired one (fixed at
  the start, so that a certificate changed by hand mid-rotation still gets its step and its gate), and
  those whose update the journal already holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from reconciler.desired.schema import DesiredSite, Server
from reconciler.model import step_ids
from reconciler.model.observed import Observed, ObservedServer
from reconciler.model.progress import LocationOriginal, Procedure, Progress
from reconciler.plan.site import SiteView, Target


@dataclass(frozen=True)
class Scope:
    """The procedure of a rotation, the targets it treats in step order, and the servers it updates."""

    procedure: Procedure
    treated: tuple[LocationOriginal, ...]
    servers: tuple[Server, ...]
    """`servers_to_update`, computed once per plan."""

    @cached_property
    def treated_keys(self) -> frozenset[str]:
        return frozenset(t.key for t in self.treated)

    @cached_property
    def treated_groups(self) -> frozenset[str]:
        return frozenset(t.group_id for t in self.treated)


def choose_scope(desired: DesiredSite, site: SiteView, progress: Progress | None) -> Scope:
    """The rotation's procedure and treated targets (the journal's once it has started)."""
    servers = servers_to_update(desired, site.observed, progress)
    if progress is not None:
        return Scope(progress.procedure, _in_site_order(progress.originals.values(), site), servers)
    if desired.procedure == "single-server" or len(desired.servers) < 2:
        return _single_server(site, servers)
    treated: list[Target] = []
    for target in site.targets:
        legacy = target.group.id in site.legacy_sources
        single_msl = desired.procedure == "auto" and not can_fail_over(
            desired, target.location.management_server_list
        )
        if legacy or single_msl:
            treated.append(target)
    if desired.procedure == "auto" and len(treated) == len(site.targets):
        return _single_server(site, servers)
    return Scope("multi-server", tuple(t.original() for t in treated), servers)


def can_fail_over(desired: DesiredSite, msl_name: str) -> bool:
    """The MSL (or its HTTP copy) is known and lists two or more distinct servers."""
    msl = desired.msl(msl_name)
    return msl is not None and msl.can_fail_over


def presents_desired(server: ObservedServer | None, fingerprint: str) -> bool:
    """Every TLS port of the server presents ``fingerprint`` (a server with no port presents nothing)."""
    if server is None or not server.certificates:
        return False
    return server.presented_fingerprints() == {fingerprint}


def servers_to_update(
    desired: DesiredSite, observed: Observed, progress: Progress | None
) -> tuple[Server, ...]:
    """The desired servers whose certificate this rotation changes, in desired order."""
    done = progress.done if progress is not None else {}
    originals = progress.original_certificates if progress is not None else {}
    chosen: list[Server] = []
    for server in desired.servers:
        wanted = server.certificate.sha256
        if (
            not presents_desired(observed.server(server.name), wanted)
            or originals.get(server.name, wanted) != wanted
            or step_ids.update_certificate(server.name) in done
        ):
            chosen.append(server)
    return tuple(chosen)


def _single_server(site: SiteView, servers: tuple[Server, ...]) -> Scope:
    return Scope("single-server", tuple(t.original() for t in site.targets), servers)


def _in_site_order(originals: Iterable[LocationOriginal], site: SiteView) -> tuple[LocationOriginal, ...]:
    """Journalled originals in the order the site lists its targets, so that the steps come in the same
    order before and after the rotation starts; locations no longer observed go last, by path."""
    position = {t.key: index for index, t in enumerate(site.targets)}
    return tuple(
        sorted(
            originals,
            key=lambda o: (
                position.get(o.key, len(position)),
                o.group_path.casefold(),
                o.location_name.casefold(),
                o.key,
            ),
        )
    )
