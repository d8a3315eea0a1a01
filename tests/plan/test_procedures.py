"""Whole rotations, step by step: plan, carry out the current step on a toy SEPM, advance time, re-plan.

Each test names the site, drives it to convergence with ``World.run`` (the controller loop in
miniature) and pins the exact sequence of steps recorded, then what SEPM looks like at the end.
"""

from __future__ import annotations

from reconciler.model.plan import StepKind, StepState

from .builders import (
    DEFAULT_MSL,
    HOUR,
    LEGACY_AGENT,
    MIN,
    ROOT,
    T0,
    client,
    desired_site,
    group,
    location,
    new,
    observed,
    old,
    server,
)
from .world import World

SALES = ROOT + "\\Sales"
COPY = f"{DEFAULT_MSL} (HTTP)"


def _location_settings(world: World) -> dict[str, tuple[str, bool]]:
    return {
        f"{g.id}/{loc.id}": (loc.management_server_list, loc.secure_communications)
        for g, loc in world.observed.iter_locations()
    }


def _presented(world: World) -> dict[str, set[str]]:
    return {s.name: s.presented_fingerprints() for s in world.observed.servers}


def test_single_server_site_runs_the_single_server_method() -> None:
    """One SEPM: HTTP copy, assign and disable everywhere, gate, update, gate, then restore exactly."""
    world = World(
        desired_site(),
        observed(
            servers=[server("sepm01")],
            groups=[
                group("g1", ROOT),
                group("g2", ROOT + "\\Default Group", inherits=True),
                group("g3", SALES),
            ],
            clients=[client("c1", "g2"), client("c2", "g3"), client("c3", "g1")],
        ),
    )
    before = _location_settings(world)

    last = world.run()

    assert world.plans[0].procedure == "single-server"
    assert world.recorded == [
        f"copy_msl:{DEFAULT_MSL}",
        "assign_msl:g1/g1-L1",
        "assign_msl:g3/g3-L1",
        "disable_secure_communications:g1/g1-L1",
        "disable_secure_communications:g3/g3-L1",
        "gate:prepared",
        "update_certificate:sepm01",
        "gate:certificates",
        "enable_secure_communications:g1/g1-L1",
        "enable_secure_communications:g3/g3-L1",
        "restore_msl:g1/g1-L1",
        "restore_msl:g3/g3-L1",
    ]
    assert last.converged
    assert _location_settings(world) == before
    assert _presented(world) == {"sepm01": {new("sepm01")}}


def test_single_server_plan_before_start_lists_originals_and_certificates() -> None:
    """Without progress the plan says what to journal: each treated location and each server's certificate."""
    world = World(desired_site(), observed(servers=[server("sepm01")], groups=[group("g1", ROOT)]))

    first = world.plan()

    assert list(first.originals) == ["g1/g1-L1"]
    original = first.originals["g1/g1-L1"]
    assert (original.management_server_list, original.secure_communications) == (DEFAULT_MSL, True)
    assert first.original_certificates == {"sepm01": old("sepm01")}
    assert first.current is not None
    assert first.current.id == f"copy_msl:{DEFAULT_MSL}"
    assert first.current.state is StepState.READY
    # The preparation is one run (copy, assign, disable), carried out in one pass; the rest waits.
    assert [s.id for s in first.ready] == [
        f"copy_msl:{DEFAULT_MSL}",
        "assign_msl:g1/g1-L1",
        "disable_secure_communications:g1/g1-L1",
    ]
    assert [s.state for s in first.steps[3:]] == [StepState.WAITING] * (len(first.steps) - 3)


def test_two_server_failover_site_rolls_one_server_at_a_time() -> None:
    """Two SEPMs in one failover MSL: update, gate, update, gate; no location is touched."""
    world = World(
        desired_site(servers=["sepm01", "sepm02"]),
        observed(
            servers=[server("sepm01"), server("sepm02")],
            groups=[group("g1", ROOT), group("g3", SALES)],
            clients=[client("c1", "g1"), client("c2", "g3")],
        ),
    )
    before = _location_settings(world)

    world.run()

    assert world.plans[0].procedure == "multi-server"
    assert world.plans[0].originals == {}
    assert world.recorded == [
        "update_certificate:sepm01",
        "gate:certificate:sepm01",
        "update_certificate:sepm02",
        "gate:certificate:sepm02",
    ]
    assert world.acted == ["update_certificate:sepm01", "update_certificate:sepm02"]
    assert _location_settings(world) == before
    ready_second = next(
        p for p in world.plans if p.current is not None and p.current.id == "update_certificate:sepm02"
    )
    first_gate = next(s for s in ready_second.steps if s.id == "gate:certificate:sepm01")
    assert first_gate.state is StepState.DONE


