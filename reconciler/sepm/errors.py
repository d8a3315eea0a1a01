"""Everything that can go wrong while talking to SEPM, as one typed tree.

```
SepmError
├── TransientError            worth trying again later (the controller backs off)
│   ├── ServerError           HTTP 5xx
│   ├── Throttled             HTTP 429; ``retry_after`` seconds when SEPM said so
│   ├── RequestTimeout        connect/read/write/pool timeout
│   │   └── DeadlineExceeded  the whole exchange, body included, outlasted its deadline (a drip)
│   ├── ConnectionFailed      refused, reset, TLS handshake failure (not a pin mismatch)
│   └── IncompleteObservation a page, a location or a TLS port could not be read: no snapshot
│       └── PagingInconsistent  the pages ran past what the first one announced, or repeated ids
└── PermanentError            trying again will not help; a human must act (the site stalls)
    ├── CredentialsRejected   HTTP 400/401/403 on identity/authenticate, a locked account included.
    │                         The client never retries it on its own: SEPM locks accounts.
    ├── Unauthorized          HTTP 401 again right after a fresh authentication
    ├── NotFound              HTTP 404 / 410
    ├── Conflict              HTTP 409
    ├── BadRequest            HTTP 400 on a read
    ├── Refused               HTTP 400 on a change, 403, 422, 423, other 4xx: SEPM declined the change
    ├── UnexpectedResponse    a 2xx whose body the adapter cannot read (a SEPM version we do not know)
    ├── ResponseTooLarge      a body over the size limit, or a list announcing more elements than allowed
    └── PinMismatch           the peer presented a certificate the desired state does not allow
```

Contract:
- Messages name the server or URL and say what to do. They never contain a password or a token: the
  client builds every message itself, and text that comes from SEPM passes through a redactor first.
- ``IncompleteObservation`` and ``PinMismatch`` sit where their remedy puts them (retry later; fix the
  desired state), so ``except TransientError`` / ``except PermanentError`` is all a caller needs.
- The limits on what the client reads (``reconciler.sepm.limits``) sit where a retry can or cannot help:
  a slow exchange or a walk that overran may go through next time (transient); the same request will
  bring the same oversized body or the same huge list again, so only a human raising the limit (or
  finding out why SEPM sends it) helps (permanent).
"""

from __future__ import annotations


class SepmError(Exception):
    """Base of every error of the SEPM client, the TLS observer and the observer."""

    def __init__(self, message: str, *, url: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.url = url
        self.status = status

    def __str__(self) -> str:
        return self.message


class TransientError(SepmError):
    """Worth trying again after a back-off."""


class ServerError(TransientError):
    """SEPM answered 5xx."""


class Throttled(TransientError):
    """SEPM answered 429. ``retry_after`` is the wait SEPM asked for, in seconds, when it gave one."""

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        status: int | None = 429,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, url=url, status=status)
        self.retry_after = retry_after


class RequestTimeout(TransientError):
    """No answer in time."""


class DeadlineExceeded(RequestTimeout):
    """The whole exchange (connect, send, headers and body) took longer than the request deadline."""


class ConnectionFailed(TransientError):
    """The connection could not be made or broke (refused, reset, TLS handshake failure)."""


class IncompleteObservation(TransientError):
    """An observation could not be completed; there is no snapshot (never a partial one).

    ``retry_after`` carries SEPM's requested wait (seconds) when throttling caused the failure, so
    the controller can schedule the next observation accordingly.
    """

    def __init__(self, message: str, *, url: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, url=url)
        self.retry_after = retry_after

    @classmethod
    def from_error(cls, message: str, cause: SepmError) -> IncompleteObservation:
        """Wrap a transient error, keeping its URL and any Retry-After."""
        return cls(message, url=cause.url, retry_after=getattr(cause, "retry_after", None))


class PagingInconsistent(IncompleteObservation):
    """A paged walk ran past what its first page announced (with slack), or repeated an element where
    no change of the list explains it. Another walk may go through; a server that pages without end
    fails every time, each time at a bounded cost."""


class PermanentError(SepmError):
    """Retrying will not help: the desired state, the account or SEPM itself needs a human."""


class CredentialsRejected(PermanentError):
    """SEPM refused the username/password (or the account is locked). Never retried automatically."""


class Unauthorized(PermanentError):
    """SEPM answered 401 again right after a fresh authentication (the account lacks the rights)."""


class NotFound(PermanentError):
    """The resource does not exist (404 / 410)."""


class Conflict(PermanentError):
    """SEPM reported a conflicting change (409)."""


class BadRequest(PermanentError):
    """SEPM called a read request invalid (400)."""


class Refused(PermanentError):
    """SEPM declined a change (400 on a change, 403, 422, 423 ...)."""


class UnexpectedResponse(PermanentError):
    """A successful response whose body does not have the shape this client knows."""


class ResponseTooLarge(PermanentError):
    """A body larger than ``max_body_bytes``, or a list announcing more than ``max_elements``."""


class PinMismatch(PermanentError):
    """The peer presented a certificate whose SHA-256 is not allowed by the desired state."""

    def __init__(self, message: str, *, url: str | None = None, presented: str) -> None:
        super().__init__(message, url=url)
        self.presented = presented


_MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def error_for_status(
    *, method: str, url: str, status: int, detail: str = "", retry_after: float | None = None
) -> SepmError:
    """The error for a non-2xx answer to an ordinary request (authentication is handled apart).

    ``detail`` is SEPM's own ``errorMessage``, already redacted by the caller. 401 maps to
    Unauthorized here; the client re-authenticates once before it lets this error out.
    """
    said = f": {detail}" if detail else ""
    where = f"{method} {url}"
    if status == 429:
        wait = f"; SEPM asked to wait {retry_after:g} s" if retry_after is not None else ""
        return Throttled(
            f"SEPM throttled {where} (429){wait}; slow down or raise the REST throttle limit",
            url=url,
            retry_after=retry_after,
        )
    if status >= 500:
        return ServerError(f"SEPM failed on {where} ({status}){said}; retry later", url=url, status=status)
    if status == 401:
        return Unauthorized(
            f"SEPM refused the token for {where} even after a fresh logon (401){said}; "
            "the account must be a system administrator",
            url=url,
            status=status,
        )
    if status in (404, 410):
        return NotFound(f"SEPM has no such resource: {where} ({status}){said}", url=url, status=status)
    if status == 409:
        return Conflict(f"SEPM reported a conflict on {where} (409){said}", url=url, status=status)
    if status == 400 and method.upper() not in _MUTATING:
        return BadRequest(
            f"SEPM called {where} invalid (400){said}; this client may not match the SEPM version",
            url=url,
            status=status,
        )
    return Refused(f"SEPM refused {where} ({status}){said}", url=url, status=status)
