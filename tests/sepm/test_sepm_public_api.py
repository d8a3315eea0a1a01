"""The package's public surface stays as declared."""

from __future__ import annotations

import reconciler.sepm as sepm

EXPECTED = {
    "BadRequest",
    "Conflict",
    "ConnectionFailed",
    "CredentialsRejected",
    "IncompleteObservation",
    "NotFound",
    "Observer",
    "PermanentError",
    "PinMismatch",
    "Refused",
    "RequestTimeout",
    "RetryPolicy",
    "SepmClient",
    "SepmError",
    "ServerError",
    "Throttled",
    "TransientError",
    "Unauthorized",
    "UnexpectedResponse",
    "fetch_certificate",
    "fetch_server_certificates",
    "rest_base_url",
}


def test_public_names_are_exactly_the_declared_ones():
    """__all__ lists the public names, sorted, and each one resolves."""
    assert set(sepm.__all__) == EXPECTED
    assert list(sepm.__all__) == sorted(sepm.__all__)
    for name in sepm.__all__:
        assert getattr(sepm, name) is not None
