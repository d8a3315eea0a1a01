"""The error tree and the mapping of HTTP statuses to it."""

from __future__ import annotations

import pytest

from reconciler.sepm import errors
from reconciler.sepm.errors import error_for_status


@pytest.mark.parametrize(
    ("cls", "parent"),
    [
        pytest.param(errors.ServerError, errors.TransientError, id="server-error"),
        pytest.param(errors.Throttled, errors.TransientError, id="throttled"),
        pytest.param(errors.RequestTimeout, errors.TransientError, id="timeout"),
        pytest.param(errors.ConnectionFailed, errors.TransientError, id="connection"),
        pytest.param(errors.IncompleteObservation, errors.TransientError, id="incomplete"),
        pytest.param(errors.CredentialsRejected, errors.PermanentError, id="credentials"),
        pytest.param(errors.Unauthorized, errors.PermanentError, id="unauthorized"),
        pytest.param(errors.NotFound, errors.PermanentError, id="not-found"),
        pytest.param(errors.Conflict, errors.PermanentError, id="conflict"),
        pytest.param(errors.BadRequest, errors.PermanentError, id="bad-request"),
        pytest.param(errors.Refused, errors.PermanentError, id="refused"),
        pytest.param(errors.UnexpectedResponse, errors.PermanentError, id="unexpected"),
        pytest.param(errors.PinMismatch, errors.PermanentError, id="pin-mismatch"),
    ],
)
def test_each_error_sits_under_its_remedy(cls, parent):
    """Every concrete error is either transient or permanent, and all are SepmErrors."""
    assert issubclass(cls, parent)
    assert issubclass(cls, errors.SepmError)
    other = errors.PermanentError if parent is errors.TransientError else errors.TransientError
    assert not issubclass(cls, other)


@pytest.mark.parametrize(
    ("method", "status", "expected"),
    [
        pytest.param("GET", 500, errors.ServerError, id="500"),
        pytest.param("GET", 503, errors.ServerError, id="503"),
        pytest.param("GET", 429, errors.Throttled, id="429"),
        pytest.param("GET", 401, errors.Unauthorized, id="401"),
        pytest.param("GET", 404, errors.NotFound, id="404"),
        pytest.param("GET", 410, errors.NotFound, id="410"),
        pytest.param("PATCH", 409, errors.Conflict, id="409"),
        pytest.param("GET", 400, errors.BadRequest, id="400-read"),
        pytest.param("PATCH", 400, errors.Refused, id="400-change"),
        pytest.param("GET", 403, errors.Refused, id="403"),
        pytest.param("PUT", 423, errors.Refused, id="423"),
        pytest.param("GET", 302, errors.Refused, id="redirect-not-followed"),
    ],
)
def test_status_maps_to_error(method, status, expected):
    """Each HTTP status becomes the error class its remedy calls for, naming method, URL and status."""
    error = error_for_status(
        method=method, url="https://sepm:8446/sepm/api/v1/x", status=status, detail="why"
    )
    assert type(error) is expected
    assert "https://sepm:8446/sepm/api/v1/x" in str(error)
    assert error.url == "https://sepm:8446/sepm/api/v1/x"


def test_throttled_carries_the_wait_sepm_asked_for():
    """A 429 error keeps Retry-After (seconds) and says it."""
    error = error_for_status(method="GET", url="u", status=429, retry_after=12.0)
    assert isinstance(error, errors.Throttled)
    assert error.retry_after == 12.0
    assert "12 s" in str(error)


def test_pin_mismatch_names_the_presented_fingerprint():
    """PinMismatch exposes the fingerprint the peer presented."""
    error = errors.PinMismatch("bad pin", url="h:1", presented="AA:BB")
    assert error.presented == "AA:BB"
    assert str(error) == "bad pin"
