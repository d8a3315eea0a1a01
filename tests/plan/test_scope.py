"""Scope and sequencing: targets, procedure choice, the journal's authority, abort, restart and ordering."""

from __future__ import annotations

import pytest

from reconciler.model.plan import StepKind, StepState
from reconciler.plan import plan

from .builders import (
    DEFAULT_MSL,
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
    started,
)
from .world import World

COPY = f"{DEFAULT_MSL} (HTTP)"


def test_targets_are_non_inheriting_groups_and_locations_with_their_own_settings() -> None:
    """Single-server treats each settings source's default location and each own-settings location only."""
    groups = [
        group(
            "g1",
            ROOT,
            locations=[
                location("g1-L1"),
                location("g1-L2", "Office", default=False, own_settings=True),
                location("g1-L3", "Home", default=False),
            ],
        ),
        group("g2", ROOT + "\\Default Group", inherits=True),
        group(
            "g3",
            ROOT + "\\Default Group\\Kiosk",
            inherits=True,
            locations=[location("g3-L1"), location("g3-L2", "Own", default=False, own_settings=True)],
        ),
        group("g4", ROOT + "\\Sales"),
    ]
    site = observed(servers=[server("sepm01")], groups=groups)

    result = plan(desired_site(), site, None, T0)

    assert list(result.originals) == ["g1/g1-L1", "g1/g1-L2", "g4/g4-L1"]


@pytest.mark.parametrize(
    ("procedure", "servers", "msls", "legacy", "expected_procedure", "expected_treated"),
    [
        pytest.param(
            "auto", ["sepm01"], None, False, "single-server", ["g1/g1-L1", "g2/g2-L1"], id="auto-one"
        ),
        pytest.param("auto", ["sepm01", "sepm02"], None, False, "multi-server", [], id="auto-failover"),
        pytest.param(
            "auto", ["sepm01", "sepm02"], None, True, "multi-server", ["g2/g2-L1"], id="auto-mixed-for-14.2"
        ),
        pytest.param(
            "auto",
            ["sepm01", "sepm02"],
            [(DEFAULT_MSL, ["sepm01"])],
            False,
            "single-server",
            ["g1/g1-L1", "g2/g2-L1"],
            id="auto-nobody-can-fail-over",
        ),
        pytest.param(
            "single-server",
            ["sepm01", "sepm02"],
            None,
            False,
            "single-server",
            ["g1/g1-L1", "g2/g2-L1"],
            id="explicit-single",
        ),
        pytest.param(
            "multi-server",
            ["sepm01", "sepm02"],
            None,
            True,
            "multi-server",
            ["g2/g2-L1"],
            id="explicit-mixed",
        ),
    ],
)
def test_procedure_choice(
    procedure: str,
    servers: list[str],
    msls: list[tuple[str, list[str]]] | None,
    legacy: bool,
    expected_procedure: str,
    expected_treated: list[str],
) -> None:
    """desired.procedure, the servers, the MSLs and 14.2 clients decide the procedure and who is treated."""
    desired = desired_site(servers=servers, msls=msls, procedure=procedure)
    site = observed(
        servers=[server(name) for name in servers],
        groups=[group("g1", ROOT), group("g2", ROOT + "\\Shop")],
        clients=[client("c1", "g1"), client("c2", "g2", version=LEGACY_AGENT if legacy else "14.3.1.0")],
    )

    result = plan(desired, site, None, T0)

    assert result.procedure == expected_procedure
    assert list(result.originals) == expected_treated


def test_treated_set_is_the_journals_once_started() -> None:
    """A 14.2 client appearing mid-rotation never switches the procedure: it blocks while an update is
    ahead, and adds no step once every certificate is updated."""
    desired = desired_site(servers=["sepm01", "sepm02"])
    groups = [group("g1", ROOT), group("g2", ROOT + "\\Shop")]
    before = observed(
        servers=[server("sepm01"), server("sepm02")], groups=groups, clients=[client("c1", "g1")]
    )
    first = plan(desired, before, None, T0)
    clients = [client("c1", "g1"), client("k1", "g2", version=LEGACY_AGENT)]
    ahead = observed(servers=[server("sepm01"), server("sepm02")], groups=groups, clients=clients)
    updated = observed(
        servers=[server("sepm01", new("sepm01")), server("sepm02", new("sepm02"))],
        groups=groups,
        clients=clients,
    )
    all_updated = {
        "update_certificate:sepm01": T0,
        "gate:certificate:sepm01": T0,
        "update_certificate:sepm02": T0,
    }

    blocked = plan(desired, ahead, started(desired, first), T0 + MIN)
    finishing = plan(desired, updated, started(desired, first, done=all_updated), T0 + MIN)

    assert blocked.blocked is not None
    assert blocked.blocked.reason == "UnpreparedLocation"
    assert "14.2" in (blocked.blocked.message or "")
    assert finishing.procedure == "multi-server"
    assert finishing.originals == {}
    assert [s.kind for s in finishing.steps] == [StepKind.UPDATE_CERTIFICATE, StepKind.GATE] * 2
    assert finishing.current is not None
    assert finishing.current.id == "gate:certificate:sepm02"


