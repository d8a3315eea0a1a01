"""Gate evidence: who passes, who lags, who is dormant, when a gate opens, stalls or latches.

The gate under test is ``gate:certificate:sepm01`` of a two-server failover site whose sepm01 update
was recorded at ``T0``; the default heartbeat is 5 minutes and N is 3, so a client passes with a
check-in later than ``T0 + 10 min`` while holding its group's policy serial.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from reconciler.model.observed import ObservedClient, ObservedGroup
from reconciler.model.plan import Plan, Step, StepKind, StepState
from reconciler.plan import plan

from .builders import (
    DAY,
    HOUR,
    MIN,
    ROOT,
    SEC,
    T0,
    client,
    desired_site,
    group,
    location,
    new,
    observed,
    server,
    started,
)

GATE = "gate:certificate:sepm01"
PASS_AFTER = T0 + 10 * MIN


def _plan_at_gate(
    clients: Sequence[ObservedClient],
    *,
    now: int,
    groups: Sequence[ObservedGroup] | None = None,
    done: dict[str, int] | None = None,
    proceeded: dict[str, str] | None = None,
    **gates: Any,
) -> Plan:
    desired = desired_site(servers=["sepm01", "sepm02"], **gates)
    site_groups = list(groups) if groups is not None else [group("g1", ROOT)]
    before = observed(servers=[server("sepm01"), server("sepm02")], groups=site_groups, clients=clients)
    first = plan(desired, before, None, T0)
    progress = started(
        desired, first, done={"update_certificate:sepm01": T0, **(done or {})}, proceeded=proceeded
    )
    after = observed(
        servers=[server("sepm01", new("sepm01")), server("sepm02")],
        groups=site_groups,
        clients=clients,
        now=now,
    )
    return plan(desired, after, progress, now)


def _gate(result: Plan) -> Step:
    step = next(s for s in result.steps if s.id == GATE)
    assert result.current == step
    return step


@pytest.mark.parametrize(
    ("last", "serial", "passes"),
    [
        pytest.param(PASS_AFTER, None, False, id="exactly-N-1-heartbeats-is-not-enough"),
        pytest.param(PASS_AFTER + 1, None, True, id="just-after-N-1-heartbeats"),
        pytest.param(PASS_AFTER + MIN, "g1-0", False, id="stale-policy-serial"),
        pytest.param(T0 - MIN, None, False, id="not-since-the-change"),
    ],
)
def test_client_passes_after_n_heartbeats_with_current_policy(
    last: int, serial: str | None, passes: bool
) -> None:
    """A client passes only with a check-in later than since + (N-1)·h and its group's current policy."""
    result = _plan_at_gate([client("c1", "g1", last=last, serial=serial)], now=T0 + HOUR)

    gate = _gate(result)

    assert gate.gate is not None
    assert (gate.gate.in_scope, gate.gate.passed) == (1, 1 if passes else 0)
    assert gate.state is (StepState.READY if passes else StepState.WAITING)
    assert gate.gate.lagging == (() if passes else ("c1",))


def test_dormant_clients_are_named_but_do_not_hold_the_gate() -> None:
    """A client silent since before since - dormantAfter is not counted but named, also in Plan.dormant."""
    clients = [client("c1", "g1", last=PASS_AFTER + 1), client("gone", "g1", last=T0 - 8 * DAY)]

    result = _plan_at_gate(clients, now=T0 + HOUR)

    gate = _gate(result)
    assert gate.state is StepState.READY
    assert gate.gate is not None
    assert (gate.gate.in_scope, gate.gate.dormant_count, gate.gate.dormant) == (1, 1, ("gone",))
    assert result.dormant == ("gone",)
    assert "will be orphaned" in (gate.message or "")


