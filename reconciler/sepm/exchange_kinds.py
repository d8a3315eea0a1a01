"""How one HTTP exchange with SEPM is counted: its endpoint family and its outcome.

Contract:
- ``endpoint_family(method, path)`` is the method and the path with every identifier replaced by
  ``{id}`` (``GET groups/{id}/locations``): a label with a handful of values, whatever the site's size.
  A segment counts as an identifier unless it is one of the API's own words (`_WORDS`).
- ``outcome_of`` names what came of one exchange in a few fixed words: ``ok`` (2xx), ``unauthorized``
  (401), ``throttled`` (429), ``client_error`` (other 4xx), ``server_error`` (5xx), ``timeout``,
  ``connection_failed``, ``pin_mismatch``, ``too_large`` or ``error`` (anything else raised).
- Every exchange is counted, retries included: a site answering 503 shows as many ``server_error`` as
  attempts were made.
"""

from __future__ import annotations

from collections.abc import Callable

from reconciler.sepm.errors import (
    ConnectionFailed,
    PinMismatch,
    RequestTimeout,
    ResponseTooLarge,
    SepmError,
)

ExchangeHook = Callable[[str, str], None]
"""Called with (endpoint family, outcome) after every exchange; it must not raise or block."""

_WORDS = frozenset(
    {
        "identity",
        "authenticate",
        "logout",
        "version",
        "groups",
        "locations",
        "settings",
        "computers",
        "policies",
        "domains",
        "admin-users",
        "servers",
        "licenses",
    }
)


def endpoint_family(method: str, path: str) -> str:
    segments = [s if s in _WORDS else "{id}" for s in path.strip("/").split("/") if s]
    return f"{method} {'/'.join(segments)}"


def outcome_of(status: int | None, error: BaseException | None = None) -> str:
    """The outcome word for an HTTP status, or for the error met instead of one."""
    if status is not None:
        if 200 <= status < 300:
            return "ok"
        if status == 401:
            return "unauthorized"
        if status == 429:
            return "throttled"
        return "client_error" if status < 500 else "server_error"
    if isinstance(error, PinMismatch):
        return "pin_mismatch"
    if isinstance(error, RequestTimeout):
        return "timeout"
    if isinstance(error, ConnectionFailed):
        return "connection_failed"
    if isinstance(error, ResponseTooLarge):
        return "too_large"
    if isinstance(error, SepmError) and error.status is not None:
        return outcome_of(error.status)
    return "error"