def _single_server_world(*, servers: tuple[str, ...] = ("sepm01",)) -> World:
    return World(
        desired_site(servers=servers, procedure="single-server"),
        observed(
            servers=[server(name) for name in servers],
            groups=[group("g1", ROOT), group("g2", ROOT + "\\Lab", secure=False)],
            clients=[client("c1", "g1"), client("c2", "g2")],
        ),
    )


def test_abort_before_any_update_restores_without_touching_certificates() -> None:
    """Abort mid-preparation: unfinished preparation is dropped, no update is planned, restores follow."""
    world = _single_server_world()
    world.run_until("disable_secure_communications:g1/g1-L1")
    world.abort()

    last = world.run()

    assert last.converged
    assert not any(s.kind is StepKind.UPDATE_CERTIFICATE for s in last.steps)
    assert "disable_secure_communications:g1/g1-L1" not in world.acted
    assert world.recorded[-3:] == [
        "enable_secure_communications:g1/g1-L1",
        "restore_msl:g1/g1-L1",
        "restore_msl:g2/g2-L1",
    ]
    assert {s.name: s.presented_fingerprints() for s in world.observed.servers} == {"sepm01": {old("sepm01")}}
    settings = {
        (g.id, loc.management_server_list, loc.secure_communications)
        for g, loc in world.observed.iter_locations()
    }
    assert settings == {("g1", DEFAULT_MSL, True), ("g2", DEFAULT_MSL, False)}


def test_abort_after_one_update_keeps_its_gate_and_drops_the_rest() -> None:
    """Abort in a roll: the server already updated keeps its gate; the other is not updated."""
    world = World(
        desired_site(servers=["sepm01", "sepm02"]),
        observed(
            servers=[server("sepm01"), server("sepm02")],
            groups=[group("g1", ROOT)],
            clients=[client("c1", "g1")],
        ),
    )
    world.run_until("gate:certificate:sepm01")
    world.abort()

    aborted = world.plan()
    world.run()

    assert [s.id for s in aborted.steps] == ["update_certificate:sepm01", "gate:certificate:sepm01"]
    assert aborted.current is not None
    assert aborted.current.id == "gate:certificate:sepm01"
    assert world.acted == ["update_certificate:sepm01"]


def test_abort_keeps_an_update_that_is_already_visible() -> None:
    """Abort cannot undo a certificate already presented: it gets recorded and gated before restores."""
    world = _single_server_world(servers=("sepm01", "sepm02"))
    world.run_until("gate:prepared")
    world.present("sepm02", new("sepm02"))  # somebody updated it by hand
    world.abort()

    aborted = world.plan()

    ids = [s.id for s in aborted.steps]
    assert "update_certificate:sepm01" not in ids
    assert ids.index("update_certificate:sepm02") < ids.index("gate:certificates")
    assert ids.index("gate:certificates") < ids.index("enable_secure_communications:g1/g1-L1")
    assert "gate:prepared" not in ids  # it had not opened: nothing is left to prepare for
    assert aborted.current is not None
    assert (aborted.current.id, aborted.current.satisfied) == ("update_certificate:sepm02", True)


def test_restart_after_acting_records_instead_of_acting_again() -> None:
    """A step whose effect is visible but not journalled (kill -9 after the act) is ready and satisfied."""
    world = _single_server_world()
    world.run_until("assign_msl:g1/g1-L1")
    world.change_location("g1", "g1-L1", management_server_list=COPY)  # acted, then the process died

    current = world.plan().current

    assert current is not None
    assert (current.id, current.state, current.satisfied) == ("assign_msl:g1/g1-L1", StepState.READY, True)


