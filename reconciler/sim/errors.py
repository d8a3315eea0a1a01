"""Errors of the simulator: the engine raises them, and so do the REST and console layers for a request
they refuse themselves (``SimError(message, status=...)``); those layers map them to error bodies.

```
SimError            status (HTTP) + message (safe to show: never a secret)
├── NotFound        404 (or 410): no such group, location, server or MSL
└── Refused         400: the request is understood but SEPM would not do it (patching an inheriting
                    group, an unknown MSL, deleting an MSL that is still assigned, a bad certificate)
```
"""

from __future__ import annotations


class SimError(Exception):
    """An engine error with the HTTP status the REST layer should answer with."""

    status: int = 500

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class NotFound(SimError):
    """The addressed object does not exist (HTTP 404; 410 when it existed and was deleted)."""

    status = 404


class Refused(SimError):
    """SEPM would refuse this change (HTTP 400)."""

    status = 400
