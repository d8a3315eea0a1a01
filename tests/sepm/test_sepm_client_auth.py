"""Authentication: token reuse, renewal on SEPM's clock, one re-authentication, and no lockout loops."""

from __future__ import annotations

import pytest
from sepm_fakes import PASSWORD, error

from reconciler.sepm.errors import CredentialsRejected, ServerError, Unauthorized


async def test_one_token_serves_many_calls(fake, make_client):
    """The client authenticates once and sends the token as a Bearer header."""
    async with make_client() as client:
        await client.version()
        await client.replication_status()
    assert len(fake.calls("POST", "identity/authenticate")) == 1
    version_call = fake.calls("GET", "version")[0]
    assert version_call.headers["authorization"].startswith("Bearer tok-1-")


async def test_token_is_renewed_before_it_expires_on_sepms_clock(fake, make_client):
    """Once SEPM's clock nears tokenExpiration, the next call authenticates afresh, without a 401."""
    fake.token_seconds = 600
    async with make_client() as client:
        await client.version()
        fake.now_ms += 545_000  # inside the renewal margin (60 s or a tenth of the lifetime)
        await client.version()  # still the old token; this response tells the client the time
        await client.version()
    assert len(fake.calls("POST", "identity/authenticate")) == 2
    assert len(fake.calls("GET", "version")) == 3  # no call was refused and repeated
    assert fake.calls("GET", "version")[-1].headers["authorization"].startswith("Bearer tok-2-")


async def test_token_is_kept_while_far_from_expiry(fake, make_client):
    """Far from expiry, the token is reused."""
    fake.token_seconds = 600
    async with make_client() as client:
        await client.version()
        fake.now_ms += 100_000
        await client.version()
        await client.version()
    assert len(fake.calls("POST", "identity/authenticate")) == 1


async def test_expired_token_is_renewed_once_on_401(fake, make_client):
    """A 401 (token revoked) triggers exactly one re-authentication and the call succeeds."""
    async with make_client() as client:
        await client.version()
        fake.expire_tokens()
        assert (await client.version())["version"] == "14.3.9816.7000"
    assert len(fake.calls("POST", "identity/authenticate")) == 2


async def test_second_401_is_unauthorized(fake, make_client, sleeps):
    """A 401 right after a fresh authentication raises Unauthorized and is not retried further."""
    fake.add_script("GET", "version", error(401, "no rights"), error(401, "no rights"))
    async with make_client() as client:
        with pytest.raises(Unauthorized, match="system administrator"):
            await client.version()
    assert len(fake.calls("POST", "identity/authenticate")) == 2
    assert len(fake.calls("GET", "version")) == 2
    assert sleeps == []


@pytest.mark.parametrize("status", [400, 401, 403])
async def test_rejected_credentials_are_tried_exactly_once(fake, make_client, status):
    """A rejected logon raises CredentialsRejected and never reaches SEPM again until reset."""
    fake.add_script("POST", "identity/authenticate", error(status, "Invalid username or password"))
    async with make_client() as client:
        with pytest.raises(CredentialsRejected, match="not retrying"):
            await client.version()
        assert client.credentials_rejected
        requests_so_far = len(fake.log)
        for _ in range(3):
            with pytest.raises(CredentialsRejected):
                await client.groups()
        assert len(fake.log) == requests_so_far
        assert len(fake.calls("POST", "identity/authenticate")) == 1


async def test_wrong_password_is_not_retried_and_reset_allows_a_new_one(fake, make_client):
    """With a wrong password, one attempt only; reset_credentials with the right one works."""
    async with make_client(password="wrong-password") as client:
        with pytest.raises(CredentialsRejected):
            await client.version()
        with pytest.raises(CredentialsRejected):
            await client.version()
        assert len(fake.calls("POST", "identity/authenticate")) == 1
        client.reset_credentials(password=PASSWORD)
        assert not client.credentials_rejected
        assert (await client.version())["version"]
    assert len(fake.calls("POST", "identity/authenticate")) == 2


async def test_a_server_error_on_authenticate_is_retried(fake, make_client, sleeps):
    """A 5xx on authenticate is not a rejected password: it is retried with back-off."""
    fake.add_script("POST", "identity/authenticate", error(503, "starting"))
    async with make_client() as client:
        await client.version()
        assert not client.credentials_rejected
    assert len(fake.calls("POST", "identity/authenticate")) == 2
    assert len(sleeps) == 1


async def test_authenticate_failing_every_time_raises_the_transient_error(fake, make_client):
    """When SEPM keeps failing the logon with 5xx, the client gives up with ServerError, not a lockout."""
    fake.add_script("POST", "identity/authenticate", *[error(500, "db down")] * 4)
    async with make_client() as client:
        with pytest.raises(ServerError):
            await client.version()
        assert not client.credentials_rejected


async def test_server_time_follows_sepm(fake, make_client):
    """server_time_ms is SEPM's serverTime after logon and follows the Date header afterwards."""
    async with make_client() as client:
        assert client.server_time_ms is None
        await client.version()
        assert client.server_time_ms == fake.now_ms
        fake.now_ms += 3_600_000
        await client.version()
        assert fake.now_ms <= client.server_time_ms <= fake.now_ms + 999


async def test_logout_ends_the_session_and_tolerates_a_dead_token(fake, make_client):
    """logout() posts identity/logout with the token; a second logout or a dead token is harmless."""
    async with make_client() as client:
        await client.version()
        await client.logout()
        assert fake.tokens == {}
        await client.logout()
        await client.version()  # logs on again
        fake.expire_tokens()
        await client.logout()
    assert len(fake.calls("POST", "identity/logout")) == 2