def test_msl_copy_is_satisfied_only_by_an_acknowledgement() -> None:
    """REST cannot see an MSL copy: it is ready unsatisfied until an operator acknowledges it."""
    world = _single_server_world()
    world.tick()  # starts the rotation

    before = world.plan().current
    world.acknowledge(f"copy_msl:{DEFAULT_MSL}")
    after = world.plan().current

    assert before is not None
    assert after is not None
    assert (before.satisfied, after.satisfied) == (False, True)


def test_server_changed_by_hand_mid_rotation_still_gets_its_gate() -> None:
    """A certificate changed outside the rotation is recorded and gated, and goes before the others."""
    desired = desired_site(servers=["sepm01", "sepm02"])
    groups = [group("g1", ROOT)]
    before = observed(servers=[server("sepm01"), server("sepm02")], groups=groups)
    progress = started(desired, plan(desired, before, None, T0))
    by_hand = observed(servers=[server("sepm01"), server("sepm02", new("sepm02"))], groups=groups)

    result = plan(desired, by_hand, progress, T0 + MIN)

    assert [s.id for s in result.steps] == [
        "update_certificate:sepm02",
        "gate:certificate:sepm02",
        "update_certificate:sepm01",
        "gate:certificate:sepm01",
    ]
    assert result.current is not None
    assert result.current.satisfied


def test_completed_rotation_has_nothing_pending() -> None:
    """When every step is journalled, the plan is converged although it lists them."""
    world = _single_server_world()
    world.run()

    final = world.plan()

    assert final.steps
    assert final.converged
    assert final.dormant == ()
    assert final.evidence_lower_bound == 0


def test_keystore_path_travels_with_the_update_step() -> None:
    """update_certificate carries the desired fingerprint and the keystore path."""
    desired = desired_site(keystores=True, servers=["sepm01", "sepm02"])
    site = observed(servers=[server("sepm01"), server("sepm02")], groups=[group("g1", ROOT)])

    step = plan(desired, site, None, T0).steps[0]

    assert (step.kind, step.server, step.certificate, step.keystore) == (
        StepKind.UPDATE_CERTIFICATE,
        "sepm01",
        new("sepm01"),
        "sepm01.p12",
    )


@pytest.mark.parametrize(
    ("version", "treated"),
    [
        pytest.param("14.2.758.0000", True, id="14.2-base"),
        pytest.param("14.2.3332.1000", True, id="14.2-ru1"),
        pytest.param("14.2.5323.2000", True, id="14.2-ru2"),
        pytest.param("14.3.3384.1000", False, id="14.3-ru1"),
    ],
)
def test_every_14_2_release_gets_the_single_server_treatment_on_a_failover_site(version: str, treated: bool):
    """On a site that fails over, a group holding a 14.2 client of any release (RU1 and RU2 included) is
    treated (mixed procedure), and the plan says which clients and groups the rule caught."""
    desired = desired_site(servers=["sepm01", "sepm02"])
    site = observed(
        servers=[server("sepm01"), server("sepm02")],
        groups=[group("g1", ROOT), group("g2", ROOT + "\\Shop")],
        clients=[client("c1", "g1"), client("c2", "g2", version=version)],
    )

    result = plan(desired, site, None, T0)

    assert result.procedure == "multi-server"
    assert ("g2/g2-L1" in result.originals) is treated
    assert result.no_failover is not None
    assert result.no_failover.patterns == ("14.2.*",)
    assert result.no_failover.groups == ((ROOT + "\\Shop",) if treated else ())


def test_a_site_that_narrows_the_rule_rolls_the_clients_it_excluded():
    """With noFailoverVersions narrowed to 14.2 base builds, a 14.2 RU2 client is trusted to fail over."""
    document = desired_site(servers=["sepm01", "sepm02"]).model_dump(by_alias=True, mode="json")
    document["noFailoverVersions"] = ["14.2.758.*"]
    desired = type(desired_site()).model_validate(document)
    site = observed(
        servers=[server("sepm01"), server("sepm02")],
        groups=[group("g1", ROOT), group("g2", ROOT + "\\Shop")],
        clients=[client("c1", "g1"), client("c2", "g2", version="14.2.5323.2000")],
    )

    result = plan(desired, site, None, T0)

    assert result.originals == {}
    assert result.no_failover is not None
    assert result.no_failover.clients == 0
