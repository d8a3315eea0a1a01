"""A rotation under way that the journal does not hold: SEPM shows it, the site blocks, `adopt` takes over.

The single-server site has ``g1`` (secure communications normally on) and ``g7`` in ``My Company\\Lab``
(declared in secureCommunicationsOff: off on purpose). ``COPY`` is the HTTP copy of the default list.
"""

from __future__ import annotations

import pytest

from reconciler.model.observed import Observed
from reconciler.model.plan import Plan, StepState
from reconciler.model.progress import Progress
from reconciler.plan import plan
from reconciler.plan.adoption import Adoption, adopt

from .builders import DEFAULT_MSL, LAB, ROOT, T0, client, desired_site, group, new, observed, old, server

COPY = f"{DEFAULT_MSL} (HTTP)"


def _site(
    g1: tuple[str, bool], *, g7_secure: bool = False, certificates: dict[str, str] | None = None
) -> Observed:
    certificates = certificates or {"sepm01": old("sepm01")}
    return observed(
        servers=[server(name, fingerprint) for name, fingerprint in certificates.items()],
        groups=[group("g1", ROOT, msl=g1[0], secure=g1[1]), group("g7", LAB, secure=g7_secure)],
        clients=[client("c1", "g1"), client("l1", "g7")],
    )


def _reason(result: Plan) -> str | None:
    return result.current.reason if result.current is not None else None


def _adopted(adoption: Adoption, *, aborted: bool = False, **desired: object) -> Progress:
    assert adoption.procedure is not None
    return Progress(
        rotation_id="r-adopted",
        desired_digest=desired_site(**desired).digest(),  # type: ignore[arg-type]
        procedure=adoption.procedure,
        started_at=T0,
        originals=adoption.originals,
        original_certificates=adoption.original_certificates,
        aborted=aborted,
    )


@pytest.mark.parametrize(
    ("g1", "g7_secure", "certificates", "evidence"),
    [
        pytest.param((DEFAULT_MSL, True), False, None, None, id="normal-site-lab-off-by-design"),
        pytest.param((DEFAULT_MSL, True), True, None, None, id="lab-back-on-is-no-rotation"),
        pytest.param((COPY, True), False, None, "the HTTP copy of", id="location-on-the-http-copy"),
        pytest.param((DEFAULT_MSL, False), False, None, "has secure communications off", id="undeclared-off"),
        pytest.param(
            (DEFAULT_MSL, True),
            False,
            {"sepm01": new("sepm01"), "sepm02": old("sepm02")},
            "sepm01 already present(s) the desired certificate while sepm02",
            id="rolling-update-half-way",
        ),
        pytest.param(
            (COPY, False),
            False,
            {"sepm01": new("sepm01"), "sepm02": new("sepm02")},
            "the HTTP copy of",
            id="certificates-done-restore-not",
        ),
    ],
)
def test_without_a_journal_sepms_own_state_tells_a_rotation_is_under_way(
    g1, g7_secure, certificates, evidence
):
    """An HTTP copy assigned, secure communications off outside secureCommunicationsOff, or servers half
    way through a rolling update block the site with the evidence and both ways out; nothing else does."""
    servers = list(certificates) if certificates else ["sepm01"]
    desired = desired_site(servers=servers)

    result = plan(desired, _site(g1, g7_secure=g7_secure, certificates=certificates), None, T0)

    if evidence is None:
        assert _reason(result) != "RotationWithoutJournal"
        return
    assert _reason(result) == "RotationWithoutJournal"
    assert result.current is not None
    message = result.current.message or ""
    assert evidence in message
    assert "sepm-reconciler adopt hq" in message
    assert "sepm-reconciler adopt hq --restore" in message


def test_adoption_rebuilds_the_originals_from_the_desired_lists():
    """A prepared site is adopted with each location back on the list its copy was made of and secure
    communications on, except where declared off; certificates as presented."""
    adoption = adopt(desired_site(), _site((COPY, False)))

    assert adoption.problems == ()
    assert adoption.procedure == "single-server"
    assert {
        k: (o.management_server_list, o.secure_communications) for k, o in adoption.originals.items()
    } == {
        "g1/g1-L1": (DEFAULT_MSL, True),
        "g7/g7-L1": (DEFAULT_MSL, False),
    }
    assert adoption.original_certificates == {"sepm01": old("sepm01")}


def test_an_adopted_rotation_records_what_is_visible_and_counts_its_gate_from_the_adoption():
    """Continuing: the copy (seen in use), g1's assign and disable are recorded from observation, g7 is
    still prepared, and the prepare gate then waits for heartbeats counted from the adoption."""
    desired = desired_site()
    site = _site((COPY, False))
    progress = _adopted(adopt(desired, site))

    result = plan(desired, site, progress, T0)

    states = {s.id: (s.state, s.satisfied) for s in result.steps}
    assert states[f"copy_msl:{DEFAULT_MSL}"] == (StepState.READY, True)
    assert result.current is not None
    assert result.current.id == f"copy_msl:{DEFAULT_MSL}"
    ids = [s.id for s in result.steps]
    assert ids[:5] == [
        f"copy_msl:{DEFAULT_MSL}",
        "assign_msl:g1/g1-L1",
        "assign_msl:g7/g7-L1",
        "disable_secure_communications:g1/g1-L1",
        "gate:prepared",
    ]
    assert "restore_msl:g1/g1-L1" in ids
    assert "enable_secure_communications:g1/g1-L1" in ids
    assert "enable_secure_communications:g7/g7-L1" not in ids


def test_adopting_with_restore_puts_the_originals_back_first():
    """`adopt --restore`: the adopted rotation is aborted at once; the first thing it does is restore g1."""
    desired = desired_site()
    site = _site((COPY, False))
    progress = _adopted(adopt(desired, site), aborted=True)

    result = plan(desired, site, progress, T0)

    assert result.current is not None
    assert result.current.id == "enable_secure_communications:g1/g1-L1"
    assert not any(s.id.startswith("update_certificate:") for s in result.steps)


def test_a_rolling_update_adopted_half_way_waits_a_full_gate_before_the_next_server():
    """sepm01 already new: its update is recorded from observation and its gate, counted from the
    adoption, comes before sepm02 is touched."""
    desired = desired_site(servers=["sepm01", "sepm02"])
    site = _site((DEFAULT_MSL, True), certificates={"sepm01": new("sepm01"), "sepm02": old("sepm02")})
    adoption = adopt(desired, site)

    assert adoption.procedure == "multi-server"
    assert adoption.original_certificates == {"sepm01": old("sepm01"), "sepm02": old("sepm02")}
    result = plan(desired, site, _adopted(adoption, servers=["sepm01", "sepm02"]), T0)
    assert [s.id for s in result.steps] == [
        "update_certificate:sepm01",
        "gate:certificate:sepm01",
        "update_certificate:sepm02",
        "gate:certificate:sepm02",
    ]
    assert result.current is not None
    assert (result.current.id, result.current.satisfied) == ("update_certificate:sepm01", True)


def test_adoption_refuses_when_the_certificate_before_cannot_be_told():
    """A server already on its desired certificate with no single previousSha256: adoption says what to add."""
    desired = desired_site(servers=["sepm01", "sepm02"], previous=False)
    site = _site((DEFAULT_MSL, True), certificates={"sepm01": new("sepm01"), "sepm02": old("sepm02")})

    adoption = adopt(desired, site)

    assert adoption.procedure is None
    assert len(adoption.problems) == 1
    assert "sepm01" in adoption.problems[0]
    assert "previousSha256" in adoption.problems[0]
