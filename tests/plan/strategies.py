"""Hypothesis strategies: generated SEPM sites, desired states and journals for the planner's properties.

A generated site has 1-4 servers, 1-3 MSLs over them, a group tree of up to 7 groups (inheriting and
not, nested), locations with and without their own settings, and up to 8 clients of 14.3, 14.2 and
unparseable versions, online and offline, some silent for weeks (dormant). ``plausible`` sites are what
a rotation can start from (every server presents one certificate, old or new); the others may also
hold corrupted or foreign certificates and unknown MSLs. Journals are arbitrary: any subset of the
step ids the site could have, with times, acknowledgements, proceeds, an abort and certificate updates
acted on but not seen yet.

The strategies compute rotation targets on their own (non-inheriting group: default location plus
own-settings locations), so that the properties do not take the planner's word for them.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st

from reconciler.desired.schema import DesiredSite
from reconciler.model.observed import Observed, ObservedClient, ObservedGroup
from reconciler.model.progress import LocationOriginal, Progress, StepRecord
from reconciler.model.step_ids import target_key

from .builders import (
    CURRENT_AGENT,
    DAY,
    HOUR,
    ROOT,
    T0,
    client,
    desired_site,
    fingerprint,
    location,
    new,
    observed,
    old,
    server,
)
from .world import World

AGENTS = (CURRENT_AGENT, "14.3.558.0000", "14.2.1031.0100", "14.2.758.0000", "14.2.3335.1000", "12.1.6", "?")
HEARTBEATS = (60, 300, 3600)
STRAY_MSL = "Stray list"


@dataclass(frozen=True)
class Site:
    desired: DesiredSite
    observed: Observed


def targets(site: Observed) -> list[LocationOriginal]:
    """Rotation targets, computed independently of the planner."""
    found = []
    for group in site.groups:
        if site.settings_source(group).id != group.id:
            continue
        for loc in group.locations:
            if loc.is_default or not loc.uses_group_settings:
                found.append(
                    LocationOriginal(
                        group_id=group.id,
                        group_path=group.full_path,
                        location_id=loc.id,
                        location_name=loc.name,
                        management_server_list=loc.management_server_list,
                        secure_communications=loc.secure_communications,
                    )
                )
    return found


@st.composite
def desired_states(draw: st.DrawFn, servers: list[str]) -> DesiredSite:
    msl_count = draw(st.integers(1, 3))
    msls = [
        (f"MSL-{i}", draw(st.lists(st.sampled_from(servers), min_size=1, max_size=len(servers), unique=True)))
        for i in range(msl_count)
    ]
    procedures = ["auto", "single-server"] + (["multi-server"] if len(servers) >= 2 else [])
    return desired_site(
        servers=servers,
        msls=msls,
        procedure=draw(st.sampled_from(procedures)),
        http_ports={name: draw(st.sampled_from([8014, 8080])) for name in servers},
        previous=draw(st.booleans()),
        cycles=draw(st.integers(1, 3)),
        minimum_wait=draw(st.sampled_from([0, 600, 3600])),
        dormant_after=draw(st.sampled_from([86400, 2 * 86400, 7 * 86400])),
        max_lagging=draw(st.integers(0, 2)),
        timeout=draw(st.sampled_from([7200, 86400, 7 * 86400])),
        msl_delete=draw(st.booleans()),
    )


@st.composite
def groups(draw: st.DrawFn, msl_names: list[str]) -> list[ObservedGroup]:
    made: list[ObservedGroup] = []
    for index in range(draw(st.integers(1, 7))):
        gid = f"g{index}"
        parent = draw(st.sampled_from(made)) if made else None
        path = ROOT if parent is None else f"{parent.full_path}\\G{index}"
        extra = draw(st.integers(0, 2))
        locations = [
            location(
                f"{gid}-L{n}",
                "Default" if n == 0 else f"Loc{n}",
                msl=draw(st.sampled_from(msl_names)),
                secure=draw(st.booleans()),
                heartbeat=draw(st.sampled_from(HEARTBEATS)),
                default=n == 0,
                own_settings=n > 0 and draw(st.booleans()),
            )
            for n in range(extra + 1)
        ]
        made.append(
            ObservedGroup(
                id=gid,
                full_path=path,
                inherits=parent is not None and draw(st.booleans()),
                policy_serial=f"{gid}-{draw(st.integers(1, 3))}",
                locations=tuple(locations),
            )
        )
    return made


ODDITIES = ("corrupt", "foreign", "stray-msl", "copy-msl", "half-rolled")


@st.composite
def sites(draw: st.DrawFn, *, plausible: bool = True, converged: bool = False) -> Site:
    """A desired state and an observation of the same site at ``T0``.

    Not ``plausible``: at most one oddity per site (a server whose ports disagree, a foreign certificate,
    a location on an unknown MSL or on an HTTP copy, one server alone on its new certificate), so that
    most generated sites still plan deeply.
    """
    names = [f"sepm0{i}" for i in range(1, draw(st.integers(1, 4)) + 1)]
    desired = draw(desired_states(names))
    oddity = None if plausible or converged else draw(st.sampled_from((None, None, None, *ODDITIES)))
    msl_names = [m.name for m in desired.management_server_lists]
    if oddity == "stray-msl":
        msl_names.append(STRAY_MSL)
    elif oddity == "copy-msl":
        msl_names.append(desired.management_server_lists[0].copy_name)
    site_groups = draw(groups(msl_names))
    # Groups whose locations are insecure are declared so (secureCommunicationsOff): otherwise, with no
    # journal, they would be evidence of a rotation under way (``adoption``).
    insecure = sorted(
        {g.full_path for g in site_groups if any(not loc.secure_communications for loc in g.locations)}
    )
    desired = desired.model_copy(update={"secure_communications_off": tuple(insecure)})
    odd_server = draw(st.sampled_from(names))
    # Servers all on their old or all on their new certificates; half-way is an oddity (a rolling update
    # that no journal explains).
    site_on_new = converged or draw(st.integers(0, 7)) == 0
    observed_servers = []
    for name in names:
        if oddity == "corrupt" and name == odd_server:
            observed_servers.append(server(name, per_port={"console": new(name)}))
        elif oddity == "foreign" and name == odd_server:
            observed_servers.append(server(name, fingerprint(f"{name}-foreign")))
        elif oddity == "half-rolled" and name == odd_server:
            observed_servers.append(server(name, new(name)))
        else:
            observed_servers.append(server(name, new(name) if site_on_new else old(name)))
    clients = [
        client(
            f"c{n}",
            draw(st.sampled_from(site_groups)).id,
            version=draw(st.sampled_from(AGENTS)),
            last=T0 - draw(st.sampled_from([0, 5 * 60_000, HOUR, 2 * DAY, 30 * DAY])),
            online=draw(st.integers(0, 3)) > 0,
        )
        for n in range(draw(st.integers(0, 8)))
    ]
    # Most clients hold their group's current policy serial; some are stale.
    by_id = {g.id: g for g in site_groups}
    clients = [
        c.model_copy(update={"profile_serial": by_id[c.group_id].policy_serial}) if draw(st.booleans()) else c
        for c in clients
    ]
    return Site(desired, observed(servers=observed_servers, groups=site_groups, clients=clients))


def step_phases(site: Site) -> list[list[str]]:
    """Every step id the planner could emit for this site, by phase of the procedure (computed from the
    site and PROCEDURE.md, not from the planner): prepare, prepare gate, certificates, restore, clean up."""
    keys = [t.key for t in targets(site.observed)]
    msls = [m.name for m in site.desired.management_server_lists]
    servers = [s.name for s in site.desired.servers]
    return [
        [f"copy_msl:{m}" for m in msls]
        + [f"assign_msl:{k}" for k in keys]
        + [f"disable_secure_communications:{k}" for k in keys],
        ["gate:prepared"],
        [f"update_certificate:{s}" for s in servers]
        + [f"gate:certificate:{s}" for s in servers]
        + ["gate:certificates"],
        [f"enable_secure_communications:{k}" for k in keys] + [f"restore_msl:{k}" for k in keys],
        ["gate:restored"] + [f"delete_msl_copy:{m}" for m in msls],
    ]


def step_ids(site: Site) -> list[str]:
    return [step_id for phase in step_phases(site) for step_id in phase]


@st.composite
def journals(draw: st.DrawFn, site: Site) -> Progress:
    """Any journal for the site: originals, done steps, acknowledgements, proceeds, abort.

    Mostly consistent (the site's digest, originals as observed, old certificates), sometimes not, so
    that both deep plans and the checks that refuse a confused journal are exercised.
    """
    desired = site.desired
    consistent = draw(st.sampled_from([True, True, True, False]))
    procedures = ["single-server"] + (["multi-server"] if len(desired.servers) >= 2 else [])
    procedure = draw(st.sampled_from(procedures))
    all_targets = targets(site.observed)
    chosen = draw(st.lists(st.sampled_from(all_targets), unique_by=lambda t: t.key)) if all_targets else []
    if consistent and procedure == "single-server":
        chosen = all_targets
    msl_names = [m.name for m in desired.management_server_lists]
    originals = {}
    for target in chosen:
        original = target
        if not consistent and draw(st.booleans()):
            original = target.model_copy(
                update={
                    "management_server_list": draw(st.sampled_from(msl_names)),
                    "secure_communications": draw(st.booleans()),
                }
            )
        originals[target_key(original.group_id, original.location_id)] = original
    ids = step_ids(site)
    # How far along: every phase before a drawn one is done, then a random part of that phase, and
    # (for a confused journal) random ids from anywhere.
    phases = step_phases(site)
    reached = draw(st.sampled_from(range(len(phases) + 1)))
    done = [i for phase in phases[:reached] for i in phase]
    if reached < len(phases):
        done += draw(st.lists(st.sampled_from(phases[reached]), unique=True))
    if not consistent:
        done += draw(st.lists(st.sampled_from(ids), unique=True))
    presented = {s.name: sorted(s.presented_fingerprints())[0] for s in site.observed.servers}
    updates = [i for i in ids if i.startswith("update_certificate:")]  # acted on, maybe not seen yet
    if consistent:
        original_certificates = {
            name: presented[name] if presented[name] == new(name) else old(name) for name in presented
        }
    else:
        choices = [old, new, lambda name: fingerprint("x")]
        original_certificates = {s.name: draw(st.sampled_from(choices))(s.name) for s in desired.servers}
    return Progress(
        rotation_id="r1",
        desired_digest=desired.digest() if consistent or draw(st.booleans()) else "0" * 64,
        procedure=procedure,
        started_at=T0 - 3 * DAY,
        originals=originals,
        original_certificates=original_certificates,
        done={i: StepRecord(applied_at=T0 - draw(st.integers(0, 2 * DAY))) for i in dict.fromkeys(done)},
        acknowledged={i: "ack" for i in draw(st.lists(st.sampled_from(ids), unique=True, max_size=4))},
        proceeded={
            i: "break-glass"
            for i in draw(st.lists(st.sampled_from([i for i in ids if i.startswith("gate:")]), max_size=2))
        },
        aborted=draw(st.integers(0, 3)) == 0,
        attempted=tuple(i for i in draw(st.lists(st.sampled_from(updates), unique=True)) if i not in done),
    )


@st.composite
def journalled_sites(draw: st.DrawFn) -> tuple[Site, Progress | None]:
    """A site, maybe with a journal, whose observation already shows the journalled changes (as SEPM
    would after those steps), so that later steps are reached with their effects still to make; in
    some, one of those changes was then undone on SEPM, or a server changed on its own."""
    site = draw(sites(plausible=False))
    if draw(st.sampled_from([False, True, True])) is False:
        return site, None
    progress = draw(journals(site))
    world = World(site.desired, site.observed)
    done = progress.done
    for key, original in progress.originals.items():
        group_id, location_id = key.split("/", 1)
        msl = site.desired.msl(original.management_server_list)
        if f"restore_msl:{key}" in done:
            world.change_location(
                group_id, location_id, management_server_list=original.management_server_list
            )
        elif f"assign_msl:{key}" in done and msl is not None:
            world.change_location(group_id, location_id, management_server_list=msl.copy_name)
        if f"enable_secure_communications:{key}" in done:
            world.change_location(group_id, location_id, secure_communications=True)
        elif f"disable_secure_communications:{key}" in done:
            world.change_location(group_id, location_id, secure_communications=False)
    for s in site.desired.servers:
        if f"update_certificate:{s.name}" in done:
            world.present(s.name, new(s.name))
    # Sometimes SEPM then changes behind the rotation's back: a location goes back to its original
    # list or flag, a server to its old certificate or to its new one out of turn.
    drift = draw(st.sampled_from([None, None, "location", "certificate"]))
    if drift == "location" and progress.originals:
        original = progress.originals[draw(st.sampled_from(sorted(progress.originals)))]
        world.change_location(
            original.group_id,
            original.location_id,
            management_server_list=original.management_server_list,
            secure_communications=draw(st.booleans()),
        )
    elif drift == "certificate":
        name = draw(st.sampled_from([s.name for s in site.desired.servers]))
        world.present(name, draw(st.sampled_from([old(name), new(name)])))
    return Site(site.desired, world.observed), progress


@dataclass(frozen=True)
class Newcomer:
    group: ObservedGroup
    clients: tuple[ObservedClient, ...]


@st.composite
def newcomers(draw: st.DrawFn, site: Site) -> Newcomer:
    """A group (own settings, or inheriting) with a client or two, to appear in the middle of a rotation."""
    gid = "g-new"
    msl = draw(st.sampled_from([m.name for m in site.desired.management_server_lists]))
    added = ObservedGroup(
        id=gid,
        full_path=f"{ROOT}\\Newcomers",
        inherits=draw(st.booleans()),
        policy_serial=f"{gid}-1",
        locations=(location(f"{gid}-L0", msl=msl, secure=draw(st.booleans())),),
    )
    clients = tuple(
        client(f"n{n}", gid, version=draw(st.sampled_from(AGENTS)), last=T0)
        for n in range(draw(st.integers(1, 2)))
    )
    return Newcomer(added, clients)
