"""The safety invariants (DESIGN.md) as properties over generated sites, journals and whole rotations.

``check_invariants`` states them once; two kinds of input feed it: arbitrary journals (any subset of
steps done, acknowledgements, proceeds, aborts: what a crash or a confused operator could leave), and
rotations driven step by step on the toy SEPM with silent clients, break-glass proceeds and aborts.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.desired.schema import DesiredSite
from reconciler.model.observed import Observed
from reconciler.model.plan import Plan, Step, StepKind, StepState
from reconciler.model.progress import LocationOriginal, Progress, StepRecord
from reconciler.plan import plan

from .builders import HOUR, MIN, T0, new, old
from .strategies import Site, journalled_sites, newcomers, sites, targets
from .world import World

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LOCATION_KINDS = (
    StepKind.ASSIGN_MSL,
    StepKind.DISABLE_SECURE_COMMUNICATIONS,
    StepKind.ENABLE_SECURE_COMMUNICATIONS,
)


def check_invariants(
    desired: DesiredSite, observed: Observed, progress: Progress | None, result: Plan
) -> None:
    """Every safety property a plan must have, whatever its inputs."""
    _check_sequence(result)
    originals = progress.originals if progress is not None else result.originals
    if progress is None:
        observed_targets = {t.key: t for t in targets(observed)}
        assert all(observed_targets.get(key) == original for key, original in originals.items())
    _check_restores_exact(desired, originals, result)
    current = result.current
    if progress is None and current is not None and current.state is not StepState.BLOCKED:
        assert current.state is StepState.READY, "a rotation must be able to start on its first step"
        assert current.kind is not StepKind.GATE
    if progress is not None and result.blocked is None:
        _check_done_still_visible(desired, observed, progress, result)
    for step in result.ready:  # every step of the run is carried out in one pass: each must be safe
        if step.kind is StepKind.UPDATE_CERTIFICATE and not step.satisfied:
            _check_update_is_safe(desired, observed, progress, result, step)
        if step.kind is StepKind.ENABLE_SECURE_COMMUNICATIONS or step.id.startswith("restore_msl:"):
            _check_enable_after_certificates(desired, observed, progress, result, step)


def _check_sequence(result: Plan) -> None:
    """Strict sequence: the ready steps are one run starting at the first step not done, with no gate in
    it but (open) at its head; nothing after the run is ready or measured."""
    ready = [s for s in result.steps if s.state is StepState.READY]
    assert ready == list(result.ready), "ready steps outside the leading run"
    assert all(s.kind is not StepKind.GATE for s in ready[1:]), "a gate inside a run"
    current = result.current
    if current is None:
        return
    index = result.steps.index(current)
    assert all(s.state is StepState.DONE for s in result.steps[:index])
    end = result.steps.index(ready[-1]) if ready else index
    for later in result.steps[end + 1 :]:
        assert later.state in (StepState.DONE, StepState.WAITING)
        assert later.state is StepState.DONE or later.gate is None


def _check_restores_exact(desired: DesiredSite, originals: dict[str, LocationOriginal], result: Plan) -> None:
    """Invariant 3: location steps touch journalled locations only, and restore exactly what was there."""
    for step in result.steps:
        if step.kind not in LOCATION_KINDS:
            continue
        key = f"{step.group_id}/{step.location_id}"
        assert key in originals, f"{step.id} touches a location outside the rotation"
        original = originals[key]
        if step.kind is StepKind.ENABLE_SECURE_COMMUNICATIONS:
            assert step.secure_communications is True
            assert original.secure_communications is True
        elif step.kind is StepKind.DISABLE_SECURE_COMMUNICATIONS:
            assert step.secure_communications is False
            assert original.secure_communications is True
        elif step.id.startswith("restore_msl:"):
            assert step.management_server_list == original.management_server_list
        else:
            msl = desired.msl(original.management_server_list)
            assert msl is not None
            assert step.management_server_list == msl.copy_name


def _changed_servers(desired: DesiredSite, observed: Observed, progress: Progress | None) -> set[str]:
    """Servers no longer presenting the certificate journalled at the rotation's start."""
    if progress is None:
        return set()
    changed = set()
    for s in desired.servers:
        original = progress.original_certificates.get(s.name)
        found = observed.server(s.name)
        if original is not None and found is not None and found.presented_fingerprints() != {original}:
            changed.add(s.name)
    return changed


