"""Back-off with full jitter and the reading of Retry-After."""

from __future__ import annotations

import random

import pytest

from reconciler.sepm.retry import RetryPolicy, parse_retry_after


def test_backoff_stays_within_the_doubling_ceiling():
    """Each delay lies in [0, min(max_delay, base * 2**(retry-1))]."""
    policy = RetryPolicy(attempts=10, base_delay=0.5, max_delay=5.0)
    rng = random.Random(7)
    for retry in range(1, 10):
        ceiling = min(5.0, 0.5 * 2 ** (retry - 1))
        delays = [policy.backoff(retry, rng) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in delays)
        # Full jitter uses the whole range, not just its top.
        assert max(delays) > ceiling * 0.8
        assert min(delays) < ceiling * 0.2


def test_backoff_is_reproducible_with_a_seed():
    """The same seed gives the same delays, so retry tests can be exact."""
    policy = RetryPolicy()
    first = [policy.backoff(n, random.Random(99)) for n in range(1, 6)]
    second = [policy.backoff(n, random.Random(99)) for n in range(1, 6)]
    assert first == second


@pytest.mark.parametrize("attempts", [0, -1])
def test_policy_needs_one_attempt(attempts):
    """A policy without even the first try is refused."""
    with pytest.raises(ValueError, match="attempts"):
        RetryPolicy(attempts=attempts)


DATE = "Sat, 29 Nov 2025 18:20:00 GMT"


@pytest.mark.parametrize(
    ("value", "date", "expected"),
    [
        pytest.param("7", None, 7.0, id="delta-seconds"),
        pytest.param(" 120 ", None, 120.0, id="spaces"),
        pytest.param(None, None, None, id="absent"),
        pytest.param("", DATE, None, id="empty"),
        pytest.param("soon", DATE, None, id="garbage"),
        pytest.param("Sat, 29 Nov 2025 18:20:30 GMT", DATE, 30.0, id="http-date-vs-sepm-date"),
        pytest.param("Sat, 29 Nov 2025 18:19:00 GMT", DATE, 0.0, id="date-in-the-past"),
        pytest.param("Sat, 29 Nov 2025 18:20:30 GMT", None, None, id="date-without-sepm-date"),
    ],
)
def test_retry_after_is_read_against_sepms_clock(value, date, expected):
    """Retry-After is delta-seconds or an HTTP date measured against the response's own Date."""
    assert parse_retry_after(value, date_header=date) == expected