def test_two_server_site_with_14_2_clients_treats_only_their_group() -> None:
    """14.2 clients (here in an inheriting subgroup) get the single-server method around the rolling one."""
    world = World(
        desired_site(servers=["sepm01", "sepm02"]),
        observed(
            servers=[server("sepm01"), server("sepm02")],
            groups=[
                group("g1", ROOT),
                group("g4", ROOT + "\\Legacy"),
                group("g5", ROOT + "\\Legacy\\Kiosks", inherits=True),
            ],
            clients=[client("c1", "g1"), client("k1", "g5", version=LEGACY_AGENT), client("c4", "g4")],
        ),
    )

    world.run()

    assert world.plans[0].procedure == "multi-server"
    assert list(world.plans[0].originals) == ["g4/g4-L1"]
    assert world.recorded == [
        f"copy_msl:{DEFAULT_MSL}",
        "assign_msl:g4/g4-L1",
        "disable_secure_communications:g4/g4-L1",
        "gate:prepared",
        "update_certificate:sepm01",
        "gate:certificate:sepm01",
        "update_certificate:sepm02",
        "gate:certificate:sepm02",
        "enable_secure_communications:g4/g4-L1",
        "restore_msl:g4/g4-L1",
    ]
    assert _location_settings(world)["g4/g4-L1"] == (DEFAULT_MSL, True)


def test_msl_with_one_server_on_a_two_server_site_treats_its_locations() -> None:
    """auto: a location whose MSL cannot fail over gets the single-server method; the others roll."""
    branch_msl = "Branch"
    world = World(
        desired_site(
            servers=["sepm01", "sepm02"],
            msls=[(DEFAULT_MSL, ["sepm01", "sepm02"]), (branch_msl, ["sepm02"])],
        ),
        observed(
            servers=[server("sepm01"), server("sepm02")],
            groups=[group("g1", ROOT), group("g6", ROOT + "\\Branch", msl=branch_msl)],
            clients=[client("c1", "g1"), client("b1", "g6")],
        ),
    )

    world.run()

    assert world.plans[0].procedure == "multi-server"
    assert world.recorded == [
        f"copy_msl:{branch_msl}",
        "assign_msl:g6/g6-L1",
        "disable_secure_communications:g6/g6-L1",
        "gate:prepared",
        "update_certificate:sepm01",
        "gate:certificate:sepm01",
        "update_certificate:sepm02",
        "gate:certificate:sepm02",
        "enable_secure_communications:g6/g6-L1",
        "restore_msl:g6/g6-L1",
    ]
    assert _location_settings(world)["g6/g6-L1"] == (branch_msl, True)


def test_msl_with_one_server_blocks_the_explicit_multi_server_procedure() -> None:
    """procedure multi-server refuses a location whose MSL lists a single server: FailoverNotPossible."""
    world = World(
        desired_site(
            servers=["sepm01", "sepm02"],
            msls=[(DEFAULT_MSL, ["sepm01", "sepm02"]), ("Branch", ["sepm02"])],
            procedure="multi-server",
        ),
        observed(
            servers=[server("sepm01"), server("sepm02")],
            groups=[group("g1", ROOT), group("g6", ROOT + "\\Branch", msl="Branch")],
        ),
    )

    last = world.run()

    assert last.blocked is not None
    assert last.blocked.reason == "FailoverNotPossible"
    assert "Branch" in (last.blocked.message or "")
    assert world.progress is None


