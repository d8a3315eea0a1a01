"""What was done must still be visible: SEPM changed behind the rotation's back, or an update is in doubt.

A step in the journal stays done (gates latch), so the planner must notice when SEPM no longer shows
what the journal says was done, and when a certificate update was started but is not visible yet:
each case blocks with a CamelCase reason and a message telling a human what to do, and the normal
flow (preparing one location after another, restoring one after another) never blocks.

The single-server site has ``g1`` (secure communications on) and ``g7`` (an admin had switched them
off before the rotation); the failover site has two servers in one MSL and nothing to prepare.
"""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.model.observed import Observed
from reconciler.model.plan import Plan, StepState
from reconciler.plan import plan

from .builders import (
    DEFAULT_MSL,
    MIN,
    ROOT,
    T0,
    client,
    desired_site,
    group,
    new,
    observed,
    old,
    server,
    started,
)

COPY = f"{DEFAULT_MSL} (HTTP)"
UPDATE = "update_certificate:sepm01"
PREPARED = {
    f"copy_msl:{DEFAULT_MSL}": T0,
    "assign_msl:g1/g1-L1": T0 + MIN,
    "assign_msl:g7/g7-L1": T0 + MIN,
    "disable_secure_communications:g1/g1-L1": T0 + 2 * MIN,
    "gate:prepared": T0 + 20 * MIN,
}
UPDATED = {**PREPARED, UPDATE: T0 + 21 * MIN}
CERTIFIED = {**UPDATED, "gate:certificates": T0 + 40 * MIN}
NOW = T0 + 41 * MIN

Settings = tuple[str, bool]
"""(management server list, secure communications) of a location."""
ON_COPY: Settings = (COPY, False)


def _single_server(g1: Settings, g7: Settings, certificate: str, *, now: int = NOW) -> Observed:
    return observed(
        servers=[server("sepm01", certificate)],
        groups=[
            group("g1", ROOT, msl=g1[0], secure=g1[1]),
            group("g7", ROOT + "\\Lab", msl=g7[0], secure=g7[1]),
        ],
        clients=[client("c1", "g1", last=now), client("l1", "g7", last=now)],
        now=now,
    )


def _plan_single_server(
    done: dict[str, int],
    g1: Settings,
    g7: Settings,
    certificate: str,
    *,
    aborted: bool = False,
    attempted: tuple[str, ...] = (),
    acknowledged: tuple[str, ...] = (),
) -> Plan:
    desired = desired_site()
    first = plan(
        desired, _single_server((DEFAULT_MSL, True), (DEFAULT_MSL, False), old("sepm01"), now=T0), None, T0
    )
    progress = started(
        desired,
        first,
        done=done,
        acknowledged=[f"copy_msl:{DEFAULT_MSL}", *acknowledged],
        aborted=aborted,
        attempted=attempted,
    )
    now = _single_server(g1, g7, certificate)
    return plan(desired, now, progress, NOW)


def _state(result: Plan) -> tuple[str, StepState, str | None]:
    current = result.current
    assert current is not None
    return current.id, current.state, current.reason


@pytest.mark.parametrize(
    ("done", "g1", "g7", "certificate", "expected"),
    [
        pytest.param(
            PREPARED, ON_COPY, ON_COPY, old("sepm01"), (UPDATE, StepState.READY, None), id="prepared-no-drift"
        ),
        pytest.param(
            PREPARED,
            (COPY, True),
            ON_COPY,
            old("sepm01"),
            ("check:PreparationDrifted", StepState.BLOCKED, "PreparationDrifted"),
            id="secure-communications-on-again-before-update",
        ),
        pytest.param(
            PREPARED,
            (DEFAULT_MSL, False),
            ON_COPY,
            old("sepm01"),
            ("check:PreparationDrifted", StepState.BLOCKED, "PreparationDrifted"),
            id="original-https-list-again-before-update",
        ),
        pytest.param(
            PREPARED,
            ON_COPY,
            (COPY, True),
            old("sepm01"),
            ("check:PreparationDrifted", StepState.BLOCKED, "PreparationDrifted"),
            id="already-insecure-location-switched-on",
        ),
        pytest.param(
            UPDATED,
            (DEFAULT_MSL, True),
            ON_COPY,
            new("sepm01"),
            ("check:PreparationDrifted", StepState.BLOCKED, "PreparationDrifted"),
            id="drift-inside-the-certificate-gate",
        ),
        pytest.param(
            {f"copy_msl:{DEFAULT_MSL}": T0, "assign_msl:g1/g1-L1": T0},
            (COPY, True),
            (DEFAULT_MSL, False),
            old("sepm01"),
            ("assign_msl:g7/g7-L1", StepState.READY, None),
            id="preparation-under-way-is-not-drift",
        ),
        pytest.param(
            {**CERTIFIED, "enable_secure_communications:g1/g1-L1": NOW},
            (COPY, True),
            ON_COPY,
            new("sepm01"),
            ("restore_msl:g1/g1-L1", StepState.READY, None),
            id="restore-under-way-is-not-drift",
        ),
    ],
)
def test_prepared_locations_must_stay_prepared_while_a_certificate_change_is_ahead(
    done: dict[str, int],
    g1: Settings,
    g7: Settings,
    certificate: str,
    expected: tuple[str, StepState, str | None],
) -> None:
    """A treated location back on its HTTPS list or secure again blocks while an update or its gate is ahead."""
    result = _plan_single_server(done, g1, g7, certificate)

    assert _state(result) == expected
    if expected[2] == "PreparationDrifted":
        message = result.steps[0].message or ""
        assert "location 'Default' of My Company" in message
        assert "sepm-reconciler abort hq" in message


