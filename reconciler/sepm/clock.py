"""SEPM's clock, as far as its responses prove it.

All gate arithmetic runs on SEPM's clock, never on ours (DESIGN.md): it is what the clients'
``lastUpdateTime`` is written in, and it is what lets the simulator run faster than real time.

Two sources:
- ``serverTime`` (epoch ms) in the authentication response: exact to the millisecond.
- The HTTP ``Date`` header of every response: whole seconds, so the true time when the header was
  written lies in ``[D, D + 999]`` ms.

The estimate at each response: the last exact reading advanced by our monotonic clock, clamped into
the window the latest ``Date`` proves. Clamping makes it right to within a second even when SEPM's
clock does not run at our speed (the simulator's does not) or our local clock jumps; with no exact
reading yet, the estimate is ``D`` itself, the lower end of the window. The estimate never goes
backwards (responses of parallel requests arrive out of order).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime

_DATE_RESOLUTION_MS = 999


def parse_http_date_ms(value: str | None) -> int | None:
    """Epoch ms of an HTTP ``Date`` header, or None when absent or unreadable."""
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        return None
    return int(moment.timestamp() * 1000)


class SepmClock:
    """Tracks SEPM's clock from response headers and ``serverTime``."""

    def __init__(self, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._anchor: tuple[int, float] | None = None  # (exact SEPM ms, our monotonic seconds then)
        self._last_ms: int | None = None
        self._last_mono = 0.0

    @property
    def last_ms(self) -> int | None:
        """SEPM's clock at the last response (see the module docstring for the bound), or None."""
        return self._last_ms

    def now_ms(self) -> int | None:
        """A forecast of SEPM's clock now: the last reading advanced by our elapsed time."""
        if self._last_ms is None:
            return None
        return self._last_ms + int((self._monotonic() - self._last_mono) * 1000)

    def observe_server_time(self, server_time_ms: int, *, date_header: str | None = None) -> None:
        """Record an exact reading (``serverTime`` of an authentication response)."""
        mono = self._monotonic()
        self._anchor = (server_time_ms, mono)
        self._advance_to(server_time_ms, mono)
        if date_header is not None:
            self.observe_date(date_header)

    def observe_date(self, date_header: str | None) -> None:
        """Record the ``Date`` header of a response."""
        date_ms = parse_http_date_ms(date_header)
        if date_ms is None:
            return
        mono = self._monotonic()
        estimate = date_ms
        if self._anchor is not None:
            exact_ms, exact_mono = self._anchor
            advanced = exact_ms + int((mono - exact_mono) * 1000)
            estimate = min(max(advanced, date_ms), date_ms + _DATE_RESOLUTION_MS)
        self._advance_to(estimate, mono)

    def _advance_to(self, estimate_ms: int, mono: float) -> None:
        if self._last_ms is None or estimate_ms >= self._last_ms:
            self._last_ms = estimate_ms
            self._last_mono = mono