def _gate_done(result: Plan, server: str) -> bool:
    """The server's certificate gate is done, or open at the head of the run (recorded before the rest)."""
    head = result.ready[:1]
    return any(
        s.id in (f"gate:certificate:{server}", "gate:certificates")
        and (s.state is StepState.DONE or s in head)
        for s in result.steps
    )


def _check_update_is_safe(
    desired: DesiredSite, observed: Observed, progress: Progress | None, result: Plan, current: Step
) -> None:
    """Invariant 1: a certificate changes only when no client in scope could still need the old one."""
    aborted = progress is not None and progress.aborted
    originals = progress.originals if progress is not None else result.originals
    procedure = progress.procedure if progress is not None else result.procedure
    if originals and not aborted:
        prepared = [s for s in result.steps if s.id == "gate:prepared"]
        if prepared:
            assert _done_before(result, prepared[0], current), "an update before the prepare gate opened"
        else:
            assert all(_copy_of(desired, o) and not o.secure_communications for o in originals.values()), (
                "only a rotation with nothing to prepare has no prepare gate"
            )
    _check_still_prepared(desired, observed, progress, originals)
    untreated = [t for t in targets(observed) if t.key not in originals]
    if procedure == "single-server" and not aborted:
        assert untreated == [], "single-server: every location must have been prepared"
    if procedure == "multi-server":
        legacy = _groups_with_legacy_clients(observed)
        for t in untreated:
            msl = desired.msl(t.management_server_list)
            assert msl is not None
            assert msl.can_fail_over, f"{t.key} relies on failover through {msl.name}"
            assert aborted or t.group_id not in legacy, f"{t.key} holds 14.2 clients, which cannot fail over"
        for step in result.steps:
            other = step.server
            if (
                step.kind is StepKind.UPDATE_CERTIFICATE
                and other != current.server
                and step.state is StepState.DONE
            ):
                assert _gate_done(result, other or ""), f"{other} is still inside its gate"
        for other in _changed_servers(desired, observed, progress) - {current.server}:
            assert _gate_done(result, other), f"{other} changed and is still inside its gate"


def _done_before(result: Plan, earlier: Step, step: Step) -> bool:
    """``earlier`` is done, or open at the head of the run that ``step`` is part of (recorded first)."""
    if earlier.state is StepState.DONE:
        return True
    run = list(result.ready)
    return earlier in run and step in run and run.index(earlier) < run.index(step)


def _copy_of(desired: DesiredSite, original: LocationOriginal) -> bool:
    """The location was on an HTTP copy at the start."""
    msl = desired.msl(original.management_server_list)
    return msl is not None and original.management_server_list == msl.copy_name


def _check_still_prepared(
    desired: DesiredSite,
    observed: Observed,
    progress: Progress | None,
    originals: dict[str, LocationOriginal],
) -> None:
    """Invariant 1, single-server part: when a certificate update acts, every treated location shows what
    its preparation made of it: all of them in a running rotation, the ones journalled done under abort."""
    aborted = progress is not None and progress.aborted
    done = progress.done if progress is not None else {}
    locations = {f"{g.id}/{loc.id}": loc for g, loc in observed.iter_locations()}
    for key, original in originals.items():
        msl = desired.msl(original.management_server_list)
        location = locations.get(key)
        if msl is None or location is None:
            continue
        if not aborted or f"assign_msl:{key}" in done or _copy_of(desired, original):
            assert location.management_server_list == msl.copy_name, f"{key} is not on its HTTP copy"
        if (
            not aborted
            or f"disable_secure_communications:{key}" in done
            or not original.secure_communications
        ):
            assert not location.secure_communications, f"{key} has secure communications on"


