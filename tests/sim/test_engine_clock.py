"""The simulated clock: speed, test jumps, and never going backwards."""

from __future__ import annotations

import time

import pytest

from reconciler.sim.clock import SimClock


def test_advance_jumps_forward_exactly():
    """advance(ms) moves a nearly stopped clock by exactly ms."""
    clock = SimClock(speed=1e-9, start_ms=1_000)
    assert clock.now_ms() == 1_000
    clock.advance(250)
    assert clock.now_ms() == 1_250
    with pytest.raises(ValueError, match="never goes back"):
        clock.advance(-1)


def test_speed_multiplies_real_time():
    """At speed 1000, 20 real milliseconds are about 20 simulated seconds."""
    clock = SimClock(speed=1000, start_ms=0)
    time.sleep(0.02)
    assert 15_000 <= clock.now_ms() <= 2_000_000


def test_changing_speed_keeps_time_continuous():
    """A speed change re-bases: the simulated time does not jump at the change. Between the two
    readings it moves only by the real time that passed, at the old speed (bounded by that real time,
    measured around them, so a busy machine that pauses this thread does not fail the test)."""
    clock = SimClock(speed=1000, start_ms=0)
    time.sleep(0.01)
    started = time.monotonic()
    before = clock.now_ms()
    clock.speed = 1e-9
    after = clock.now_ms()
    real_ms = (time.monotonic() - started) * 1000
    assert before <= after <= before + real_ms * 1000 + 1
    assert clock.speed == 1e-9
    with pytest.raises(ValueError, match="positive"):
        clock.speed = 0


def test_default_start_is_real_now():
    """Without start_ms the clock starts at the real wall-clock time."""
    clock = SimClock()
    assert abs(clock.now_ms() - time.time() * 1000) < 5_000


def test_now_never_decreases():
    """Successive readings never decrease."""
    clock = SimClock(speed=123.0, start_ms=0)
    readings = [clock.now_ms() for _ in range(2000)]
    assert readings == sorted(readings)
