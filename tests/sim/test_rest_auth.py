"""Logon, bearer tokens, logout, token expiry and account lockout of the simulated REST API."""

from __future__ import annotations

import email.utils
import time

import pytest

from reconciler.sim.scenario import Scenario
from reconciler.sim.testing import SepmSession
from tests.sim.helpers import make_scenario, population

PASSWORD = "Auth-Pa55-word"
MINUTE_MS = 60_000


@pytest.fixture
def scenario() -> Scenario:
    return make_scenario(
        "auth",
        password=PASSWORD,
        msls=[{"name": "Default", "entries": [{"server": "sepm01"}, {"server": "sepm02"}]}],
        clients=[population("My Company", 3)],
    )


def test_authenticate_returns_a_user_token(sim, session):
    """A good logon answers 200 with a token, its lifetime in seconds, the admin role and SEPM's time."""
    before = sim.site.clock.now_ms()
    response = session.authenticate("admin", PASSWORD)
    assert response.status_code == 200
    token = response.json()
    assert token["token"]
    assert token["refreshToken"]
    assert token["token"] != token["refreshToken"]
    assert token["tokenExpiration"] == 3600
    assert token["role"]["bitMask"] == 8
    assert token["domainid"] == sim.site.domain_id
    assert before <= token["serverTime"] <= sim.site.clock.now_ms()
    assert PASSWORD not in response.text


def test_the_token_opens_every_server_of_the_site(sim, session):
    """Servers of one site share the database, so a token issued by one works on the other."""
    assert session.authenticate("admin", PASSWORD).status_code == 200
    sepm02 = sim.endpoints["servers"]["sepm02"]["rest"]
    with SepmSession(f"https://127.0.0.1:{sepm02}/sepm/api/v1") as other:
        assert other.request("GET", "groups", token=session.token).status_code == 200


@pytest.mark.parametrize(
    ("header_token", "why"),
    [pytest.param("", "missing", id="no-token"), pytest.param("not-a-token", "unknown", id="unknown-token")],
)
def test_requests_without_a_valid_token_answer_401(session, header_token, why):
    """A missing or unknown bearer token answers 401 with SEPM's error body."""
    response = session.request("GET", "computers", token=header_token)
    assert response.status_code == 401, why
    assert response.json()["errorCode"] == "401"


def test_version_needs_no_token(session):
    """GET version answers without logon, as on SEPM."""
    response = session.request("GET", "version", token="")
    assert response.status_code == 200
    assert set(response.json()) == {"API_SEQUENCE", "API_VERSION", "version"}


def test_tokens_expire_on_the_simulated_clock(sim, session):
    """A token works until tokenExpiration seconds of simulated time have passed, then answers 401."""
    assert session.authenticate("admin", PASSWORD).status_code == 200
    sim.site.clock.advance(3599 * 1000)
    assert session.request("GET", "groups").status_code == 200
    sim.site.clock.advance(1000)
    assert session.request("GET", "groups").status_code == 401


def test_logout_ends_the_token(session):
    """POST identity/logout answers 204 and the token is refused afterwards."""
    assert session.authenticate("admin", PASSWORD).status_code == 200
    response = session.request("POST", "identity/logout")
    assert response.status_code == 204
    assert session.request("GET", "groups").status_code == 401
    assert session.request("POST", "identity/logout").status_code == 401


