"""Retries with back-off and jitter, Retry-After, and which failures are final."""

from __future__ import annotations

import json
import random

import httpx
import pytest
from sepm_fakes import error

from reconciler.backoff import RetryPolicy
from reconciler.sepm import errors
from reconciler.sepm.adapter import secure_communications_configuration

POLICY = RetryPolicy(attempts=4, base_delay=1.0, max_delay=8.0, max_retry_after=30.0)


async def test_server_errors_are_retried_with_jittered_backoff(fake, make_client, sleeps):
    """Two 5xx answers are retried after delays drawn from the doubling ceilings; the third try wins."""
    fake.add_script("GET", "version", error(500, "boom"), error(503, "busy"))
    async with make_client() as client:
        assert (await client.version())["version"] == "14.3.9816.7000"
    assert len(fake.calls("GET", "version")) == 3
    expected_rng = random.Random(1234)
    assert sleeps == [POLICY.backoff(1, expected_rng), POLICY.backoff(2, expected_rng)]
    assert 0 <= sleeps[0] <= 1.0
    assert 0 <= sleeps[1] <= 2.0


async def test_jitter_is_reproducible_with_the_same_seed(fake, make_client, sleeps):
    """Two clients with the same seed wait the same delays."""
    fake.add_script("GET", "version", *[error(500, "x")] * 3)
    async with make_client(rng=random.Random(5)) as client:
        await client.version()
    first = list(sleeps)
    sleeps.clear()
    fake.add_script("GET", "version", *[error(500, "x")] * 3)
    async with make_client(rng=random.Random(5)) as client:
        await client.version()
    assert sleeps == first
    assert len(first) == 3


async def test_retries_stop_after_the_policy_attempts(fake, make_client, sleeps):
    """When every attempt fails, the last transient error is raised after attempts-1 sleeps."""
    fake.add_script("GET", "version", *[error(502, "gateway")] * 10)
    async with make_client() as client:
        with pytest.raises(errors.ServerError, match="502"):
            await client.version()
    assert len(fake.calls("GET", "version")) == POLICY.attempts
    assert len(sleeps) == POLICY.attempts - 1


async def test_retry_after_is_honoured(fake, make_client, sleeps):
    """A 429 with Retry-After waits exactly that long before trying again."""
    fake.add_script("GET", "version", error(429, "slow down", **{"Retry-After": "7"}))
    async with make_client() as client:
        await client.version()
    assert sleeps == [7.0]


async def test_a_retry_after_too_long_is_raised_not_slept(fake, make_client, sleeps):
    """A Retry-After beyond max_retry_after raises Throttled at once, carrying the wait."""
    fake.add_script("GET", "version", error(429, "slow down", **{"Retry-After": "600"}))
    async with make_client() as client:
        with pytest.raises(errors.Throttled) as caught:
            await client.version()
    assert caught.value.retry_after == 600.0
    assert sleeps == []
    assert len(fake.calls("GET", "version")) == 1


async def test_429_without_retry_after_backs_off(fake, make_client, sleeps):
    """A 429 without Retry-After uses the ordinary back-off."""
    fake.add_script("GET", "version", error(429, "slow down"))
    async with make_client() as client:
        await client.version()
    assert len(sleeps) == 1
    assert 0 <= sleeps[0] <= POLICY.base_delay


def _raise(exc: Exception):
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        pytest.param(httpx.ReadTimeout("slow"), errors.RequestTimeout, id="timeout"),
        pytest.param(httpx.ConnectError("refused"), errors.ConnectionFailed, id="connect"),
        pytest.param(httpx.RemoteProtocolError("reset"), errors.ConnectionFailed, id="protocol"),
    ],
)
async def test_network_failures_are_transient_and_retried(fake, make_client, sleeps, failure, expected):
    """Timeouts and broken connections are retried, then raised as their transient error."""
    fake.add_script("GET", "version", *[_raise(failure)] * POLICY.attempts)
    async with make_client() as client:
        with pytest.raises(expected):
            await client.version()
    assert len(sleeps) == POLICY.attempts - 1


async def test_a_network_failure_then_success_recovers(fake, make_client):
    """One dropped connection does not fail the call."""
    fake.add_script("GET", "version", _raise(httpx.ConnectError("refused")))
    async with make_client() as client:
        assert (await client.version())["version"]


@pytest.mark.parametrize(
    ("method", "status", "expected"),
    [
        pytest.param("GET", 404, errors.NotFound, id="404"),
        pytest.param("GET", 410, errors.NotFound, id="410"),
        pytest.param("GET", 400, errors.BadRequest, id="400-read"),
        pytest.param("PATCH", 400, errors.Refused, id="400-change"),
        pytest.param("PATCH", 409, errors.Conflict, id="409"),
    ],
)
async def test_permanent_failures_are_not_retried(fake, make_client, sleeps, method, status, expected):
    """4xx answers (other than 401/429) are raised at once, with SEPM's message."""
    path = "groups/G1/locations/L1/settings"
    fake.settings[("G1", "L1")] = {"configuration": {}}
    fake.add_script(method, path, error(status, "group inherits policies"))
    async with make_client() as client:
        if method == "GET":
            call = client.location_settings("G1", "L1")
        else:
            call = client.patch_location_settings("G1", "L1", secure_communications_configuration(False))
        with pytest.raises(expected, match="group inherits policies"):
            await call
    assert len(fake.calls(method, path)) == 1
    assert sleeps == []


async def test_a_patch_is_retried_with_the_same_body(fake, make_client):
    """A PATCH that met a 503 is sent again unchanged (it sets absolute values, so it is idempotent)."""
    path = "groups/G1/locations/L1/settings"
    fake.settings[("G1", "L1")] = {"configuration": {"general_settings": {}}}
    fake.add_script("PATCH", path, error(503, "busy"))
    async with make_client() as client:
        await client.patch_location_settings("G1", "L1", secure_communications_configuration(False))
    first, second = fake.calls("PATCH", path)
    assert first.content == second.content
    assert json.loads(second.content) == {
        "configuration": {"general_settings": {"security_settings": {"secure_communications": False}}}
    }
    assert fake.settings[("G1", "L1")]["configuration"]["general_settings"] == {
        "security_settings": {"secure_communications": False}
    }


async def test_patch_group_sends_the_group_payload(fake, make_client):
    """patch_group sends name (required by SEPM) and only the optional fields given."""
    async with make_client() as client:
        await client.patch_group("G 1", name="Sales", inherits=False)
    (call,) = fake.calls("PATCH", "groups/G%201")
    assert json.loads(call.content) == {"name": "Sales", "inherits": False}


async def test_a_success_that_is_not_json_is_unexpected(fake, make_client):
    """A 200 with an HTML body is UnexpectedResponse, not a crash."""
    fake.add_script("GET", "version", httpx.Response(200, text="<html>proxy login</html>"))
    async with make_client() as client:
        with pytest.raises(errors.UnexpectedResponse, match="not JSON"):
            await client.version()
