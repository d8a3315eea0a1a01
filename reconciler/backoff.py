"""The one back-off policy: how long to wait before trying again, and when to stop trying.

Used by the SEPM request pipeline (a request that met a 5xx, a 429 or a timeout), the observer (a TLS
handshake that failed by chance) and the controller (a site whose reconcile failed transiently). Each
decides *what* is worth retrying; this module alone decides *how long* to wait.

Contract:
- Exponential back-off with **full jitter** (AWS architecture blog, "Exponential Backoff And Jitter"):
  before retry ``n`` (1-based) wait a uniform random time in ``[0, min(max_delay, base_delay * 2**(n-1))]``.
  Full jitter spreads several controllers (or several sites of one controller) hitting one SEPM apart,
  which matters more here than the shortest possible recovery.
- **Retry-After is honoured**: when the server said how long to wait, that is the wait, exactly, as long
  as it is no more than ``max_retry_after``; a longer one ends the retries (the caller raises, and the
  controller schedules the site again later instead of sleeping inside one request).
- ``attempts`` counts tries, the first included; ``None`` never gives up (the controller's per-site
  back-off, where only a permanent error stops a site, and it stalls rather than exits).
- Randomness and sleeping are injected (``rng``, ``sleep``), so tests are exact and never wait.

Why not tenacity or stamina: of the three users only the observer's retry is a plain "call again" loop.
The pipeline's loop re-authenticates and re-pins inside an attempt without counting it, and the
controller's back-off spans reconciles (it returns a delay for the scheduler, it never sleeps), so a
retry decorator would fit one user and need workarounds for the other two; the policy itself is twenty
lines.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]

_MAX_EXPONENT = 60  # 2**60 dwarfs any cap; a larger exponent would only overflow the float


@dataclass(frozen=True)
class RetryPolicy:
    """Tries in all (``None``: unbounded), the back-off bounds and the longest Retry-After obeyed, in s."""

    attempts: int | None = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 120.0

    def __post_init__(self) -> None:
        if self.attempts is not None and self.attempts < 1:
            raise ValueError("attempts must be at least 1 (the first try)")
        if min(self.base_delay, self.max_delay, self.max_retry_after) < 0:
            raise ValueError("delays cannot be negative")

    def backoff(self, retry: int, rng: random.Random) -> float:
        """Seconds to wait before retry number ``retry`` (1 = the first retry), with full jitter."""
        exponent = min(max(retry - 1, 0), _MAX_EXPONENT)
        return rng.uniform(0.0, min(self.max_delay, self.base_delay * 2.0**exponent))

    def delay(self, retry: int, rng: random.Random, *, retry_after: float | None = None) -> float | None:
        """The wait before retry ``retry``, or None when retrying is over: every attempt is spent, or the
        server asks for a longer wait than ``max_retry_after``."""
        if self.attempts is not None and retry >= self.attempts:
            return None
        if retry_after is not None and math.isfinite(retry_after):
            return max(0.0, retry_after) if retry_after <= self.max_retry_after else None
        return self.backoff(retry, rng)

    async def call(
        self,
        attempt: Callable[[], Awaitable[T]],
        *,
        retry_on: type[BaseException] | tuple[type[BaseException], ...],
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        on_retry: Callable[[int, float, BaseException], None] | None = None,
    ) -> T:
        """``attempt()`` until it returns, retrying what ``retry_on`` names; the last error is raised.

        An error's ``retry_after`` attribute (seconds), when it has one, is honoured as above.
        ``on_retry(retry, delay, error)`` is told of each retry before its wait (for a log line).
        """
        rng = rng if rng is not None else random.Random()  # noqa: S311 - jitter, not cryptography
        retry = 0
        while True:
            try:
                return await attempt()
            except retry_on as error:
                retry += 1
                wait = self.delay(retry, rng, retry_after=getattr(error, "retry_after", None))
                if wait is None:
                    raise
                if on_retry is not None:
                    on_retry(retry, wait, error)
                await sleep(wait)
