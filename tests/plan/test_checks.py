"""Blocking checks: each CamelCase reason, when it fires, when it must not, and which comes first."""

from __future__ import annotations

import pytest

from reconciler.model.plan import Plan, StepKind, StepState
from reconciler.plan import plan

from .builders import (
    DEFAULT_MSL,
    ROOT,
    T0,
    client,
    desired_site,
    fingerprint,
    group,
    location,
    new,
    observed,
    server,
    started,
)

COPY = f"{DEFAULT_MSL} (HTTP)"


def _reason(result: Plan) -> str | None:
    blocked = result.blocked
    return blocked.reason if blocked is not None else None


def test_blocked_plan_is_one_check_step() -> None:
    """A finding makes the plan a single blocked check step carrying the reason and a message."""
    desired = desired_site(servers=["sepm01", "sepm02"])
    site = observed(servers=[server("sepm01")], groups=[group("g1", ROOT)])

    result = plan(desired, site, None, T0)

    assert len(result.steps) == 1
    step = result.steps[0]
    assert (step.id, step.kind, step.state, step.reason) == (
        "check:UnknownServer",
        StepKind.CHECK,
        StepState.BLOCKED,
        "UnknownServer",
    )
    assert "sepm02" in (step.message or "")


def test_inconsistent_desired_state_blocks_a_rotation() -> None:
    """A rotation is planned only with the desired state it started from."""
    desired = desired_site()
    site = observed(servers=[server("sepm01")], groups=[group("g1", ROOT)])
    progress = started(desired, plan(desired, site, None, T0))
    changed = desired_site(cycles=4)

    assert _reason(plan(changed, site, progress, T0)) == "InconsistentDesiredState"
    assert _reason(plan(desired, site, progress, T0)) is None


def test_inconsistent_desired_state_is_reported_before_a_corrupted_certificate() -> None:
    """Checks run in their documented order: the first finding wins."""
    desired = desired_site()
    site = observed(servers=[server("sepm01")], groups=[group("g1", ROOT)])
    progress = started(desired, plan(desired, site, None, T0))
    corrupt = observed(
        servers=[server("sepm01", per_port={"rest": new("sepm01")})], groups=[group("g1", ROOT)]
    )

    assert _reason(plan(desired, corrupt, progress, T0)) == "CorruptedCertificate"
    assert _reason(plan(desired_site(cycles=4), corrupt, progress, T0)) == "InconsistentDesiredState"


def test_corrupted_certificate_blocks_even_a_converged_looking_server() -> None:
    """Ports that disagree block although one of them already presents the desired certificate."""
    site = observed(
        servers=[server("sepm01", per_port={"https": fingerprint("other")}, sha256=new("sepm01"))],
        groups=[group("g1", ROOT)],
    )

    result = plan(desired_site(), site, None, T0)

    assert _reason(result) == "CorruptedCertificate"
    assert "disaster recovery" in (result.steps[0].message or "")


FOREIGN = fingerprint("somebody-else")


@pytest.mark.parametrize(
    ("previous", "journalled", "presented", "reason"),
    [
        pytest.param(True, None, FOREIGN, "UnexpectedCertificate", id="foreign-with-previous-list"),
        pytest.param(False, None, FOREIGN, None, id="no-previous-list-no-rotation-accepts-anything"),
        pytest.param(False, "old", FOREIGN, "UnexpectedCertificate", id="mid-rotation-foreign"),
        pytest.param(False, FOREIGN, FOREIGN, None, id="mid-rotation-journalled-original"),
        # The desired certificate is never unexpected: what blocks here is the half-done rolling update
        # that no journal explains (checked after UnexpectedCertificate).
        pytest.param(True, None, new("sepm01"), "RotationWithoutJournal", id="desired-is-always-expected"),
    ],
)
def test_unexpected_certificate(
    previous: bool, journalled: str | None, presented: str, reason: str | None
) -> None:
    """A server must present its desired, a previousSha256 or its journalled original certificate."""
    desired = desired_site(servers=["sepm01", "sepm02"], previous=previous)
    groups = [group("g1", ROOT)]
    progress = None
    if journalled is not None:
        at_start = observed(
            servers=[server("sepm01", None if journalled == "old" else journalled), server("sepm02")],
            groups=groups,
        )
        progress = started(desired, plan(desired, at_start, None, T0))
    now = observed(servers=[server("sepm01", presented), server("sepm02")], groups=groups)

    assert _reason(plan(desired, now, progress, T0)) == reason


def test_unknown_msl_blocks_but_its_http_copy_is_known() -> None:
    """A location on an MSL the desired state does not list blocks; the HTTP copy of a listed one does not."""
    desired = desired_site()
    unknown = observed(servers=[server("sepm01")], groups=[group("g1", ROOT, msl="Lab list")])
    on_copy = observed(servers=[server("sepm01")], groups=[group("g1", ROOT, msl=COPY)])

    result = plan(desired, unknown, None, T0)

    assert _reason(result) == "UnknownManagementServerList"
    assert "Lab list" in (result.steps[0].message or "")
    # Known, so not UnknownManagementServerList; but without a journal, a location on the copy means a
    # rotation is under way that nobody holds.
    assert _reason(plan(desired, on_copy, None, T0)) == "RotationWithoutJournal"


