"""Check-in schedule closed forms against stepping through the rule one check-in at a time."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.sim.schedule import (
    NEVER,
    count_checkins,
    is_online,
    last_checkin,
    next_checkin,
    normalize_windows,
)


def stepped(anchor: int, h: int, windows: tuple[tuple[int, int], ...], horizon: int) -> list[int]:
    """The rule itself: next = previous + h, or the end of the offline window it falls into."""
    out = [anchor]
    t = anchor
    while t <= horizon:
        t += h
        for a, b in windows:
            if a <= t < b:
                t = b
        out.append(t)
    return out


@st.composite
def schedules(draw: st.DrawFn) -> tuple[int, int, tuple[tuple[int, int], ...]]:
    # Small integers so that grid points often land exactly on window edges.
    h = draw(st.integers(1, 12))
    anchor = draw(st.integers(0, 20))
    raw = draw(st.lists(st.tuples(st.integers(anchor + 1, 150), st.integers(1, 40)), max_size=4))
    return anchor, h, normalize_windows((a, a + length) for a, length in raw)


@settings(max_examples=300, deadline=None)
@given(schedule=schedules(), t0=st.integers(0, 160), span=st.integers(0, 60))
def test_closed_forms_match_stepping(schedule, t0, span):
    """next/last/count over a window-interrupted grid agree with stepping check-in by check-in."""
    anchor, h, windows = schedule
    t0 = max(t0, anchor)
    t1 = t0 + span
    times = stepped(anchor, h, windows, t1 + 1)
    assert next_checkin(anchor, h, windows, False, t0) == min(x for x in times if x > t0)
    assert last_checkin(anchor, h, windows, False, t1) == max(x for x in times if x <= t1)
    assert count_checkins(anchor, h, windows, False, since=t0, until=t1) == sum(
        1 for x in times if t0 < x <= t1
    )


def test_checkins_never_fall_inside_an_offline_window():
    """Every stepped check-in is outside the windows (the rule the engine relies on for anchors)."""
    windows = normalize_windows([(10, 25), (30, 31)])
    times = stepped(0, 5, windows, 100)
    assert times[:8] == [0, 5, 25, 31, 36, 41, 46, 51]
    assert all(is_online(windows, False, t) for t in times)


def test_dormant_clients_never_check_in():
    """A dormant client has no next check-in and its last one stays its anchor."""
    assert next_checkin(100, 5, (), True, 200) == NEVER
    assert last_checkin(100, 5, (), True, 10_000) == 100
    assert count_checkins(100, 5, (), True, since=100, until=10_000) == 0
    assert not is_online((), True, 150)


@pytest.mark.parametrize(
    ("windows", "expected"),
    [
        pytest.param([(5, 10), (1, 3)], ((1, 3), (5, 10)), id="sorted"),
        pytest.param([(1, 5), (4, 8)], ((1, 8),), id="overlapping-merged"),
        pytest.param([(1, 5), (5, 8)], ((1, 8),), id="touching-merged"),
        pytest.param([(4, 4), (6, 2)], (), id="empty-dropped"),
    ],
)
def test_normalize_windows(windows, expected):
    """Windows become sorted, disjoint and separated, so that one pass over them is enough."""
    assert normalize_windows(windows) == expected


@pytest.mark.parametrize(
    ("t", "online"),
    [
        pytest.param(9, True, id="before"),
        pytest.param(10, False, id="window-start-offline"),
        pytest.param(19, False, id="inside"),
        pytest.param(20, True, id="window-end-online"),
    ],
)
def test_online_follows_the_windows(t, online):
    """A window [a, b) is offline from a inclusive to b exclusive."""
    assert is_online(((10, 20),), False, t) is online
