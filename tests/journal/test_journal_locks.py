"""One writer per site: leases, expiry, fencing tokens."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from journal_helpers import SITE, FakeClock, start

from reconciler.journal import Journal, Lease, LockLost, RotationId, SiteLocked, UnknownRotation


def test_second_acquire_fails_while_the_lease_is_live(
    journal: Journal, lease: Lease, clock: FakeClock
) -> None:
    """While a lease is live nobody else gets the site, and the error names the holder and expiry."""
    clock.advance(29)
    with pytest.raises(SiteLocked) as caught:
        journal.acquire_lock(SITE, owner="controller-2", ttl_seconds=30)
    assert caught.value.owner == "controller-1"
    assert caught.value.expires == lease.expires_wall


def test_same_owner_name_does_not_reenter(journal: Journal, lease: Lease) -> None:
    """A second process under the same owner name is still a second writer and is refused."""
    with pytest.raises(SiteLocked):
        journal.acquire_lock(SITE, owner=lease.owner, ttl_seconds=30)


def test_expired_lease_is_taken_over_with_a_higher_token(
    journal: Journal, lease: Lease, clock: FakeClock
) -> None:
    """After expiry another owner acquires the site with the next fencing token."""
    clock.advance(30.001)
    taken = journal.acquire_lock(SITE, owner="controller-2", ttl_seconds=30)
    assert taken.token == lease.token + 1
    holder = journal.lock_holder(SITE)
    assert holder is not None
    assert (holder["owner"], holder["token"]) == ("controller-2", taken.token)
    assert "had expired" in journal.history(SITE, limit=1)[0]["message"]


def test_sites_are_locked_independently(journal: Journal, lease: Lease) -> None:
    """A lock on one site does not hold another; each site counts its own tokens."""
    other = journal.acquire_lock("branch", owner="controller-2", ttl_seconds=30)
    assert other.token == 1
    assert lease.site == SITE


def test_renew_extends_the_lease(journal: Journal, lease: Lease, clock: FakeClock) -> None:
    """A renewed lease expires TTL seconds after the renewal, not after the acquisition."""
    clock.advance(20)
    renewed = journal.renew(lease)
    assert renewed.expires_wall == clock.now + 30
    assert renewed.token == lease.token
    clock.advance(20)
    with pytest.raises(SiteLocked):
        journal.acquire_lock(SITE, owner="controller-2", ttl_seconds=30)


def test_release_lets_the_next_owner_in_and_keeps_counting(journal: Journal, lease: Lease) -> None:
    """A released site is free at once, and the token sequence continues rather than restarting."""
    assert journal.release(lease)
    assert journal.lock_holder(SITE) is None
    nxt = journal.acquire_lock(SITE, owner="controller-2", ttl_seconds=30)
    assert nxt.token == lease.token + 1


def test_release_of_a_lost_lease_changes_nothing(journal: Journal, lease: Lease, clock: FakeClock) -> None:
    """Releasing a lease that was taken over returns False and leaves the new holder in place."""
    clock.advance(31)
    nxt = journal.acquire_lock(SITE, owner="controller-2", ttl_seconds=30)
    assert not journal.release(lease)
    holder = journal.lock_holder(SITE)
    assert holder is not None
    assert holder["token"] == nxt.token


def test_expired_lease_nobody_took_still_writes(
    journal: Journal, lease: Lease, rotation: RotationId, clock: FakeClock
) -> None:
    """Expiry alone does not fence: until someone takes over, the token is current and may renew."""
    clock.advance(60)
    journal.record_intent(lease, rotation_id=rotation, step_id="s1", kind="assign_msl", target="g1/l1")
    assert journal.renew(lease).expires_wall == clock.now + 30


WRITES: list[tuple[str, Callable[[Journal, Lease, RotationId], object]]] = [
    ("renew", lambda j, lease, r: j.renew(lease)),
    (
        "start_rotation",
        lambda j, lease, r: start(j, lease),
    ),
    (
        "record_originals",
        lambda j, lease, r: j.record_originals(lease, rotation_id=r, originals={}, original_certificates={}),
    ),
    (
        "record_intent",
        lambda j, lease, r: j.record_intent(lease, rotation_id=r, step_id="s", kind="gate", target=""),
    ),
    ("record_done", lambda j, lease, r: j.record_done(lease, rotation_id=r, step_id="s", applied_at=5)),
    ("record_failed", lambda j, lease, r: j.record_failed(lease, rotation_id=r, step_id="s", message="no")),
    (
        "record_gate",
        lambda j, lease, r: j.record_gate(
            lease, rotation_id=r, gate_id="g", at=5, passed=1, in_scope=2, dormant=0
        ),
    ),
    ("finish_rotation", lambda j, lease, r: j.finish_rotation(lease, rotation_id=r, outcome="completed")),
]


@pytest.mark.parametrize("write", [pytest.param(w, id=name) for name, w in WRITES])
def test_taken_over_lease_cannot_write(
    journal: Journal, lease: Lease, clock: FakeClock, write: Callable[[Journal, Lease, RotationId], object]
) -> None:
    """Once another owner holds the site, every mutating call with the old token raises LockLost."""
    rotation = start(journal, lease)
    before = journal.history(SITE, limit=1000)
    clock.advance(31)
    journal.acquire_lock(SITE, owner="controller-2", ttl_seconds=30)
    after_takeover = journal.history(SITE, limit=1000)
    with pytest.raises(LockLost) as caught:
        write(journal, lease, rotation)
    assert caught.value.token == lease.token
    assert caught.value.current == lease.token + 1
    assert journal.history(SITE, limit=1000) == after_takeover
    assert len(after_takeover) == len(before) + 1


@pytest.mark.parametrize("write", [pytest.param(w, id=name) for name, w in WRITES])
def test_released_lease_cannot_write(
    journal: Journal, lease: Lease, write: Callable[[Journal, Lease, RotationId], object]
) -> None:
    """After a clean release the old token is dead even though nobody else holds the site."""
    rotation = start(journal, lease)
    journal.release(lease)
    with pytest.raises(LockLost) as caught:
        write(journal, lease, rotation)
    assert caught.value.current is None


def test_lease_of_another_site_cannot_touch_a_rotation(journal: Journal, lease: Lease) -> None:
    """A valid lease on one site does not let its holder write another site's rotation."""
    rotation = start(journal, lease)
    other = journal.acquire_lock("branch", owner="controller-1", ttl_seconds=30)
    with pytest.raises(UnknownRotation):
        journal.record_intent(other, rotation_id=rotation, step_id="s", kind="gate", target="")


@pytest.mark.parametrize(
    ("owner", "ttl"),
    [
        pytest.param("", 30, id="no-owner"),
        pytest.param("c", 0, id="zero-ttl"),
        pytest.param("c", -1, id="neg"),
    ],
)
def test_acquire_validates_its_arguments(journal: Journal, owner: str, ttl: float) -> None:
    """A lock needs a named owner and a positive TTL."""
    with pytest.raises(ValueError):
        journal.acquire_lock(SITE, owner=owner, ttl_seconds=ttl)
