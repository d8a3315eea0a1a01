"""The fault switchboard over the wire: injected errors, throttling, slowness, outages, bad certificates."""

from __future__ import annotations

import time

import httpx
import pytest

from reconciler.sim.app import Simulator
from reconciler.sim.clock import SimClock
from reconciler.sim.console_client import ConsoleClientError
from reconciler.sim.engine import Site
from reconciler.sim.faults import Faults
from reconciler.sim.http import Request
from reconciler.sim.scenario import Scenario
from reconciler.sim.testing import SepmSession, console, presented_fingerprint
from tests.sim.helpers import make_scenario, population

PASSWORD = "Faults-Pa55"


def faults_scenario() -> Scenario:
    return make_scenario(
        "faults",
        password=PASSWORD,
        msls=[
            {
                "name": "Default",
                "entries": [{"server": "sepm02", "priority": 1}, {"server": "sepm01", "priority": 2}],
            }
        ],
        clients=[population("My Company", 12)],
    )


@pytest.fixture
def scenario() -> Scenario:
    return faults_scenario()


@pytest.fixture
def seed() -> int:
    return 11


def _rest_of(sim: Simulator, server: str) -> str:
    return f"https://127.0.0.1:{sim.endpoints['servers'][server]['rest']}/sepm/api/v1"


@pytest.mark.parametrize("status", [pytest.param(500, id="500"), pytest.param(503, id="503")])
def test_an_error_share_of_one_fails_every_rest_request(sim, rest, status):
    """With share 1 every REST request (logon included) answers the chosen status until switched off."""
    sim.faults.fail_share(1.0, status=status)
    assert rest.request("GET", "groups").status_code == status
    assert rest.authenticate("admin", PASSWORD).status_code == status
    assert rest.request("GET", "groups").json()["errorCode"] == str(status)
    sim.faults.fail_share(0.0)
    assert rest.request("GET", "groups").status_code == 200


def test_an_error_share_is_partial_and_reproducible_by_seed():
    """A share of 0.5 fails some requests and not others, and the same seed fails the same ones."""
    outcomes = []
    for _ in range(2):
        with Simulator(faults_scenario(), seed=5) as sim, SepmSession(sim.endpoints["restUrl"]) as session:
            assert session.authenticate("admin", PASSWORD).status_code == 200
            sim.faults.fail_share(0.5)
            outcomes.append([session.request("GET", "version").status_code for _ in range(40)])
    assert outcomes[0] == outcomes[1]
    assert set(outcomes[0]) == {200, 500}


def test_too_many_requests_answers_429_with_retry_after(sim, rest):
    """The next N REST requests answer 429 with the given Retry-After, then service resumes."""
    sim.faults.too_many_requests(2, retry_after_s=7)
    for _ in range(2):
        response = rest.request("GET", "computers")
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "7"
        assert response.json()["errorCode"] == "429"
    assert rest.request("GET", "computers").status_code == 200


def test_delay_slows_rest_but_not_the_console(sim, rest):
    """A delay holds every REST answer for that many real seconds; the console channel stays fast."""
    sim.faults.delay(0.4)
    started = time.monotonic()
    assert rest.request("GET", "version").status_code == 200
    assert time.monotonic() - started >= 0.4
    started = time.monotonic()
    console(sim).call("GET", "clock")
    assert time.monotonic() - started < 0.4


def test_a_failing_page_breaks_the_walk_until_cleared(sim, rest):
    """Page 2 of computers answers 500 (other pages fine): a full walk fails rather than come up short."""
    sim.faults.fail_page(2)
    assert rest.request("GET", "computers", params={"pageIndex": 1, "pageSize": 5}).status_code == 200
    assert rest.request("GET", "computers", params={"pageIndex": 2, "pageSize": 5}).status_code == 500
    assert rest.request("GET", "computers", params={"pageIndex": 3, "pageSize": 5}).status_code == 200
    assert rest.request("GET", "groups", params={"pageIndex": 2, "pageSize": 1}).status_code == 200
    with pytest.raises(httpx.HTTPStatusError):
        rest.walk("computers", page_size=5)
    sim.faults.clear()
    assert len(rest.walk("computers", page_size=5)[0]) == 12


def test_errors_never_reach_the_console(sim):
    """REST faults leave the console API answering: it is the test's control channel."""
    sim.faults.fail_share(1.0)
    sim.faults.too_many_requests(5)
    assert console(sim).call("GET", "msls")[0]["name"] == "Default"


def test_throttle_admits_n_per_real_minute_with_a_sliding_window():
    """Beyond perMinute calls in a real minute requests answer 429 with the seconds until the window frees."""
    now = [1000.0]
    site = Site.from_scenario(faults_scenario(), clock=SimClock())
    faults = Faults(site, monotonic=lambda: now[0], sleep=lambda _s: None)
    faults.throttle(3)
    request = Request("GET", "/sepm/api/v1/groups", {}, {}, b"", "sepm01:rest")
    assert [faults.intercept(request, resource="groups") for _ in range(3)] == [None, None, None]
    now[0] += 20
    refused = faults.intercept(request, resource="groups")
    assert refused is not None
    assert refused.status == 429
    assert dict(refused.headers)["Retry-After"] == "40"
    now[0] += 40
    assert faults.intercept(request, resource="groups") is None
    faults.throttle(None)
    assert all(faults.intercept(request, resource="groups") is None for _ in range(10))


