"""How long to wait before trying a request again.

Contract:
- Exponential back-off with *full jitter* (AWS architecture blog, "Exponential Backoff And Jitter"):
  before retry ``n`` (1-based) wait a uniform random time in ``[0, min(max_delay, base_delay * 2**(n-1))]``.
  Full jitter spreads several controllers (or several sites of one controller) hitting one SEPM apart,
  which matters more here than the shortest possible recovery.
- A 429 with ``Retry-After`` waits exactly what SEPM asked for, as long as that is no more than
  ``max_retry_after``; a longer wait is not slept through inside one request: the error goes up as
  ``Throttled`` and the controller schedules the site again later.
- ``Retry-After`` is either delta-seconds or an HTTP date; a date is measured against the response's
  own ``Date`` header (SEPM's clock), never against ours.
- The random source is injectable so tests can seed it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from reconciler.sepm.clock import parse_http_date_ms


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts per request (the first try included) and the back-off bounds, in seconds."""

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 120.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1 (the first try)")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_retry_after < 0:
            raise ValueError("delays cannot be negative")

    def backoff(self, retry: int, rng: random.Random) -> float:
        """Seconds to wait before retry number ``retry`` (1 = the first retry), with full jitter."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** max(retry - 1, 0)))
        return rng.uniform(0.0, ceiling)


def parse_retry_after(value: str | None, *, date_header: str | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date), or None if absent/unreadable.

    An HTTP date needs the response's ``Date`` header to be turned into a wait; without it the value
    is treated as unreadable (and the caller falls back to its own back-off).
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        return float(text)
    until_ms = parse_http_date_ms(text)
    now_ms = parse_http_date_ms(date_header)
    if until_ms is None or now_ms is None:
        return None
    return max(0.0, (until_ms - now_ms) / 1000)