def test_max_lagging_clients_lets_a_gate_open_with_stragglers() -> None:
    """maxLaggingClients tolerates that many lagging in-scope clients, and not one more."""
    clients = [
        client("c1", "g1", last=PASS_AFTER + 1),
        client("c2", "g1", last=T0),
        client("c3", "g1", last=T0),
    ]

    one = _gate(_plan_at_gate(clients, now=T0 + HOUR, max_lagging=1))
    two = _gate(_plan_at_gate(clients, now=T0 + HOUR, max_lagging=2))

    assert one.state is StepState.WAITING
    assert two.state is StepState.READY
    assert two.gate is not None
    assert two.gate.lagging == ("c2", "c3")


def test_minimum_wait_keeps_a_gate_shut_although_every_client_passed() -> None:
    """minimumWait counts from the gate's start: evidence alone does not open it earlier."""
    clients = [client("c1", "g1", last=PASS_AFTER + 1)]

    early = _gate(_plan_at_gate(clients, now=T0 + 2 * HOUR, minimum_wait=3 * 3600))
    late = _gate(_plan_at_gate(clients, now=T0 + 3 * HOUR, minimum_wait=3 * 3600))

    assert early.state is StepState.WAITING
    assert early.gate is not None
    assert early.gate.earliest_open == T0 + 3 * HOUR
    assert early.gate.passed == 1
    assert late.state is StepState.READY


def test_gate_past_its_deadline_blocks_the_site() -> None:
    """A gate that has not opened by start + timeout is GateDeadlineExceeded, never an automatic proceed."""
    clients = [client("c1", "g1", last=T0, online=False)]

    before = _gate(_plan_at_gate(clients, now=T0 + 2 * HOUR, timeout=2 * 3600))
    after = _gate(_plan_at_gate(clients, now=T0 + 2 * HOUR + 1, timeout=2 * 3600))

    assert before.state is StepState.WAITING
    assert after.state is StepState.BLOCKED
    assert after.reason == "GateDeadlineExceeded"
    assert after.gate is not None
    assert after.gate.deadline == T0 + 2 * HOUR
    assert f"sepm-reconciler proceed hq {GATE} --reason" in (after.message or "")
    assert "sepm-reconciler abort hq" in (after.message or "")
    assert "lagging: c1" in (after.message or "")


def test_proceeded_gate_is_ready_without_evidence() -> None:
    """Break-glass: a gate a human proceeded is ready whatever the evidence, and says so."""
    clients = [client("c1", "g1", last=T0, online=False)]

    gate = _gate(_plan_at_gate(clients, now=T0 + 3 * DAY, proceeded={GATE: "c1 was scrapped"}))

    assert gate.state is StepState.READY
    assert gate.satisfied
    assert "c1 was scrapped" in (gate.message or "")


def test_gate_latches_once_recorded() -> None:
    """A recorded gate stays done even when a client's evidence no longer holds."""
    clients = [client("c1", "g1", last=T0 - MIN, serial="g1-0")]

    result = _plan_at_gate(clients, now=T0 + 3 * DAY, done={GATE: T0 + HOUR})

    assert next(s for s in result.steps if s.id == GATE).state is StepState.DONE
    assert result.current is not None
    assert result.current.id == "update_certificate:sepm02"


def test_effective_heartbeat_is_the_slowest_location_of_the_settings_source() -> None:
    """A client of an inheriting group waits for the slowest heartbeat among its source group's locations."""
    parent = group(
        "g1",
        ROOT,
        locations=[
            location("g1-L1", heartbeat=300),
            location("g1-L2", "Road", default=False, heartbeat=3600),
        ],
    )
    child = group("g2", ROOT + "\\Laptops", inherits=True)
    slow_pass = T0 + 2 * HOUR

    waiting = _gate(
        _plan_at_gate([client("c1", "g2", last=slow_pass)], now=T0 + 3 * HOUR, groups=[parent, child])
    )
    passed = _gate(
        _plan_at_gate([client("c1", "g2", last=slow_pass + 1)], now=T0 + 3 * HOUR, groups=[parent, child])
    )

    assert waiting.state is StepState.WAITING
    assert passed.state is StepState.READY


