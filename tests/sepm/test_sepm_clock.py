"""SEPM's clock from serverTime and the 1-second Date header."""

from __future__ import annotations

from sepm_fakes import START_MS, http_date

from reconciler.sepm.clock import SepmClock, parse_http_date_ms


class Monotonic:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_date_alone_gives_its_lower_bound():
    """With only a Date header, the clock reads the start of that second."""
    clock = SepmClock(monotonic=Monotonic())
    clock.observe_date(http_date(START_MS + 1_500))
    assert clock.last_ms == START_MS + 1_000


def test_server_time_is_exact_and_advances_within_the_date_window():
    """After an exact serverTime, later readings advance by elapsed time inside the Date's second."""
    tick = Monotonic()
    clock = SepmClock(monotonic=tick)
    clock.observe_server_time(START_MS + 250, date_header=http_date(START_MS))
    assert clock.last_ms == START_MS + 250
    tick.now += 2.4  # 2.4 s later SEPM says it is second +2
    clock.observe_date(http_date(START_MS + 2_000))
    assert clock.last_ms == START_MS + 2_650


def test_a_faster_sepm_clock_is_caught_up_by_the_date():
    """When SEPM's clock runs faster than ours (the simulator), the Date window pulls the estimate up."""
    tick = Monotonic()
    clock = SepmClock(monotonic=tick)
    clock.observe_server_time(START_MS)
    tick.now += 1.0  # one real second, but an hour of simulated time
    clock.observe_date(http_date(START_MS + 3_600_000))
    assert clock.last_ms == START_MS + 3_600_000


def test_a_slower_sepm_clock_is_held_to_the_date():
    """When SEPM's clock runs slower than ours, the estimate stays inside the Date's second."""
    tick = Monotonic()
    clock = SepmClock(monotonic=tick)
    clock.observe_server_time(START_MS)
    tick.now += 10.0
    clock.observe_date(http_date(START_MS + 2_000))
    assert clock.last_ms == START_MS + 2_999


def test_the_clock_never_goes_back():
    """An older Date (a slow parallel response) does not move the clock backwards."""
    clock = SepmClock(monotonic=Monotonic())
    clock.observe_date(http_date(START_MS + 5_000))
    clock.observe_date(http_date(START_MS + 1_000))
    assert clock.last_ms == START_MS + 5_000


def test_now_forecasts_from_the_last_reading():
    """now_ms() adds our elapsed time to the last reading; unknown before any reading."""
    tick = Monotonic()
    clock = SepmClock(monotonic=tick)
    assert clock.now_ms() is None
    clock.observe_server_time(START_MS)
    tick.now += 3.0
    assert clock.now_ms() == START_MS + 3_000


def test_unreadable_dates_are_ignored():
    """A missing or malformed Date header leaves the clock unknown rather than wrong."""
    clock = SepmClock(monotonic=Monotonic())
    clock.observe_date(None)
    clock.observe_date("yesterday")
    assert clock.last_ms is None
    assert parse_http_date_ms("Sat, 29 Nov 2025 18:20:00 GMT") == 1764440400000