def test_a_down_server_stops_answering_on_every_port(sim, rest):
    """A server taken down refuses TLS and REST on all its ports while the other server keeps serving."""
    sepm02 = sim.endpoints["servers"]["sepm02"]
    with SepmSession(_rest_of(sim, "sepm02")) as on_sepm02:
        assert on_sepm02.request("GET", "groups", token=rest.token).status_code == 200
        sim.faults.server_down("sepm02")
        for kind in ("https", "console", "rest"):
            with pytest.raises(OSError):
                presented_fingerprint("127.0.0.1", sepm02[kind])
        with pytest.raises(httpx.TransportError):
            on_sepm02.request("GET", "groups", token=rest.token)
        assert rest.request("GET", "groups").status_code == 200
        sim.faults.server_down("sepm02", False)
        assert on_sepm02.request("GET", "groups", token=rest.token).status_code == 200


def test_clients_fail_over_while_their_first_server_is_down(sim, rest):
    """With sepm02 down the clients check in with sepm01, their second-priority server."""
    sim.site.clock.advance(300_000)
    assert {c["lastServerName"] for c in rest.walk("computers", page_size=50)[0]} == {"sepm02"}
    sim.faults.server_down("sepm02")
    sim.site.clock.advance(300_000)
    assert {c["lastServerName"] for c in rest.walk("computers", page_size=50)[0]} == {"sepm01"}


def test_a_corrupted_certificate_makes_the_ports_disagree_until_repaired(sim):
    """The corrupted port presents another certificate than the other ports; repair makes them agree."""
    ports = sim.endpoints["servers"]["sepm01"]
    before = {kind: presented_fingerprint("127.0.0.1", ports[kind]) for kind in ("https", "console", "rest")}
    assert len(set(before.values())) == 1
    sim.faults.corrupt_certificate("sepm01", "console")
    during = {kind: presented_fingerprint("127.0.0.1", ports[kind]) for kind in ("https", "console", "rest")}
    assert during["https"] == during["rest"] == before["https"]
    assert during["console"] != before["console"]
    listed = next(s for s in console(sim).call("GET", "servers") if s["name"] == "sepm01")
    assert listed["portSha256"] == during
    sim.faults.repair_certificate("sepm01")
    assert presented_fingerprint("127.0.0.1", ports["console"]) == before["console"]


def test_faults_switch_on_and_off_over_the_console(sim, rest):
    """POST faults applies a fault in its JSON form, GET lists it, DELETE clears all and brings servers up."""
    client = console(sim)
    client.call("POST", "faults", {"kind": "page", "pageIndex": 3, "status": 503})
    client.call("POST", "faults", {"kind": "server-down", "server": "sepm02"})
    client.call("POST", "faults", {"kind": "throttle", "perMinute": 100})
    listed = client.call("GET", "faults")
    assert listed["pages"] == [{"path": "computers", "pageIndex": 3, "status": 503}]
    assert listed["serversDown"] == ["sepm02"]
    assert listed["throttle"] == {"perMinute": 100}
    assert rest.request("GET", "computers", params={"pageIndex": 3, "pageSize": 1}).status_code == 503
    client.call("DELETE", "faults")
    assert client.call("GET", "faults")["serversDown"] == []
    assert rest.request("GET", "computers", params={"pageIndex": 3, "pageSize": 1}).status_code == 200
    assert presented_fingerprint("127.0.0.1", sim.endpoints["servers"]["sepm02"]["rest"])


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param({"kind": "earthquake"}, "unknown fault kind", id="unknown-kind"),
        pytest.param({"kind": "errors", "share": 2}, "between 0 and 1", id="share-out-of-range"),
        pytest.param({"kind": "errors", "share": 0.5, "status": 404}, "500 or 503", id="errors-status"),
        pytest.param({"kind": "page", "pageIndex": 0}, "1-based", id="page-zero"),
        pytest.param({"kind": "server-down", "server": "sepm99"}, "sepm99", id="unknown-server"),
        pytest.param(
            {"kind": "corrupt-certificate", "server": "sepm01", "port": "http"}, "port", id="plain-port"
        ),
    ],
)
def test_bad_fault_specs_answer_400(sim, spec, message):
    """A fault the switchboard cannot apply is refused with a message naming what is wrong."""
    with pytest.raises(ConsoleClientError) as refused:
        console(sim).call("POST", "faults", spec)
    assert "400" in str(refused.value) or "404" in str(refused.value)
    assert message in str(refused.value)
