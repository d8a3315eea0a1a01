"""One check-in of one client (trust.attempt), its classification, the failover and port rules, the orphan rule."""

from __future__ import annotations

from typing import Any

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
    orphan_reason,
)

OLD, NEW = "AA:01", "BB:02"
# The ``fails_over`` column: whether the client tries its next server after a certificate failure.
FAILS_OVER, STOPS = True, False
PORTS = {"https": 443, "http": 8014}


def policy(*entries: tuple[Any, ...], secure: bool = True, cached: str = OLD) -> CachedPolicy:
    """Entries ``(server, priority, protocol[, port])``; the port defaults to the protocol's nominal one."""
    return CachedPolicy(
        "M",
        tuple(
            CachedServer(name, prio, proto, port[0] if port else PORTS[proto], cached)
            for name, prio, proto, *port in entries
        ),
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
        out[name] = ServerNow(name, index, down, https, signing, https_port=443, http_port=8014)
    return out


@pytest.mark.parametrize(
    ("cache", "now", "fails_over", "verdict"),
    [
        pytest.param(policy(("a", 1, "https")), servers(a="OLD"), FAILS_OVER, ALWAYS_OK, id="unchanged"),
        pytest.param(policy(("a", 1, "https")), servers(a="NEW"), FAILS_OVER, NEVER_OK, id="https-new-cert"),
        pytest.param(
            policy(("a", 1, "https"), secure=False),
            servers(a="NEW"),
            FAILS_OVER,
            NEVER_OK,
            id="https-insecure-still-tls",
        ),
        pytest.param(
            policy(("a", 1, "http")), servers(a="NEW"), FAILS_OVER, NEVER_OK, id="http-secure-signature"
        ),
        pytest.param(
            policy(("a", 1, "http"), secure=False),
            servers(a="NEW"),
            FAILS_OVER,
            ALWAYS_OK,
            id="http-insecure-ok",
        ),
        pytest.param(
            policy(("a", 1, "http", 8015), secure=False),
            servers(a="NEW"),
            FAILS_OVER,
            NEVER_OK,
            id="http-wrong-port",
        ),
        pytest.param(
            policy(("a", 1, "http", 8015), ("b", 2, "http"), secure=False),
            servers(a="OLD", b="OLD"),
            STOPS,
            ALWAYS_OK,
            id="wrong-port-is-skipped-even-without-failover",
        ),
        pytest.param(
            policy(("a", 1, "https", 8443)), servers(a="OLD"), FAILS_OVER, NEVER_OK, id="https-wrong-port"
        ),
        pytest.param(
            policy(("a", 1, "https")), servers(a="CORRUPT"), FAILS_OVER, NEVER_OK, id="corrupt-port"
        ),
        pytest.param(
            policy(("a", 1, "http"), secure=False), servers(a="DOWN"), FAILS_OVER, NEVER_OK, id="down"
        ),
        pytest.param(
            policy(("a", 1, "https"), ("b", 2, "https")),
            servers(a="NEW", b="OLD"),
            FAILS_OVER,
            ALWAYS_OK,
            id="fails-over",
        ),
        pytest.param(
            policy(("a", 1, "https"), ("b", 2, "https")),
            servers(a="NEW", b="OLD"),
            STOPS,
            NEVER_OK,
            id="stops-at-certificate-failure",
        ),
        pytest.param(
            policy(("a", 1, "https"), ("b", 2, "https")),
            servers(a="DOWN", b="OLD"),
            STOPS,
            ALWAYS_OK,
            id="no-failover-skips-down",
        ),
        pytest.param(
            policy(("a", 1, "https"), ("b", 1, "https")),
            servers(a="NEW", b="OLD"),
            STOPS,
            SOMETIMES_OK,
            id="no-failover-same-priority",
        ),
    ],
)
def test_classify(cache, now, fails_over, verdict):
    """A check-in's outcome class follows the port, TLS, signature, outage and failover rules."""
    assert classify(cache, now, fails_over=fails_over) == verdict


def test_attempt_agrees_with_classify_and_reports_reasons():
    """attempt() succeeds/fails as classify() says, with per-server reasons in the order tried."""
    cache = policy(("a", 1, "https"), ("b", 2, "http"))
    now = servers(a="NEW", b="DOWN")
    outcome = attempt(cache, now, fails_over=True, seed=1, client=1, t=0)
    assert outcome.server is None
    assert outcome.failures == (("a", Failure.TLS), ("b", Failure.DOWN))
    assert outcome.reason == "a: tls-certificate-mismatch; b: server-down"
    served = attempt(cache, servers(a="NEW", b="OLD"), fails_over=True, seed=1, client=1, t=0)
    assert served.server == "b"
    assert served.failures == (("a", Failure.TLS),)


def test_a_wrong_port_cannot_connect_and_sends_every_client_onwards():
    """An entry whose port is not the server's fails to connect; even a client that does not fail over
    after a certificate failure tries its next server then."""
    cache = policy(("a", 1, "http", 8015), ("b", 2, "http"), secure=False)
    served = attempt(cache, servers(a="OLD", b="OLD"), fails_over=False, seed=1, client=1, t=0)
    assert served.server == "b"
    assert served.failures == (("a", Failure.PORT),)
    assert served.reason == "a: port-unreachable"


def test_random_order_within_a_priority_is_deterministic_and_varies():
    """Within one priority the order is random per (seed, client, time), the same on every replay."""
    cache = policy(("a", 1, "https"), ("b", 1, "https"), ("c", 1, "https"))
    now = servers(a="OLD", b="OLD", c="OLD")
    chosen = [attempt(cache, now, fails_over=True, seed=3, client=9, t=t).server for t in range(60)]
    assert chosen == [attempt(cache, now, fails_over=True, seed=3, client=9, t=t).server for t in range(60)]
    assert set(chosen) == {"a", "b", "c"}


def test_no_failover_same_priority_succeeds_or_stops_by_the_random_order():
    """A client that does not fail over, whose first priority mixes a refusing and an accepting server,
    sometimes gets in."""
    cache = policy(("a", 1, "https"), ("b", 1, "https"))
    now = servers(a="NEW", b="OLD")
    outcomes = {attempt(cache, now, fails_over=False, seed=0, client=4, t=t).server for t in range(40)}
    assert outcomes == {None, "b"}


@pytest.mark.parametrize(
    ("cache", "now", "fails_over", "orphaned"),
    [
        pytest.param(policy(("a", 1, "https")), servers(a="NEW"), FAILS_OVER, True, id="single-new-cert"),
        pytest.param(
            policy(("a", 1, "https")), servers(a="DOWN"), FAILS_OVER, False, id="outage-is-not-orphaning"
        ),
        pytest.param(
            policy(("a", 1, "https"), ("b", 2, "https")),
            servers(a="NEW", b="OLD"),
            FAILS_OVER,
            False,
            id="fails-over-to-b",
        ),
        pytest.param(
            policy(("a", 1, "https"), ("b", 2, "https")),
            servers(a="NEW", b="OLD"),
            STOPS,
            True,
            id="no-failover-first-priority-refuses",
        ),
        pytest.param(
            policy(("a", 1, "https"), ("b", 1, "https")),
            servers(a="NEW", b="OLD"),
            STOPS,
            False,
            id="no-failover-first-priority-mixed",
        ),
        pytest.param(
            policy(("a", 1, "http"), secure=False), servers(a="NEW"), STOPS, False, id="http-insecure"
        ),
        pytest.param(
            policy(("a", 1, "http", 8015), secure=False),
            servers(a="OLD"),
            FAILS_OVER,
            True,
            id="wrong-http-port-is-lasting",
        ),
        pytest.param(
            policy(("a", 1, "http", 8015), ("b", 2, "http"), secure=False),
            servers(a="OLD", b="NEW"),
            STOPS,
            False,
            id="no-failover-passes-an-unreachable-first-priority",
        ),
    ],
)
def test_orphan_rule(cache, now, fails_over, orphaned):
    """Orphaned: a client that fails over when no cached server accepts it; one that does not when no
    server of the first priority it can connect to does."""
    assert (orphan_reason(cache, now, fails_over=fails_over) is not None) is orphaned
