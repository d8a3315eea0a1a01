"""A site after a failure: back off (full jitter, growing, Retry-After obeyed) or stall, and start small
again once a step is done."""

from __future__ import annotations

import random

from reconciler.controller.failures import SITE_BACKOFF, STALLED_RECHECK, Failures


def test_transient_failures_back_off_within_a_growing_ceiling_and_say_retrying():
    """Each transient failure waits at most base * 2**(n-1) (capped); the status says Retrying."""
    failures = Failures("hq", random.Random(4))
    for n in range(1, 12):
        after = failures.transient("SEPM failed (503)")
        ceiling = min(SITE_BACKOFF.max_delay, SITE_BACKOFF.base_delay * 2 ** (n - 1))
        assert 0.0 <= after.delay <= ceiling
        assert after.status is not None
        assert (after.status.phase, after.status.reason) == ("Reconciling", "Retrying")
    assert failures.count == 11


def test_sepms_retry_after_is_the_wait():
    """When SEPM said how long to wait, the site waits exactly that long."""
    after = Failures("hq", random.Random(0)).transient("throttled", retry_after=42.0)
    assert after.delay == 42.0


def test_a_step_done_starts_the_back_off_small_again():
    """After cleared(), the next failure waits no more than the first one could."""
    failures = Failures("hq", random.Random(1))
    for _ in range(9):
        failures.transient("down")
    failures.cleared()
    assert failures.transient("down").delay <= SITE_BACKOFF.base_delay


def test_a_permanent_failure_stalls_with_its_reason_and_is_rechecked_slowly():
    """A permanent error stalls the site (reason = the error's name) and is looked at within twice the
    stalled recheck, never at once."""
    after = Failures("hq", random.Random(2)).permanent("PinMismatch", "sepm01 presents AA:BB", poll=30.0)
    assert after.status is not None
    assert (after.status.phase, after.status.reason, after.status.message) == (
        "Stalled",
        "PinMismatch",
        "sepm01 presents AA:BB",
    )
    assert 30.0 * 2 * 0.8 <= after.delay <= min(30.0, STALLED_RECHECK) * 2 * 1.2


def test_rejected_credentials_are_rechecked_at_the_poll_so_a_fixed_secret_resumes_soon():
    """A rejected password is looked at again at the poll interval (locally: no logon is retried)."""
    after = Failures("hq", random.Random(3)).permanent("CredentialsRejected", "rejected", poll=0.25)
    assert 0.2 <= after.delay <= 0.3
