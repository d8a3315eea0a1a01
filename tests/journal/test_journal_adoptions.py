"""Adoption requests: written by a person for a site whose journal lost its rotation, settled once by the
controller that holds the site, in the transaction that starts the adopted rotation."""

from __future__ import annotations

import pytest
from journal_helpers import SITE, original, originals_of, start

from reconciler.journal import Journal, Lease, RotationActive


def test_an_adoption_waits_pending_until_the_controller_starts_its_rotation(journal: Journal, lease: Lease):
    """The request is pending; starting the rotation with it settles it with that rotation, once."""
    request = journal.request_adopt(SITE, restore=False, who="alice", reason="volume lost")
    pending = journal.pending_adoption(SITE)
    assert pending is not None
    assert (pending["id"], pending["restore"], pending["who"]) == (request, False, "alice")

    rotation = start(journal, lease, originals=originals_of(original("g1", "l1")), adoption=pending)

    assert journal.pending_adoption(SITE) is None
    assert not journal.progress(rotation).aborted
    events = [row["event"] for row in journal.history(SITE)]
    assert "adopted" in events
    assert "adopt" in events


def test_adopting_to_restore_aborts_the_new_rotation_in_the_same_transaction(journal: Journal, lease: Lease):
    """With --restore, the adopted rotation is aborted from its first instant: originals come back first."""
    journal.request_adopt(SITE, restore=True, who="alice")
    pending = journal.pending_adoption(SITE)
    assert pending is not None

    rotation = start(journal, lease, originals=originals_of(original("g1", "l1")), adoption=pending)

    assert journal.progress(rotation).aborted


def test_a_site_with_a_rotation_in_the_journal_has_nothing_to_adopt(journal: Journal, lease: Lease):
    """While the journal holds a rotation of the site, an adoption is refused, naming it."""
    rotation = start(journal, lease)
    with pytest.raises(RotationActive, match=rotation):
        journal.request_adopt(SITE, restore=False, who="alice")


def test_nothing_to_adopt_settles_the_request_without_a_rotation(journal: Journal, lease: Lease):
    """When SEPM shows nothing to adopt the controller settles the request; settling twice is refused."""
    journal.request_adopt(SITE, restore=False, who="alice")
    pending = journal.pending_adoption(SITE)
    assert pending is not None

    journal.settle_adoption(lease, pending, outcome="nothing to adopt")

    assert journal.pending_adoption(SITE) is None
    with pytest.raises(ValueError, match="not pending"):
        journal.settle_adoption(lease, pending, outcome="again")


def test_an_adoption_needs_to_say_who(journal: Journal):
    """An anonymous request is refused."""
    with pytest.raises(ValueError, match="who"):
        journal.request_adopt(SITE, restore=False, who="  ")


def test_one_adoption_waits_at_a_time(journal: Journal):
    """A second request while one is pending is refused: the first one is what the controller will do."""
    journal.request_adopt(SITE, restore=False, who="alice")
    with pytest.raises(ValueError, match="already has an adoption waiting"):
        journal.request_adopt(SITE, restore=True, who="bob")