def _check_done_still_visible(
    desired: DesiredSite, observed: Observed, progress: Progress, result: Plan
) -> None:
    """A plan that goes on (not blocked) never relies on a done update its server no longer shows, and
    never lets a second server change while another one is inside its gate (multi-server)."""
    if result.current is None:
        return
    for step in result.steps:
        if step.kind is StepKind.UPDATE_CERTIFICATE and step.state is StepState.DONE:
            found = observed.server(step.server or "")
            assert found is not None
            assert found.presented_fingerprints() == {step.certificate}, f"{step.server} reverted"
    if progress.aborted or progress.procedure != "multi-server":
        return
    state = {s.id: s.state for s in result.steps}
    inside = [
        s.server
        for s in result.steps
        if s.kind is StepKind.UPDATE_CERTIFICATE
        and s.state is StepState.DONE
        and state.get(f"gate:certificate:{s.server}") not in (None, StepState.DONE)
        and f"gate:certificate:{s.server}" not in progress.proceeded
    ]
    for server in inside:
        others = _changed_servers(desired, observed, progress) - {server}
        out_of_turn = [o for o in others if state.get(f"gate:certificate:{o}") is not StepState.DONE]
        assert out_of_turn == [], f"{out_of_turn} changed while {server} is inside its gate"


def _groups_with_legacy_clients(observed: Observed) -> set[str]:
    """Settings-source groups holding a 14.2-family client (the procedure's words, spelled out here apart
    from the planner's own rule)."""
    groups = observed.groups_by_id()
    return {
        observed.settings_source(groups[c.group_id]).id
        for c in observed.clients
        if c.group_id in groups and c.agent_version.split(".")[:2] == ["14", "2"]
    }


def _check_enable_after_certificates(
    desired: DesiredSite, observed: Observed, progress: Progress | None, result: Plan, step: Step
) -> None:
    """Invariant 2: secure communications (and the HTTPS lists) come back only after every certificate
    gate, with every updated server still on its new certificate and no update that may still apply."""
    for earlier in result.steps[: result.steps.index(step)]:
        if earlier.kind is StepKind.UPDATE_CERTIFICATE or earlier.id.startswith("gate:certificate"):
            assert _done_before(result, earlier, step), f"{earlier.id} is not done before {step.id}"
    for server in _changed_servers(desired, observed, progress):
        assert _gate_done(result, server), f"{server} changed without a closed gate"
    if progress is None:
        return
    for s in desired.servers:
        step_id = f"update_certificate:{s.name}"
        found = observed.server(s.name)
        original = progress.original_certificates.get(s.name)
        in_doubt = step_id in progress.attempted and step_id not in progress.done
        if in_doubt and found is not None and original != s.certificate.sha256:
            shows_original = found.presented_fingerprints() == {original}
            assert not shows_original or step_id in progress.acknowledged, f"{step_id} may still apply"


@PROPERTY
@given(journalled=journalled_sites(), data=st.data())
def test_any_journal_plans_safely(journalled: tuple[Site, Progress | None], data: st.DataObject) -> None:
    """For any site and any journal the plan never raises, is deterministic and keeps the invariants."""
    site, progress = journalled
    now = T0 + data.draw(st.sampled_from([0, MIN, HOUR, 10 * 24 * HOUR]))

    result = plan(site.desired, site.observed, progress, now)

    assert result == plan(site.desired, site.observed, progress, now)
    check_invariants(site.desired, site.observed, progress, result)


