"""The one back-off policy: full jitter, attempts, Retry-After, and the retry loop built on it."""

from __future__ import annotations

import random

import pytest

from reconciler.backoff import RetryPolicy


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


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [
        pytest.param(7.0, 7.0, id="obeyed-exactly"),
        pytest.param(0.0, 0.0, id="zero"),
        pytest.param(121.0, None, id="longer-than-max-ends-retries"),
    ],
)
def test_retry_after_is_the_wait_up_to_its_maximum(retry_after, expected):
    """A server's Retry-After replaces the jittered wait, unless it exceeds max_retry_after (then: stop)."""
    policy = RetryPolicy(attempts=5, max_retry_after=120.0)
    assert policy.delay(1, random.Random(0), retry_after=retry_after) == expected


def test_attempts_count_the_first_try():
    """attempts=3 allows retries 1 and 2; the third retry is refused (None)."""
    policy = RetryPolicy(attempts=3)
    rng = random.Random(0)
    assert policy.delay(1, rng) is not None
    assert policy.delay(2, rng) is not None
    assert policy.delay(3, rng) is None


def test_unbounded_policy_never_gives_up_and_never_overflows():
    """attempts=None keeps answering, capped at max_delay, even after a very long run of failures."""
    policy = RetryPolicy(attempts=None, base_delay=0.5, max_delay=300.0)
    rng = random.Random(0)
    delays = [policy.delay(n, rng) for n in (1, 10, 1_000, 100_000)]
    assert all(d is not None and 0.0 <= d <= 300.0 for d in delays)


async def test_call_retries_what_it_is_told_and_sleeps_through_the_injected_sleep():
    """call() retries the named errors with the policy's waits, through the injected sleep, then returns."""
    slept: list[float] = []
    tries: list[int] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def flaky() -> str:
        tries.append(1)
        if len(tries) < 3:
            raise TimeoutError("not yet")
        return "ok"

    policy = RetryPolicy(attempts=5, base_delay=1.0, max_delay=4.0)
    assert await policy.call(flaky, retry_on=TimeoutError, sleep=sleep, rng=random.Random(1)) == "ok"
    assert len(tries) == 3
    assert len(slept) == 2
    assert all(0.0 <= s <= 2.0 for s in slept)


async def test_call_raises_the_last_error_when_attempts_are_spent_and_never_retries_others():
    """Out of attempts, the last error is raised; an error retry_on does not name is raised at once."""
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def always_times_out() -> None:
        raise TimeoutError("again")

    with pytest.raises(TimeoutError, match="again"):
        await RetryPolicy(attempts=2).call(always_times_out, retry_on=TimeoutError, sleep=sleep)
    assert len(slept) == 1

    async def broken() -> None:
        raise ValueError("permanent")

    with pytest.raises(ValueError, match="permanent"):
        await RetryPolicy(attempts=9).call(broken, retry_on=TimeoutError, sleep=sleep)
    assert len(slept) == 1


async def test_call_honours_an_errors_retry_after():
    """An error carrying retry_after waits exactly that long."""
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    class Busy(Exception):
        retry_after = 3.0

    calls: list[int] = []

    async def busy_once() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise Busy
        return 42

    assert await RetryPolicy().call(busy_once, retry_on=Busy, sleep=sleep) == 42
    assert slept == [3.0]