def test_gate_without_clients_opens_after_minimum_wait() -> None:
    """No client in scope means nothing to wait for but minimumWait."""
    result = _gate(_plan_at_gate([], now=T0 + 10 * SEC, minimum_wait=5))

    assert result.state is StepState.READY
    assert result.gate is not None
    assert result.gate.in_scope == 0


@pytest.mark.parametrize(
    ("last", "minimum_wait", "expected"),
    [
        # Checked in at T0 every 5 min: passes the first gate at its 3rd check-in (T0+15m), the second
        # gate (from T0+15m) at T0+30m: N·h per gate, not (N-1)·h.
        pytest.param(T0, 0, 30 * MIN, id="on-the-grid"),
        # Checked in 2 min before: its grid is T0+3m, +8m, +13m: the first gate at T0+13m, then T0+28m.
        pytest.param(T0 - 2 * MIN, 0, 28 * MIN, id="grid-offset"),
        # minimumWait of an hour dominates each gate; the second starts when the first can open.
        pytest.param(T0, 3600, 2 * HOUR, id="minimum-wait-dominates"),
    ],
)
def test_the_bound_is_the_clients_nth_check_in_chained_over_the_gates(
    last: int, minimum_wait: int, expected: int
) -> None:
    """Before the first update of a two-server roll, the rotation can end no earlier than the last client's
    N-th check-in after each change, each gate starting when the one before can open."""
    desired = desired_site(servers=["sepm01", "sepm02"], minimum_wait=minimum_wait)
    site = observed(
        servers=[server("sepm01"), server("sepm02")],
        groups=[group("g1", ROOT)],
        clients=[client("c1", "g1", last=last)],
    )

    result = plan(desired, site, None, T0)

    assert result.evidence_lower_bound == expected
    assert result.eta == T0 + expected
    gates = [s for s in result.steps if s.kind is StepKind.GATE]
    assert [g.eta for g in gates][-1] == T0 + expected


def test_a_waiting_gate_predicts_its_last_clients_check_in() -> None:
    """A gate waiting on one client predicts that client's N-th check-in as its eta and the rotation's."""
    desired = desired_site(servers=["sepm01", "sepm02"])
    before = observed(servers=[server("sepm01"), server("sepm02")], groups=[group("g1", ROOT)])
    progress = started(desired, plan(desired, before, None, T0), done={"update_certificate:sepm01": T0})
    now = T0 + 12 * MIN
    site = observed(
        servers=[server("sepm01", new("sepm01")), server("sepm02")],
        groups=[group("g1", ROOT)],
        # c1 passed at T0+11m; c2's grid (T0+4m, +9m, ...) passes at T0+14m, after T0 + (3-1)·5m.
        clients=[client("c1", "g1", last=T0 + 11 * MIN), client("c2", "g1", last=T0 + 9 * MIN)],
        now=now,
    )

    result = plan(desired, site, progress, now)

    gate = result.current
    assert gate is not None
    assert (gate.id, gate.state) == ("gate:certificate:sepm01", StepState.WAITING)
    assert gate.gate is not None
    assert gate.gate.eta == gate.eta == T0 + 14 * MIN
    # Then sepm02 (instant) and its gate: c2's grid from T0+14m passes at T0+29m, c1's at T0+26m.
    assert result.eta == T0 + 29 * MIN


def test_plan_dormant_lists_silent_clients_before_any_gate() -> None:
    """When the current step is not a gate, Plan.dormant names the clients silent for dormantAfter at now."""
    desired = desired_site(servers=["sepm01", "sepm02"])
    site = observed(
        servers=[server("sepm01"), server("sepm02")],
        groups=[group("g1", ROOT)],
        clients=[client("c1", "g1"), client("old-laptop", "g1", last=T0 - 30 * DAY)],
    )

    result = plan(desired, site, None, T0)

    assert result.dormant == ("old-laptop",)