@PROPERTY
@given(journalled=journalled_sites())
def test_recorded_step_is_never_ready_again(journalled: tuple[Site, Progress | None]) -> None:
    """Re-planning after journalling the ready step as done never offers that step again."""
    site, progress = journalled
    result = plan(site.desired, site.observed, progress, T0)
    current = result.current
    if current is None or current.state is not StepState.READY or result.procedure is None:
        return
    journal = progress or Progress(
        rotation_id="r1",
        desired_digest=site.desired.digest(),
        procedure=result.procedure,
        started_at=T0,
        originals=result.originals,
        original_certificates=result.original_certificates,
    )
    journal = journal.model_copy(update={"done": {**journal.done, current.id: StepRecord(applied_at=T0)}})

    again = plan(site.desired, site.observed, journal, T0)

    assert current.id not in [s.id for s in again.steps if s.state is StepState.READY]
    assert all(s.state is StepState.DONE for s in again.steps if s.id == current.id)


@PROPERTY
@given(site=sites(converged=True))
def test_converged_site_has_an_empty_plan(site: Site) -> None:
    """Every server presenting its desired certificate and no rotation: no steps at all."""
    result = plan(site.desired, site.observed, None, T0)

    assert result.steps == ()
    assert result.converged


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(site=sites(), data=st.data())
def test_driven_rotations_keep_the_invariants(site: Site, data: st.DataObject) -> None:
    """Whole rotations with silent clients, proceeds, aborts, a group (maybe of 14.2 clients) appearing
    half-way and SEPM changed behind the rotation's back (a location back to its original settings, a
    server on its old or new certificate) keep every invariant at every step, and a finished rotation
    leaves every location as it was."""
    silent = set(data.draw(st.lists(st.sampled_from([c.id for c in site.observed.clients] or ["-"]))))
    world = World(site.desired, site.observed, checks_in=lambda c: c.online and c.id not in silent)
    before = {t.key: t for t in targets(site.observed)}
    abort_at = data.draw(st.none() | st.sampled_from(range(1, 200)))
    grow_at = data.draw(st.none() | st.sampled_from(range(1, 100)))
    newcomer = data.draw(newcomers(site))
    # The surprise comes at the first gate from a drawn tick on: while clients are being counted.
    surprise_at = data.draw(st.none() | st.sampled_from(range(1, 60)))
    surprise = data.draw(st.sampled_from(["location", "certificate"]))
    result = None
    for tick in range(300):
        in_gate = result is not None and result.current is not None and result.current.kind is StepKind.GATE
        if surprise_at is not None and tick >= surprise_at and in_gate:
            surprise_at = None
            if surprise == "location" and before:
                original = before[data.draw(st.sampled_from(sorted(before)))]
                world.change_location(
                    original.group_id,
                    original.location_id,
                    management_server_list=original.management_server_list,
                    secure_communications=original.secure_communications,
                )
            elif surprise == "certificate":
                name = data.draw(st.sampled_from([s.name for s in site.desired.servers]))
                world.present(name, data.draw(st.sampled_from([old(name), new(name)])))
        if tick == grow_at:
            world.observed = world.observed.model_copy(
                update={
                    "groups": (*world.observed.groups, newcomer.group),
                    "clients": (*world.observed.clients, *newcomer.clients),
                }
            )
        observed_now, progress_now = world.observed, world.progress
        result = world.tick(wait_ms=data.draw(st.sampled_from([MIN, 10 * MIN, HOUR, 6 * HOUR])))
        check_invariants(site.desired, observed_now, progress_now, result)
        current = result.current
        if current is None:
            break
        running = world.progress is not None and not world.progress.aborted
        if current.state is StepState.BLOCKED:
            if current.reason == "GateDeadlineExceeded" and data.draw(st.booleans()):
                world.proceed(current.id)
            elif running and data.draw(st.booleans()):
                world.abort()
            else:
                break
        elif running and tick == abort_at:
            world.abort()
    if result is not None and result.converged and world.progress is not None:
        after = {t.key: t for t in targets(world.observed)}
        assert {k: after[k] for k in before} == before, (
            "a finished rotation leaves every location as it found it"
        )
