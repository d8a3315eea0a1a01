"""How many of our seconds a span of SEPM time takes: the pace that schedules gate checks."""

from __future__ import annotations

import pytest

from reconciler.controller.sepm_pace import SepmPace


def test_sepm_pace_learns_the_rate_of_a_faster_clock():
    """After a few observations of a clock running 600x, the estimate converges and sleeps shrink with it."""
    now = [0.0]
    clock = SepmPace(monotonic=lambda: now[0])
    assert clock.seconds_until(10) == 0.0, "unknown before the first observation"
    for i in range(12):
        clock.observe(1_000_000 + int(i * 600_000))  # 600 s of SEPM time per local second
        now[0] += 1.0
    assert clock.rate == pytest.approx(600_000, rel=0.01)
    now[0] -= 1.0
    target = clock.now_ms() + 300_000  # one 5-minute heartbeat ahead
    assert clock.seconds_until(target) == pytest.approx(0.5, rel=0.02)
