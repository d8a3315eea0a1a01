"""One check-in of one client (trust.attempt), its classification, the legacy rule, the orphan rule."""

from __future__ import annotations

import pytest

from reconciler.sim.trust import (
    ALWAYS_OK,
    NEVER_OK,
    SOMETIMES_OK,
    CachedPolicy,
    CachedServer,
    Failure,
    ServerNow,
    attempt,
    classify,
    is_legacy,
    orphan_reason,
)

OLD, NEW = "AA:01", "BB:02"


@pytest.mark.parametrize(
    ("version", "legacy"),
    [
        pytest.param("14.2.1031.0100", True, id="14.2.1"),
        pytest.param("14.2.758.0000", True, id="14.2"),
        pytest.param("14.2.1999.0000", True, id="build-1999"),
        pytest.param("14.2.2000.0000", False, id="build-2000"),
        pytest.param("14.2.5587.2100", False, id="14.2-RU2"),
        pytest.param("14.3.9816.7000", False, id="14.3"),
        pytest.param("14.1.1000.0000", False, id="14.1"),
        pytest.param("garbage", False, id="unparsable"),
    ],
)
def test_legacy_is_14_2_with_a_build_below_2000(version, legacy):
    """Only 14.2 clients with a build number below 2000 count as legacy (no failover)."""
    assert is_legacy(version) is legacy


def policy(*entries: tuple[str, int, str], secure: bool = True, cached: str = OLD) -> CachedPolicy:
    return CachedPolicy(
        "M",
        tuple(CachedServer(name, prio, proto, 443, cached) for name, prio, proto in entries),
        secure,
        300_000,
        "s",
    )


def servers(**faces: str) -> dict[str, ServerNow]:
    """name="NEW" / "OLD" / "DOWN" / "CORRUPT" (client port shows another certificate than it signs with)."""
    out = {}
    for index, (name, face) in enumerate(sorted(faces.items())):
        down = face == "DOWN"
        signing = NEW if face == "NEW" else OLD
        https = "CC:03" if face == "CORRUPT" else signing
        out[name] = ServerNow(name, index, down, https, signing)
    return out


@pytest.mark.parametrize(
    ("cache", "now", "legacy", "verdict"),
    [
        pytest.param(policy(("a", 1, "https")), servers(a="OLD"), False, ALWAYS_OK, id="unchanged"),
        pytest.param(policy(("a", 1, "https")), servers(a="NEW"), False, NEVER_OK, id="https-new-cert"),
        pytest.param(
            policy(("a", 1, "https"), secure=False),
            servers(a="NEW"),
            False,
            NEVER_OK,
            id="https-insecure-still-tls",
        ),
        pytest.param(policy(("a", 1, "http")), servers(a="NEW"), False, NEVER_OK, id="http-secure-signature"),
        pytest.param(
            policy(("a", 1, "http"), secure=False), servers(a="NEW"), False, ALWAYS_OK, id="http-insecure-ok"
        ),
        pytest.param(policy(("a", 1, "https")), servers(a="CORRUPT"), False, NEVER_OK, id="corrupt-port"),
        pytest.param(policy(("a", 1, "http"), secure=False), servers(a="DOWN"), False, NEVER_OK, id="down"),
        pytest.param(
            policy(("a", 1, "https"), ("b", 2, "https")),
            servers(a="NEW", b="OLD"),
            False,
            ALWAYS_OK,
            id="failover-newer",
        ),
        pytest.param(
            policy(("a", 1, "https"), ("b", 2, "https")),
            servers(a="NEW", b="OLD"),
            True,
            NEVER_OK,
            id="no-failover-legacy",
        ),
        pytest.param(
            policy(("a", 1, "https"), ("b", 2, "https")),
            servers(a="DOWN", b="OLD"),
            True,
            ALWAYS_OK,
            id="legacy-skips-down",
        ),
        pytest.param(
            policy(("a", 1, "https"), ("b", 1, "https")),
            servers(a="NEW", b="OLD"),
            True,
            SOMETIMES_OK,
            id="legacy-same-priority",
        ),
    ],
)
def test_classify(cache, now, legacy, verdict):
    """A check-in's outcome class follows TLS, signature, outage and legacy rules."""
    assert classify(cache, now, legacy=legacy) == verdict


def test_attempt_agrees_with_classify_and_reports_reasons():
    """attempt() succeeds/fails as classify() says, with per-server reasons in the order tried."""
    cache = policy(("a", 1, "https"), ("b", 2, "http"))
    now = servers(a="NEW", b="DOWN")
    outcome = attempt(cache, now, legacy=False, seed=1, client=1, t=0)
    assert outcome.server is None
    assert outcome.failures == (("a", Failure.TLS), ("b", Failure.DOWN))
    assert outcome.reason == "a: tls-certificate-mismatch; b: server-down"
    served = attempt(cache, servers(a="NEW", b="OLD"), legacy=False, seed=1, client=1, t=0)
    assert served.server == "b"
    assert served.failures == (("a", Failure.TLS),)


def test_random_order_within_a_priority_is_deterministic_and_varies():
    """Within one priority the order is random per (seed, client, time), the same on every replay."""
    cache = policy(("a", 1, "https"), ("b", 1, "https"), ("c", 1, "https"))
    now = servers(a="OLD", b="OLD", c="OLD")
    chosen = [attempt(cache, now, legacy=False, seed=3, client=9, t=t).server for t in range(60)]
    assert chosen == [attempt(cache, now, legacy=False, seed=3, client=9, t=t).server for t in range(60)]
    assert set(chosen) == {"a", "b", "c"}


def test_legacy_same_priority_succeeds_or_stops_by_the_random_order():
    """A legacy client whose first priority mixes a refusing and an accepting server sometimes gets in."""
    cache = policy(("a", 1, "https"), ("b", 1, "https"))
    now = servers(a="NEW", b="OLD")
    outcomes = {attempt(cache, now, legacy=True, seed=0, client=4, t=t).server for t in range(40)}
    assert outcomes == {None, "b"}


@pytest.mark.parametrize(
    ("cache", "now", "legacy", "orphaned"),
    [
        pytest.param(policy(("a", 1, "https")), servers(a="NEW"), False, True, id="single-new-cert"),
        pytest.param(
            policy(("a", 1, "https")), servers(a="DOWN"), False, False, id="outage-is-not-orphaning"
        ),
        pytest.param(
            policy(("a", 1, "https"), ("b", 2, "https")),
            servers(a="NEW", b="OLD"),
            False,
            False,
            id="newer-has-b",
        ),
        pytest.param(
            policy(("a", 1, "https"), ("b", 2, "https")),
            servers(a="NEW", b="OLD"),
            True,
            True,
            id="legacy-first-priority-refuses",
        ),
        pytest.param(
            policy(("a", 1, "https"), ("b", 1, "https")),
            servers(a="NEW", b="OLD"),
            True,
            False,
            id="legacy-first-priority-mixed",
        ),
        pytest.param(
            policy(("a", 1, "http"), secure=False), servers(a="NEW"), True, False, id="http-insecure"
        ),
    ],
)
def test_orphan_rule(cache, now, legacy, orphaned):
    """Orphaned: newer when no cached server accepts; legacy when none of its first priority does."""
    assert (orphan_reason(cache, now, legacy=legacy) is not None) is orphaned
