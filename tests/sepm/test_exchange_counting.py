"""Every exchange with SEPM is counted by endpoint family and outcome, retries and re-logons included,
with identifiers folded so the label stays small however large the site."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest
from sepm_fakes import error, settings_body

from reconciler.backoff import RetryPolicy
from reconciler.sepm import errors
from reconciler.sepm.exchange_kinds import endpoint_family, outcome_of


@pytest.mark.parametrize(
    ("method", "path", "family"),
    [
        ("POST", "identity/authenticate", "POST identity/authenticate"),
        ("GET", "version", "GET version"),
        ("GET", "groups/6A1F0C3B0A0D4E0F/locations", "GET groups/{id}/locations"),
        ("PATCH", "groups/AB12/locations/CD34/settings", "PATCH groups/{id}/locations/{id}/settings"),
        ("GET", "groups/version/locations", "GET groups/version/locations"),  # a word stays a word
        ("GET", "groups/a%2Fb/locations", "GET groups/{id}/locations"),
    ],
)
def test_endpoint_family_folds_identifiers(method: str, path: str, family: str):
    assert endpoint_family(method, path) == family


def test_outcomes_are_a_few_fixed_words():
    assert [outcome_of(s) for s in (200, 204, 401, 429, 404, 400, 500, 503)] == [
        "ok",
        "ok",
        "unauthorized",
        "throttled",
        "client_error",
        "client_error",
        "server_error",
        "server_error",
    ]
    assert outcome_of(None, errors.RequestTimeout("t")) == "timeout"
    assert outcome_of(None, errors.ConnectionFailed("c")) == "connection_failed"
    assert outcome_of(None, errors.ResponseTooLarge("big")) == "too_large"
    assert outcome_of(None, errors.UnexpectedResponse("junk")) == "error"


async def test_each_attempt_and_each_logon_is_counted(fake, make_client):
    """Two 503s then success: three counts on the endpoint; an expired token: a 401, a second logon."""
    fake.groups = [{"id": "G1"}]
    fake.locations = {"G1": ["L1"]}
    fake.settings = {("G1", "L1"): settings_body("Default")}
    fake.add_script("GET", "groups/G1/locations/L1/settings", error(503, "busy"), error(503, "busy"))
    counted: Counter[tuple[str, str]] = Counter()
    async with make_client(
        on_exchange=lambda endpoint, outcome: counted.update([(endpoint, outcome)])
    ) as client:
        await client.location_settings("G1", "L1")
        fake.expire_tokens()
        await client.version()
    assert counted == Counter(
        {
            ("POST identity/authenticate", "ok"): 2,
            ("GET groups/{id}/locations/{id}/settings", "server_error"): 2,
            ("GET groups/{id}/locations/{id}/settings", "ok"): 1,
            ("GET version", "unauthorized"): 1,
            ("GET version", "ok"): 1,
        }
    )


async def test_a_broken_connection_and_a_refused_body_are_counted(fake, make_client):
    """Errors met instead of an answer count too, with their own outcome."""

    def broken(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    fake.add_script("GET", "version", broken)
    counted: Counter[tuple[str, str]] = Counter()
    async with make_client(
        on_exchange=lambda endpoint, outcome: counted.update([(endpoint, outcome)]),
        retry=RetryPolicy(attempts=2),
    ) as client:
        await client.version()
    assert counted[("GET version", "connection_failed")] == 1
    assert counted[("GET version", "ok")] == 1
