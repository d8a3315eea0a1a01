"""SEPM access: the REST client, TLS observation, the wire adapter and the Observer.

The names most callers need are re-exported here. ``reconciler.sepm.adapter`` (every inferred fact
about SEPM's payloads, and the PATCH bodies) is used as a module by the REST actuator.
"""

from reconciler.backoff import RetryPolicy
from reconciler.sepm.client import SepmClient, rest_base_url
from reconciler.sepm.errors import (
    BadRequest,
    Conflict,
    ConnectionFailed,
    CredentialsRejected,
    IncompleteObservation,
    NotFound,
    PermanentError,
    PinMismatch,
    Refused,
    RequestTimeout,
    SepmError,
    ServerError,
    Throttled,
    TransientError,
    Unauthorized,
    UnexpectedResponse,
)
from reconciler.sepm.observer import Observer
from reconciler.sepm.tls import fetch_certificate, fetch_server_certificates

__all__ = [
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
]
