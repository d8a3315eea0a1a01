"""The simulator's clock: simulated epoch milliseconds that may run faster than real time.

Contract: ``now_ms()`` never goes backwards. It is ``start_ms + real elapsed x speed + advanced``,
where the real elapsed time comes from the monotonic clock (so a wall-clock jump on the host does not
move the simulated site) and ``advanced`` is what tests added with ``advance()``. Changing ``speed``
re-bases the clock at the current simulated instant, so the change only affects the future.

Everything that SEPM stamps (``lastUpdateTime``, ``serverTime``, policy serials) reads this clock; the
controller never sees the host's clock through the simulator.
"""

from __future__ import annotations

import threading
import time


class SimClock:
    """Simulated time in epoch milliseconds, ``speed`` times faster than real time."""

    def __init__(self, *, speed: float = 1.0, start_ms: int | None = None) -> None:
        if speed <= 0:
            raise ValueError(f"clock speed must be positive (got {speed})")
        self._lock = threading.Lock()
        self._speed = float(speed)
        self._base_sim_ms = float(start_ms if start_ms is not None else time.time_ns() // 1_000_000)
        self._base_real = time.monotonic()
        self._last_ms = int(self._base_sim_ms)

    def _sim_now_locked(self) -> float:
        return self._base_sim_ms + (time.monotonic() - self._base_real) * 1000.0 * self._speed

    def now_ms(self) -> int:
        """The current simulated time; monotonic even when callers race on several threads."""
        with self._lock:
            # The float arithmetic could round a hair backwards across a re-base: clamp.
            now = max(self._last_ms, int(self._sim_now_locked()))
            self._last_ms = now
            return now

    @property
    def speed(self) -> float:
        """How many simulated milliseconds pass per real millisecond."""
        return self._speed

    @speed.setter
    def speed(self, value: float) -> None:
        if value <= 0:
            raise ValueError(f"clock speed must be positive (got {value})")
        with self._lock:
            self._base_sim_ms = self._sim_now_locked()
            self._base_real = time.monotonic()
            self._speed = float(value)

    def advance(self, ms: int) -> None:
        """Jump the simulated time forward by ``ms`` (tests); a negative jump is refused."""
        if ms < 0:
            raise ValueError(f"the simulated clock never goes back (advance by {ms} ms)")
        with self._lock:
            self._base_sim_ms += ms
