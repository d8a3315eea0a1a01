"""The logon state of one SEPM client: credentials, the current token, and when to renew it.

Contract:
- ``tokenExpiration`` in SEPM's logon answer is a lifetime in **seconds**, counted from ``serverTime``
  (SEPM's clock). The token is renewed when SEPM's clock, as forecast by ``SepmClock.now_ms``, comes
  within a margin of the expiry: a tenth of the lifetime, at most a minute. When SEPM runs faster than
  the forecast (the simulator), the first 401 covers the gap.
- ``rejected`` latches on a refused logon and is cleared only by ``reset``: the client must not try
  the same password again, or SEPM locks the account.
- The password and every token this session has held (bounded) are redacted from any text
  (``redact``), and never appear in ``repr``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any, TypeGuard

from reconciler.sepm.clock import SepmClock

_MAX_MARGIN_MS = 60_000
_MAX_EPOCH_MS = 2**63 - 1  # SEPM's times are Java longs
_MAX_LIFETIME_S = 2**31 - 1


def _whole(value: object, *, maximum: int) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= maximum


class Session:
    """Credentials and token of one client (not thread-safe; the client serialises logons)."""

    def __init__(self, *, username: str, password: str, domain: str, clock: SepmClock) -> None:
        self.username = username
        self.domain = domain
        self._password = password
        self._clock = clock
        self.token: str | None = None
        self.rejected = False
        self._expires_ms: int | None = None
        self._margin_ms = _MAX_MARGIN_MS
        # Every token held so far (bounded): SEPM may quote an old one in an error message.
        self._spent: deque[str] = deque(maxlen=32)

    def __repr__(self) -> str:
        return f"Session(username={self.username!r}, logged_on={self.token is not None})"

    def credentials(self) -> dict[str, str]:
        """The body of ``POST identity/authenticate``."""
        return {"username": self.username, "password": self._password, "domain": self.domain}

    def needs_logon(self) -> bool:
        """No token yet, or SEPM's clock is within the renewal margin of its expiry."""
        if self.token is None:
            return True
        now = self._clock.now_ms()
        if now is None or self._expires_ms is None:
            return False
        return now >= self._expires_ms - self._margin_ms

    def accept(self, body: Mapping[str, Any], *, date_header: str | None) -> bool:
        """Take a logon answer; False if it holds no token. Feeds ``serverTime`` to the clock."""
        token = body.get("token")
        if not isinstance(token, str) or not token:
            return False
        server_time = body.get("serverTime")
        if _whole(server_time, maximum=_MAX_EPOCH_MS):  # anything else is no reading at all
            self._clock.observe_server_time(server_time, date_header=date_header)
        issued = self._clock.last_ms
        lifetime = body.get("tokenExpiration")
        if _whole(lifetime, maximum=_MAX_LIFETIME_S) and lifetime > 0 and issued is not None:
            self._expires_ms = issued + lifetime * 1000
            self._margin_ms = min(_MAX_MARGIN_MS, lifetime * 100)
        else:
            self._expires_ms = None  # unknown lifetime: rely on the 401
        self.token = token
        self._spent.append(token)
        refresh = body.get("refreshToken")
        if isinstance(refresh, str) and refresh:
            self._spent.append(refresh)
        return True

    def forget(self, token: str | None) -> None:
        """Drop ``token`` if it is still the current one (a 401 said it is dead)."""
        if token is not None and self.token == token:
            self.token = None

    def take(self) -> str | None:
        """Remove and return the current token (to log it out)."""
        token, self.token = self.token, None
        return token

    def reset(self, *, password: str | None = None) -> None:
        """Allow logons again, optionally with a new password."""
        if password is not None:
            self._password = password
        self.rejected = False

    def redact(self, text: str) -> str:
        """``text`` with the password and every token held so far replaced by ``***``."""
        for secret in (self._password, *self._spent):
            if secret:
                text = text.replace(secret, "***")
        return text