@pytest.mark.parametrize(
    "domain",
    [
        pytest.param({"domain": ""}, id="empty"),
        pytest.param({"domain": None}, id="null"),
        pytest.param({}, id="absent"),
        pytest.param({"domain": "Default"}, id="by-name"),
        pytest.param({"domain": "default"}, id="by-name-any-case"),
    ],
)
def test_logon_to_the_default_domain(session, domain):
    """SEPM takes an empty, null or absent domain as the default one (third-party clients send null)."""
    body = {"username": "admin", "password": PASSWORD, **domain}
    response = session.request("POST", "identity/authenticate", json=body, token="")
    assert response.status_code == 200, response.text
    assert response.json()["domain"] == "Default"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"username": "admin", "password": "wrong", "domain": ""}, id="wrong-password"),
        pytest.param({"username": "nobody", "password": PASSWORD, "domain": ""}, id="unknown-user"),
        pytest.param({"username": "admin", "password": PASSWORD, "domain": "Elsewhere"}, id="unknown-domain"),
        pytest.param({"username": "admin"}, id="no-password"),
        pytest.param({"username": "admin", "password": PASSWORD, "domain": 0}, id="domain-number"),
        pytest.param({"username": "admin", "password": PASSWORD, "domain": False}, id="domain-false"),
        pytest.param({"username": "admin", "password": PASSWORD, "domain": ["Default"]}, id="domain-list"),
        pytest.param({"username": None, "password": PASSWORD, "domain": None}, id="username-null"),
    ],
)
def test_refused_logons_answer_400_without_echoing_the_password(session, body):
    """Bad credentials answer 400 (not 401), and the answer never contains the password sent."""
    response = session.request("POST", "identity/authenticate", json=body, token="")
    assert response.status_code == 400
    assert response.json()["errorCode"] == "400"
    assert "wrong" not in response.text
    assert PASSWORD not in response.text


def _fail(session: SepmSession, times: int) -> None:
    for _ in range(times):
        assert session.authenticate("admin", "bad-guess").status_code == 400


def test_five_failures_lock_the_account_for_fifteen_minutes(sim, session):
    """After 5 failed logons even the right password answers 400 until 15 simulated minutes pass."""
    _fail(session, 4)
    assert session.authenticate("admin", PASSWORD).status_code == 200  # 4 failures do not lock
    _fail(session, 5)
    locked = session.authenticate("admin", PASSWORD)
    assert locked.status_code == 400
    assert "locked" in locked.json()["errorMessage"]
    sim.site.clock.advance(15 * MINUTE_MS - 1000)
    assert session.authenticate("admin", PASSWORD).status_code == 400
    sim.site.clock.advance(1000)
    assert session.authenticate("admin", PASSWORD).status_code == 200


def test_each_repeated_lock_doubles(sim, session):
    """The second lock of the account lasts 30 minutes, the third 60."""
    for minutes in (15, 30, 60):
        _fail(session, 5)
        sim.site.clock.advance(minutes * MINUTE_MS - 1000)
        assert session.authenticate("admin", PASSWORD).status_code == 400
        sim.site.clock.advance(1000)
        assert session.authenticate("admin", PASSWORD).status_code == 200


def test_a_success_resets_the_failure_count(session):
    """Failures must be consecutive: a good logon in between starts the count again."""
    _fail(session, 4)
    assert session.authenticate("admin", PASSWORD).status_code == 200
    _fail(session, 4)
    assert session.authenticate("admin", PASSWORD).status_code == 200


def test_expire_tokens_fault_invalidates_every_token(sim, session):
    """The token-expiry fault makes every token issued so far answer 401; a new logon works."""
    assert session.authenticate("admin", PASSWORD).status_code == 200
    old = session.token
    sim.faults.expire_tokens()
    assert session.request("GET", "groups", token=old).status_code == 401
    assert session.authenticate("admin", PASSWORD).status_code == 200
    assert session.request("GET", "groups").status_code == 200


def test_session_repr_hides_the_token(session):
    """Neither the session helper nor the server session shows a token in its repr."""
    assert session.authenticate("admin", PASSWORD).status_code == 200
    assert session.token is not None
    assert session.token not in repr(session)


def test_date_header_and_server_time_follow_the_simulated_clock(sim, session):
    """After jumping the simulated clock ten days, the Date header and serverTime report SEPM's time."""
    sim.site.clock.advance(10 * 86_400_000)
    response = session.authenticate("admin", PASSWORD)
    server_time = response.json()["serverTime"]
    date = email.utils.parsedate_to_datetime(response.headers["Date"]).timestamp() * 1000
    assert abs(server_time - sim.site.clock.now_ms()) < 5_000
    assert abs(date - server_time) < 2_000
    assert server_time - time.time() * 1000 > 9 * 86_400_000
