"""The password and tokens never show in reprs, exception text or log records."""

from __future__ import annotations

import logging
import traceback

import pytest
from sepm_fakes import PASSWORD, error

from reconciler.sepm.errors import CredentialsRejected, SepmError


def _all_text(error: BaseException) -> str:
    return "".join(traceback.format_exception(error)) + repr(error)


async def test_client_repr_shows_neither_password_nor_token(fake, make_client):
    """repr(client) names the endpoint and user only, before and after logon."""
    async with make_client() as client:
        assert PASSWORD not in repr(client)
        await client.version()
        token = next(iter(fake.tokens))
        assert PASSWORD not in repr(client)
        assert token not in repr(client)
        assert "admin" in repr(client)


async def test_rejected_logon_error_hides_the_password_even_if_sepm_echoes_it(fake, make_client):
    """A logon refusal whose SEPM message quotes the password is redacted before it is quoted."""
    fake.add_script("POST", "identity/authenticate", error(400, f"bad password {PASSWORD} for admin"))
    async with make_client() as client:
        with pytest.raises(CredentialsRejected) as caught:
            await client.version()
    text = _all_text(caught.value)
    assert PASSWORD not in text
    assert "***" in text


async def test_error_messages_and_logs_never_carry_secrets(fake, make_client, caplog):
    """Across logon, retries, a 401 renewal and a final failure, no log record or error holds a secret."""
    caplog.set_level(logging.DEBUG)
    fake.add_script("GET", "version", error(500, "x"), error(401, "expired"))
    async with make_client() as client:
        await client.version()
        first_token = next(iter(fake.tokens))
        fake.add_script("GET", "groups", *[error(503, f"token {first_token} broke")] * 10)
        with pytest.raises(SepmError) as caught:
            await client.groups()
    tokens = [first_token, *fake.tokens]
    assert len(tokens) >= 2
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "retry" in logged  # the retries were logged ...
    for secret in (PASSWORD, *tokens):
        assert secret not in logged  # ... without secrets
        assert secret not in _all_text(caught.value)