def test_group_already_insecure_is_neither_disabled_nor_re_enabled() -> None:
    """A location whose secure communications an admin had switched off is left off at the end."""
    world = World(
        desired_site(),
        observed(
            servers=[server("sepm01")],
            groups=[group("g1", ROOT), group("g7", ROOT + "\\Lab", secure=False)],
            clients=[client("c1", "g1"), client("l1", "g7")],
        ),
    )

    world.run()

    assert "disable_secure_communications:g7/g7-L1" not in world.recorded
    assert "enable_secure_communications:g7/g7-L1" not in world.recorded
    assert "assign_msl:g7/g7-L1" in world.recorded
    assert "restore_msl:g7/g7-L1" in world.recorded
    assert _location_settings(world) == {"g1/g1-L1": (DEFAULT_MSL, True), "g7/g7-L1": (DEFAULT_MSL, False)}


def test_custom_http_port_is_carried_by_the_msl_copy() -> None:
    """The HTTP copy step names each server's HTTP port, custom ones included."""
    world = World(
        desired_site(servers=["sepm01", "sepm02"], http_ports={"sepm01": 8080}, procedure="single-server"),
        observed(servers=[server("sepm01"), server("sepm02")], groups=[group("g1", ROOT)]),
    )

    copy = world.plan().current

    assert copy is not None
    assert copy.kind is StepKind.COPY_MSL
    assert copy.http_ports == {"sepm01": 8080, "sepm02": 8014}
    assert copy.management_server_list == COPY
    assert copy.source_management_server_list == DEFAULT_MSL


def test_location_with_its_own_settings_is_treated_like_a_group() -> None:
    """A location that does not use the group's settings gets its own assign, disable and restore."""
    own = location("g1-L2", "Office", msl=DEFAULT_MSL, default=False, own_settings=True)
    follows = location("g1-L3", "Home", default=False)
    world = World(
        desired_site(),
        observed(
            servers=[server("sepm01")],
            groups=[group("g1", ROOT, locations=[location("g1-L1"), own, follows])],
        ),
    )

    world.run()

    touched = {step_id.split(":", 1)[1] for step_id in world.acted if ":" in step_id and "/" in step_id}
    assert touched == {"g1/g1-L1", "g1/g1-L2"}


def test_corrupted_certificate_blocks_for_disaster_recovery() -> None:
    """A server whose ports disagree blocks the site: disaster recovery, not rotation."""
    corrupt = server("sepm01", per_port={"console": new("sepm01")})
    world = World(desired_site(), observed(servers=[corrupt], groups=[group("g1", ROOT)]))

    last = world.run()

    assert [s.id for s in last.steps] == ["check:CorruptedCertificate"]
    assert last.blocked is not None
    assert "disaster recovery" in (last.blocked.message or "")
    assert world.acted == []


def test_msl_copy_is_deleted_after_a_restore_gate_when_configured() -> None:
    """With actuators.mslDelete, the HTTP copy is deleted once clients are back on their own lists."""
    world = World(
        desired_site(msl_delete=True),
        observed(servers=[server("sepm01")], groups=[group("g1", ROOT)], clients=[client("c1", "g1")]),
    )

    world.run()

    assert world.recorded[-3:] == ["restore_msl:g1/g1-L1", "gate:restored", f"delete_msl_copy:{DEFAULT_MSL}"]
    assert world.acted[-1] == f"delete_msl_copy:{DEFAULT_MSL}"


def test_slow_heartbeat_group_holds_the_gate_longer() -> None:
    """A gate waits for the slowest group's N-th heartbeat after the change, not for a timer."""
    world = World(
        desired_site(servers=["sepm01", "sepm02"]),
        observed(
            servers=[server("sepm01"), server("sepm02")],
            groups=[group("g1", ROOT, heartbeat=60), group("g8", ROOT + "\\Slow", heartbeat=3600)],
            clients=[client("fast", "g1"), client("slow", "g8")],
        ),
    )
    world.run_until("gate:certificate:sepm01")

    world.advance(T0 + 2 * HOUR + 30 * MIN - world.now)  # slow checked in at T0+1h and T0+2h only
    waiting = world.plan().current
    world.advance(T0 + 3 * HOUR - world.now)  # its third heartbeat since the update
    opened = world.plan().current

    assert waiting is not None
    assert waiting.gate is not None
    assert waiting.state is StepState.WAITING
    assert waiting.gate.lagging == ("slow",)
    assert opened is not None
    assert opened.gate is not None
    assert opened.state is StepState.READY
    assert opened.gate.passed == 2