def test_converged_site_plans_empty_even_with_an_unknown_msl() -> None:
    """Nothing to rotate means nothing to check about MSLs: the plan is empty."""
    site = observed(servers=[server("sepm01", new("sepm01"))], groups=[group("g1", ROOT, msl="Lab list")])

    result = plan(desired_site(), site, None, T0)

    assert result.steps == ()
    assert result.converged
    assert result.originals == {}


def test_new_location_mid_single_server_rotation_is_unprepared() -> None:
    """A group appearing after a single-server rotation started blocks the certificate update."""
    desired = desired_site()
    groups = [group("g1", ROOT)]
    at_start = observed(servers=[server("sepm01")], groups=groups)
    progress = started(desired, plan(desired, at_start, None, T0))
    grown = observed(servers=[server("sepm01")], groups=[*groups, group("g9", ROOT + "\\New")])

    result = plan(desired, grown, progress, T0)

    assert _reason(result) == "UnpreparedLocation"
    assert "New" in (result.steps[0].message or "")
    aborted = started(desired, plan(desired, at_start, None, T0), aborted=True)
    assert _reason(plan(desired, grown, aborted, T0)) is None


def test_missing_journalled_location_blocks_until_acknowledged() -> None:
    """An action on a location that vanished mid-rotation is blocked; an acknowledgement lets it pass."""
    desired = desired_site()
    at_start = observed(servers=[server("sepm01")], groups=[group("g1", ROOT), group("g2", ROOT + "\\Gone")])
    first = plan(desired, at_start, None, T0)
    done = {f"copy_msl:{DEFAULT_MSL}": T0, "assign_msl:g1/g1-L1": T0}
    shrunk = observed(servers=[server("sepm01")], groups=[group("g1", ROOT, msl=COPY)])  # g1 was assigned

    blocked = plan(desired, shrunk, started(desired, first, done=done), T0)
    acked = plan(
        desired, shrunk, started(desired, first, done=done, acknowledged=["assign_msl:g2/g2-L1"]), T0
    )

    assert blocked.current is not None
    assert (blocked.current.id, blocked.current.state, blocked.current.reason) == (
        "assign_msl:g2/g2-L1",
        StepState.BLOCKED,
        "MissingLocation",
    )
    assert "sepm-reconciler ack hq assign_msl:g2/g2-L1" in (blocked.current.message or "")
    assert acked.current is not None
    assert (acked.current.id, acked.current.state, acked.current.satisfied) == (
        "assign_msl:g2/g2-L1",
        StepState.READY,
        True,
    )


def test_failover_check_ignores_treated_locations() -> None:
    """multi-server: a 14.2 group on a single-server MSL is treated, so it needs no failover."""
    desired = desired_site(
        servers=["sepm01", "sepm02"],
        msls=[(DEFAULT_MSL, ["sepm01", "sepm02"]), ("Old", ["sepm01"])],
        procedure="multi-server",
    )
    site = observed(
        servers=[server("sepm01"), server("sepm02")],
        groups=[group("g1", ROOT), group("g2", ROOT + "\\Old", msl="Old")],
        clients=[client("k1", "g2", version="14.2.758.0000")],
    )

    result = plan(desired, site, None, T0)

    assert result.blocked is None
    assert list(result.originals) == ["g2/g2-L1"]


def test_a_location_that_looked_like_its_group_is_told_the_truth_with_a_way_out_that_ends() -> None:
    """A location whose own settings equalled its group's at the start (so it was not prepared) is not
    said to have appeared later, and the way out needs no abort: make it follow its group."""
    desired = desired_site()
    office_then = location("g1-L2", "Office", default=False, own_settings=False)
    at_start = observed(
        servers=[server("sepm01")], groups=[group("g1", ROOT, locations=[location("g1-L1"), office_then])]
    )
    progress = started(desired, plan(desired, at_start, None, T0), done={f"copy_msl:{DEFAULT_MSL}": T0})
    prepared = location("g1-L1", msl=f"{DEFAULT_MSL} (HTTP)", secure=False)
    office_now = location("g1-L2", "Office", default=False, own_settings=True)
    now = observed(servers=[server("sepm01")], groups=[group("g1", ROOT, locations=[prepared, office_now])])

    result = plan(desired, now, progress, T0)

    assert _reason(result) == "UnpreparedLocation"
    message = result.steps[0].message or ""
    assert "location 'Office' of My Company" in message
    assert "equalled its group's" in message
    assert "appeared after" not in message
    assert "use its group's communication settings" in message
