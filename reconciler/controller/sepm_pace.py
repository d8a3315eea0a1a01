"""How fast SEPM's clock runs against ours, for scheduling sleeps only.

Not to be confused with `reconciler.sepm.clock.SepmClock`, which tells *what time* it is on SEPM from
its responses (for the snapshot's ``server_time``); this tells *how many of our seconds* a span of SEPM
time will take.

Gate arithmetic is done in SEPM time by the planner. The controller still has to decide how long to sleep
before a gate can open, which needs "how many of my seconds until SEPM reaches time T". SEPM's clock may run
at another rate than ours (the simulator runs hundreds of times faster), so the rate is estimated from
successive observations: (SEPM ms elapsed) / (local seconds elapsed). The estimate is only used to choose a
sleep; a wrong estimate costs an early or late re-check, never safety.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class SepmPace:
    """Keeps the last (SEPM ms, local monotonic s) pair and an estimated rate in SEPM ms per local second."""

    monotonic: Callable[[], float] = time.monotonic
    rate: float = 1000.0
    _last: tuple[int, float] | None = field(default=None, repr=False)

    def observe(self, sepm_ms: int) -> None:
        """Feed the server time of a fresh observation."""
        now = self.monotonic()
        if self._last is not None:
            sepm_then, local_then = self._last
            elapsed = now - local_then
            if elapsed > 0.05 and sepm_ms > sepm_then:
                sample = (sepm_ms - sepm_then) / elapsed
                # Smooth, so one slow observation (its server time taken late) does not swing the schedule.
                self.rate = 0.5 * self.rate + 0.5 * sample
        self._last = (sepm_ms, now)

    def now_ms(self) -> int | None:
        """SEPM's clock now, extrapolated; None before the first observation."""
        if self._last is None:
            return None
        sepm_then, local_then = self._last
        return int(sepm_then + (self.monotonic() - local_then) * self.rate)

    def seconds_until(self, sepm_ms: int) -> float:
        """Local seconds until SEPM's clock reaches ``sepm_ms`` (0 if it has, or is unknown)."""
        now = self.now_ms()
        if now is None or sepm_ms <= now:
            return 0.0
        return (sepm_ms - now) / max(self.rate, 1e-6)
