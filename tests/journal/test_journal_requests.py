"""Requests from people to a running controller: ack, proceed, abort, suspend, resume."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from journal_helpers import SITE, FakeClock, start

from reconciler.journal import Journal, Lease, NoActiveRotation, RotationId


def test_ack_round_trips_into_progress(journal: Journal, rotation: RotationId) -> None:
    """An acknowledged operator step appears in Progress with who acknowledged it and their note."""
    assert journal.request_ack(SITE, "copy_msl:Default", who="alice", note="copied in console") == rotation
    journal.request_ack(SITE, "update_certificate:sepm01", who="bob")
    assert journal.progress(rotation).acknowledged == {
        "copy_msl:Default": "alice: copied in console",
        "update_certificate:sepm01": "bob",
    }


def test_first_ack_counts(journal: Journal, rotation: RotationId) -> None:
    """A second ack of the same step is kept in history but does not replace the first."""
    journal.request_ack(SITE, "s", who="alice", note="first")
    journal.request_ack(SITE, "s", who="bob", note="second")
    assert journal.progress(rotation).acknowledged == {"s": "alice: first"}
    assert [h["who"] for h in journal.history(SITE) if h["event"] == "ack"] == ["bob", "alice"]


def test_proceed_round_trips_with_its_reason(journal: Journal, rotation: RotationId) -> None:
    """A break-glass proceed is visible to the planner with the reason and who gave it."""
    journal.request_proceed(SITE, "gate:after-disable", reason="12 laptops are scrapped", who="carol")
    assert journal.progress(rotation).proceeded == {"gate:after-disable": "12 laptops are scrapped (carol)"}


@pytest.mark.parametrize("reason", [pytest.param("", id="empty"), pytest.param("  ", id="blank")])
def test_proceed_needs_a_reason(journal: Journal, rotation: RotationId, reason: str) -> None:
    """Proceeding past a gate without its evidence is refused without a reason."""
    with pytest.raises(ValueError, match="reason"):
        journal.request_proceed(SITE, "gate:x", reason=reason, who="carol")
    assert journal.progress(rotation).proceeded == {}


def test_abort_round_trips(journal: Journal, rotation: RotationId) -> None:
    """An abort request sets Progress.aborted for the rotation in progress."""
    assert not journal.progress(rotation).aborted
    journal.request_abort(SITE, who="dave", reason="wrong certificate")
    assert journal.progress(rotation).aborted
    (event,) = [h for h in journal.history(SITE) if h["event"] == "abort"]
    assert (event["who"], event["message"], event["rotation_id"]) == ("dave", "wrong certificate", rotation)


def test_aborted_outcome_reads_as_aborted(journal: Journal, lease: Lease, rotation: RotationId) -> None:
    """A rotation finished as aborted reads as aborted even without a recorded request."""
    journal.finish_rotation(lease, rotation_id=rotation, outcome="aborted")
    assert journal.progress(rotation).aborted


@pytest.mark.parametrize(
    "request_",
    [
        pytest.param(lambda j: j.request_ack(SITE, "s", who="a"), id="ack"),
        pytest.param(lambda j: j.request_proceed(SITE, "g", reason="r", who="a"), id="proceed"),
        pytest.param(lambda j: j.request_abort(SITE, who="a", reason="r"), id="abort"),
    ],
)
def test_requests_need_a_rotation_in_progress(
    journal: Journal, request_: Callable[[Journal], object]
) -> None:
    """With no rotation in progress at the site, a request is refused rather than kept for later."""
    with pytest.raises(NoActiveRotation, match=SITE):
        request_(journal)
    assert journal.history(SITE) == []


def test_requests_do_not_leak_into_the_next_rotation(
    journal: Journal, lease: Lease, rotation: RotationId
) -> None:
    """Acks, proceeds and aborts belong to the rotation they were made in, not to a later one."""
    journal.request_ack(SITE, "s", who="a")
    journal.request_proceed(SITE, "g", reason="r", who="a")
    journal.request_abort(SITE, who="a", reason="r")
    journal.finish_rotation(lease, rotation_id=rotation, outcome="aborted")
    nxt = start(journal, lease)
    progress = journal.progress(nxt)
    assert (progress.acknowledged, progress.proceeded, progress.aborted) == ({}, {}, False)


def test_requests_need_no_lease_while_a_controller_holds_the_site(
    journal_path: Path, clock: FakeClock, journal: Journal, rotation: RotationId
) -> None:
    """The CLI writes requests through its own connection while the controller holds the lock."""
    with Journal(journal_path, clock=clock) as cli:
        cli.request_ack(SITE, "s", who="ops")
        cli.set_suspended(SITE, True, who="ops", reason="freeze")
    assert journal.progress(rotation).acknowledged == {"s": "ops"}
    assert journal.suspended(SITE)


def test_suspend_and_resume_round_trip(journal: Journal, clock: FakeClock) -> None:
    """Suspend freezes a site with who and why; resume lifts it; repeating either changes nothing."""
    assert not journal.suspended(SITE)
    assert journal.site_state(SITE) is None
    assert not journal.set_suspended(SITE, False, who="ops")
    assert journal.set_suspended(SITE, True, who="ops", reason="change freeze")
    assert not journal.set_suspended(SITE, True, who="other", reason="again")
    state = journal.site_state(SITE)
    assert state is not None
    assert (state["suspended"], state["who"], state["reason"]) == (True, "ops", "change freeze")
    assert not journal.suspended("branch")
    clock.advance(10)
    assert journal.set_suspended(SITE, False, who="ops2", reason="freeze over")
    assert not journal.suspended(SITE)
    assert [h["event"] for h in journal.history(SITE)] == ["resume", "suspend"]


def test_requests_must_name_who(journal: Journal, rotation: RotationId) -> None:
    """A request without a person behind it is refused."""
    with pytest.raises(ValueError, match="who"):
        journal.request_abort(SITE, who=" ", reason="r")
    with pytest.raises(ValueError, match="who"):
        journal.set_suspended(SITE, True, who="")
