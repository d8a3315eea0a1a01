"""REST sessions of the simulated SEPM: logon, bearer tokens, logout and account lockout.

Contract (all times on the simulated clock, epoch ms):
- `logon(username, password, now_ms)` checks the credentials with `Site.authenticate` and returns a
  `Session` whose token lives `token_lifetime_s` seconds; `UserToken.tokenExpiration` reports that
  lifetime in seconds (SEPM's field is a duration, not an epoch).
- Lockout: the 5th consecutive failed logon of a user locks the account for 15 minutes; each further
  lock of the same account doubles that (30, 60, ...). While locked, every logon answers the same
  refusal, even with the right password, and does not count as a failure. A successful logon resets
  the consecutive-failure count but not the lock history (the doubling persists for the process).
- Refusals raise `LogonRefused` whose message never contains the password (nor says which part of the
  credentials was wrong, as SEPM does not).
- `session_for(token, now_ms)` is the bearer check: None for an unknown, logged-out or expired token.
- `revoke_all()` is the token-expiry fault: every token issued so far stops working at once.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reconciler.sim.engine import Site

MAX_FAILURES = 5
LOCK_MS = 15 * 60 * 1000
TOKEN_LIFETIME_S = 3600
REFRESH_LIFETIME_S = 8 * 3600


class LogonRefused(Exception):
    """The logon is refused: wrong credentials or a locked account (SEPM answers 400 for both)."""


@dataclass(frozen=True)
class Session:
    token: str
    refresh_token: str
    username: str
    admin_id: str
    issued_ms: int
    expires_ms: int

    def __repr__(self) -> str:  # tokens are secrets: never in a repr
        return f"Session(username={self.username!r}, expires_ms={self.expires_ms})"


@dataclass
class _Account:
    failures: int = 0
    locks: int = 0
    locked_until_ms: int = 0


class Sessions:
    """Token store and lockout bookkeeping for one site (thread-safe)."""

    def __init__(self, site: Site, *, token_lifetime_s: int = TOKEN_LIFETIME_S) -> None:
        self._site = site
        self.token_lifetime_s = token_lifetime_s
        self.refresh_lifetime_s = max(REFRESH_LIFETIME_S, token_lifetime_s)
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}
        self._accounts: dict[str, _Account] = {}

    def logon(self, username: str, password: str, now_ms: int) -> Session:
        key = username.lower()
        with self._lock:
            account = self._accounts.setdefault(key, _Account())
            if account.locked_until_ms > now_ms:
                raise LogonRefused("the account is locked after too many failed logons; try again later")
            if not self._site.authenticate(username, password):
                account.failures += 1
                if account.failures >= MAX_FAILURES:
                    account.locks += 1
                    account.failures = 0
                    account.locked_until_ms = now_ms + LOCK_MS * 2 ** (account.locks - 1)
                raise LogonRefused("invalid username or password")
            account.failures = 0
            # Forget expired sessions here, so a long run with hourly logons does not accumulate them.
            self._sessions = {t: s for t, s in self._sessions.items() if s.expires_ms > now_ms}
            session = Session(
                token=secrets.token_urlsafe(32),
                refresh_token=secrets.token_urlsafe(32),
                username=username,
                admin_id=_admin_id(username),
                issued_ms=now_ms,
                expires_ms=now_ms + self.token_lifetime_s * 1000,
            )
            self._sessions[session.token] = session
            return session

    def locked_until_ms(self, username: str) -> int:
        """When the account's current lock ends (0 if it was never locked)."""
        with self._lock:
            account = self._accounts.get(username.lower())
            return account.locked_until_ms if account else 0

    def session_for(self, token: str, now_ms: int) -> Session | None:
        with self._lock:
            session = self._sessions.get(token)
            if session is None:
                return None
            if now_ms >= session.expires_ms:
                del self._sessions[token]
                return None
            return session

    def logout(self, token: str) -> bool:
        with self._lock:
            return self._sessions.pop(token, None) is not None

    def revoke_all(self) -> None:
        with self._lock:
            self._sessions.clear()


def _admin_id(username: str) -> str:
    # SEPM admin ids are 32 upper-case hex digits; derive a stable one from the name.
    return hashlib.md5(username.lower().encode("utf-8"), usedforsecurity=False).hexdigest().upper()
