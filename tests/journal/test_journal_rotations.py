"""Rotations: one in progress per site, their own desired state, originals written once, outcomes."""

from __future__ import annotations

import json

import pytest
from journal_helpers import CERT_A, CERT_B, SITE, original, originals_of, start

from reconciler.journal import (
    Journal,
    Lease,
    OriginalsAlreadyRecorded,
    RotationActive,
    RotationFinished,
    RotationId,
    UnknownRotation,
)
from reconciler.model.fingerprint import normalize_fingerprint


def test_rotation_keeps_its_own_desired_state(journal: Journal, lease: Lease) -> None:
    """The desired JSON, digest, revision and procedure a rotation started from are what it returns."""
    desired = json.dumps({"site": SITE, "servers": [{"name": "sepm01"}]})
    rotation = start(
        journal,
        lease,
        desired_json=desired,
        desired_digest="d1",
        git_revision="cafe",
        procedure="multi-server",
    )
    row = journal.active_rotation(SITE)
    assert row is not None
    assert row["id"] == rotation
    assert (row["desired_json"], row["desired_digest"], row["git_revision"]) == (desired, "d1", "cafe")
    assert row["procedure"] == "multi-server"
    assert row["outcome"] is None
    assert row["token"] == lease.token


def test_only_one_rotation_in_progress_per_site(journal: Journal, lease: Lease, rotation: RotationId) -> None:
    """Starting a second rotation while one is in progress names the one in progress."""
    with pytest.raises(RotationActive) as caught:
        start(journal, lease)
    assert caught.value.rotation_id == rotation


def test_a_finished_rotation_makes_room_for_the_next(
    journal: Journal, lease: Lease, rotation: RotationId
) -> None:
    """After an outcome the site has no rotation in progress and may start another."""
    journal.finish_rotation(lease, rotation_id=rotation, outcome="completed")
    assert journal.active_rotation(SITE) is None
    second = start(journal, lease, desired_digest="d2")
    assert second != rotation
    assert [r["id"] for r in journal.rotations(SITE)] == [second, rotation]
    assert journal.rotation(rotation)["outcome"] == "completed"


def test_finish_is_idempotent_for_the_same_outcome(
    journal: Journal, lease: Lease, rotation: RotationId
) -> None:
    """Finishing twice with the same outcome (a restart after the first) writes nothing more."""
    journal.finish_rotation(lease, rotation_id=rotation, outcome="aborted")
    events = journal.history(SITE)
    journal.finish_rotation(lease, rotation_id=rotation, outcome="aborted")
    assert journal.history(SITE) == events
    with pytest.raises(RotationFinished):
        journal.finish_rotation(lease, rotation_id=rotation, outcome="completed")


def test_finished_rotation_takes_no_more_steps(journal: Journal, lease: Lease, rotation: RotationId) -> None:
    """Intent, done and gate writes to a finished rotation are refused."""
    journal.finish_rotation(lease, rotation_id=rotation, outcome="completed")
    with pytest.raises(RotationFinished):
        journal.record_intent(lease, rotation_id=rotation, step_id="s", kind="gate", target="")
    with pytest.raises(RotationFinished):
        journal.record_done(lease, rotation_id=rotation, step_id="s", applied_at=1)
    with pytest.raises(RotationFinished):
        journal.record_gate(lease, rotation_id=rotation, gate_id="g", at=1, passed=0, in_scope=0, dormant=0)


def test_originals_round_trip_into_progress(journal: Journal, rotation: RotationId) -> None:
    """The originals recorded at start are exactly what Progress gives back, certificates canonical."""
    progress = journal.progress(rotation)
    assert progress.originals == originals_of(
        original("g1", "l1"), original("g2", "l2", msl="Branch MSL", secure=False)
    )
    assert progress.original_certificates == {"sepm01": normalize_fingerprint(CERT_A)}
    assert journal.rotation(rotation)["originals_recorded"]


def test_originals_are_written_once(journal: Journal, lease: Lease, rotation: RotationId) -> None:
    """Writing the originals of a rotation a second time is an error and changes nothing."""
    with pytest.raises(OriginalsAlreadyRecorded):
        journal.record_originals(
            lease,
            rotation_id=rotation,
            originals=originals_of(original("g1", "l1", msl="Other")),
            original_certificates={"sepm01": CERT_B},
        )
    assert journal.progress(rotation).originals["g1/l1"].management_server_list == "Default MSL"


def test_originals_recorded_separately_before_the_first_step(journal: Journal, lease: Lease) -> None:
    """A rotation started without originals accepts them once, before any step."""
    rotation = start(journal, lease)
    assert not journal.rotation(rotation)["originals_recorded"]
    journal.record_originals(
        lease, rotation_id=rotation, originals=originals_of(original("g9", "l9")), original_certificates={}
    )
    assert list(journal.progress(rotation).originals) == ["g9/l9"]
    with pytest.raises(OriginalsAlreadyRecorded):
        journal.record_originals(lease, rotation_id=rotation, originals={}, original_certificates={})


def test_originals_after_a_step_are_refused(journal: Journal, lease: Lease) -> None:
    """Originals captured after something changed would restore the wrong state, so they are refused."""
    rotation = start(journal, lease)
    journal.record_intent(lease, rotation_id=rotation, step_id="assign", kind="assign_msl", target="g1/l1")
    with pytest.raises(OriginalsAlreadyRecorded, match="steps were recorded before"):
        journal.record_originals(
            lease,
            rotation_id=rotation,
            originals=originals_of(original("g1", "l1")),
            original_certificates={},
        )
    assert journal.progress(rotation).originals == {}


def test_original_keyed_by_another_location_is_refused(journal: Journal, lease: Lease) -> None:
    """An original filed under a key that is not its own location's is a caller bug, refused whole."""
    with pytest.raises(ValueError, match="describes location"):
        start(journal, lease, originals={"g1/l2": original("g1", "l1")}, original_certificates={})
    assert journal.active_rotation(SITE) is None


@pytest.mark.parametrize(
    "desired_json",
    [
        pytest.param("not json", id="not-json"),
        pytest.param(
            json.dumps({"key": "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----"}),
            id="embedded-private-key",
        ),
    ],
)
def test_unusable_desired_state_is_refused(journal: Journal, lease: Lease, desired_json: str) -> None:
    """A rotation cannot start from desired JSON that does not parse or that embeds a private key."""
    with pytest.raises(ValueError):
        start(journal, lease, desired_json=desired_json)
    assert journal.active_rotation(SITE) is None


def test_unknown_rotation_is_named(journal: Journal) -> None:
    """Reading a rotation that does not exist says which id was asked for."""
    with pytest.raises(UnknownRotation, match="r-missing"):
        journal.progress("r-missing")