def test_prepared_location_drift_names_the_location_and_what_changed() -> None:
    """The message says which location drifted and how, so a human can re-apply exactly that."""
    result = _plan_single_server(PREPARED, ON_COPY, (COPY, True), old("sepm01"))

    message = result.steps[0].message or ""
    assert "My Company\\Lab" in message
    assert "secure communications on" in message


def test_abort_that_drops_every_update_does_not_block_on_drift() -> None:
    """Under abort with no certificate change ahead, a location already back to its original just restores."""
    result = _plan_single_server(PREPARED, (DEFAULT_MSL, True), ON_COPY, old("sepm01"), aborted=True)

    current = result.current
    assert current is not None
    assert (current.id, current.state, current.satisfied) == (
        "enable_secure_communications:g1/g1-L1",
        StepState.READY,
        True,
    )


@pytest.mark.parametrize(
    ("aborted", "certificate", "expected"),
    [
        pytest.param(
            False,
            new("sepm01"),
            ("enable_secure_communications:g1/g1-L1", StepState.READY, None),
            id="still-new",
        ),
        pytest.param(
            False,
            old("sepm01"),
            ("check:CertificateReverted", StepState.BLOCKED, "CertificateReverted"),
            id="reverted",
        ),
        pytest.param(
            True,
            old("sepm01"),
            ("check:CertificateReverted", StepState.BLOCKED, "CertificateReverted"),
            id="reverted-under-abort",
        ),
    ],
)
def test_updated_server_must_still_present_its_new_certificate_before_restoring(
    aborted: bool, certificate: str, expected: tuple[str, StepState, str | None]
) -> None:
    """A server back on another certificate after its update and gate blocks the restore steps."""
    result = _plan_single_server(CERTIFIED, ON_COPY, ON_COPY, certificate, aborted=aborted)

    assert _state(result) == expected
    if expected[2] is not None:
        assert "sepm01" in (result.steps[0].message or "")


# --- abort with a certificate update in flight ----------------------------------------------------------


@pytest.mark.parametrize(
    ("attempted", "acknowledged", "certificate", "expected"),
    [
        pytest.param(
            (UPDATE,), (), old("sepm01"), (UPDATE, StepState.BLOCKED, "UpdateMayStillApply"), id="in-doubt"
        ),
        pytest.param(
            (UPDATE,),
            (UPDATE,),
            old("sepm01"),
            ("enable_secure_communications:g1/g1-L1", StepState.READY, None),
            id="acknowledged-not-applied",
        ),
        pytest.param((UPDATE,), (), new("sepm01"), (UPDATE, StepState.READY, None), id="applied-after-all"),
        pytest.param(
            (),
            (),
            old("sepm01"),
            ("enable_secure_communications:g1/g1-L1", StepState.READY, None),
            id="never-started",
        ),
    ],
)
def test_abort_waits_for_an_update_that_may_still_apply(
    attempted: tuple[str, ...],
    acknowledged: tuple[str, ...],
    certificate: str,
    expected: tuple[str, StepState, str | None],
) -> None:
    """Under abort, a started update still showing the original blocks the restore until acknowledged."""
    result = _plan_single_server(
        PREPARED, ON_COPY, ON_COPY, certificate, aborted=True, attempted=attempted, acknowledged=acknowledged
    )

    assert _state(result) == expected
    if expected[2] == "UpdateMayStillApply":
        current = result.current
        assert current is not None
        assert "sepm-reconciler ack hq update_certificate:sepm01" in (current.message or "")
        assert all(s.state is StepState.WAITING for s in result.steps if s.id.startswith("enable_"))


def test_update_seen_after_abort_keeps_its_gate_before_secure_communications() -> None:
    """An in-flight update that became visible after the abort is recorded and then gated as usual."""
    result = _plan_single_server(
        {**PREPARED, UPDATE: NOW}, ON_COPY, ON_COPY, new("sepm01"), aborted=True, attempted=()
    )

    assert _state(result)[0] == "gate:certificates"
    assert [s.id for s in result.steps if s.state is not StepState.DONE][1:] == [
        "enable_secure_communications:g1/g1-L1",
        "restore_msl:g1/g1-L1",
        "restore_msl:g7/g7-L1",
    ]


# --- failover site: one server at a time ----------------------------------------------------------------

GATE_A = "gate:certificate:sepm01"


def _plan_failover(
    b_at_start: str,
    b_now: str,
    *,
    a_now: str | None = None,
    done: dict[str, int] | None = None,
    proceeded: dict[str, str] | None = None,
    aborted: bool = False,
) -> Plan:
    desired = desired_site(servers=["sepm01", "sepm02"])
    groups = [group("g1", ROOT)]
    before = observed(servers=[server("sepm01"), server("sepm02")], groups=groups)
    first = plan(desired, before, None, T0)
    # What the journal says sepm02 presented at the start (a rotation started by an earlier release, or
    # adopted: today a half-rolled site without a journal blocks before it can start).
    first = first.model_copy(
        update={"original_certificates": {**first.original_certificates, "sepm02": b_at_start}}
    )
    progress = started(
        desired,
        first,
        done={UPDATE: T0 + MIN, **(done or {})},
        proceeded=proceeded,
        aborted=aborted,
    )
    now = T0 + 5 * MIN
    after = observed(
        servers=[server("sepm01", a_now or new("sepm01")), server("sepm02", b_now)],
        groups=groups,
        clients=[client("c1", "g1", last=now)],
        now=now,
    )
    return plan(desired, after, progress, now)


@pytest.mark.parametrize(
    ("b_at_start", "b_now", "options", "expected"),
    [
        pytest.param(
            old("sepm02"),
            old("sepm02"),
            {},
            (GATE_A, StepState.WAITING, None),
            id="other-server-untouched",
        ),
        pytest.param(
            old("sepm02"),
            new("sepm02"),
            {},
            ("check:ServerChangedOutOfTurn", StepState.BLOCKED, "ServerChangedOutOfTurn"),
            id="other-server-changed-inside-the-gate",
        ),
        pytest.param(
            new("sepm02"),
            new("sepm02"),
            {},
            (GATE_A, StepState.WAITING, None),
            id="other-server-was-already-new-at-the-start",
        ),
        pytest.param(
            old("sepm02"),
            new("sepm02"),
            {"done": {GATE_A: T0 + 4 * MIN}},
            ("update_certificate:sepm02", StepState.READY, None),
            id="changed-after-the-gate-opened",
        ),
        pytest.param(
            old("sepm02"),
            new("sepm02"),
            {"proceeded": {GATE_A: "checked every client by hand"}},
            (GATE_A, StepState.READY, None),
            id="gate-proceeded-by-a-human",
        ),
        pytest.param(
            old("sepm02"),
            new("sepm02"),
            {"aborted": True},
            (GATE_A, StepState.WAITING, None),
            id="aborted-rotation-measures-both-gates",
        ),
    ],
)
def test_no_server_changes_while_another_is_inside_its_gate(
    b_at_start: str, b_now: str, options: dict[str, Any], expected: tuple[str, StepState, str | None]
) -> None:
    """A second server changing while the first is inside its gate blocks: it was not its turn."""
    result = _plan_failover(b_at_start, b_now, **options)

    assert _state(result) == expected
    if expected[2] is not None:
        message = result.steps[0].message or ""
        assert "sepm01" in message
        assert "sepm02" in message
        assert "sepm-reconciler abort hq" in message


def test_server_reverted_after_its_gate_blocks_the_next_update() -> None:
    """On a failover site, a server back on its original certificate blocks the next server's update."""
    result = _plan_failover(old("sepm02"), old("sepm02"), a_now=old("sepm01"), done={GATE_A: T0 + 4 * MIN})

    assert _state(result) == ("check:CertificateReverted", StepState.BLOCKED, "CertificateReverted")
    assert "sepm01" in (result.steps[0].message or "")
