"""When a simulated client checks in: closed forms over its heartbeat grid and offline windows.

The rule (the definition the closed forms below must agree with):
- A client that checked in at ``t`` next checks in at ``t + h`` (``h`` = its cached heartbeat).
- If that instant falls inside one of its offline windows ``[a, b)``, it checks in at ``b`` instead:
  the moment it comes back online (SEPM clients send a heartbeat when they start). A window that
  lies wholly between two check-ins goes unnoticed.
- A dormant client never checks in.

``anchor`` is any instant at which the client checked in (its last check-in, or the one before the
simulation started). Because every check-in is on the grid ``anchor + k*h`` until the next return from
an offline window re-anchors the grid at ``b``, the next / last / count questions are answered in
O(number of windows) without stepping through check-ins: this is what lets 100,000 clients sit idle
between reads at any clock speed.

Windows are sorted, disjoint and separated (``b < next a``); ``normalize_windows`` makes them so.
An anchor is never inside a window (clients do not check in while offline).
"""

from __future__ import annotations

from collections.abc import Iterable

# "Never" as an integer so that comparisons stay plain int arithmetic.
NEVER = 1 << 62

Windows = tuple[tuple[int, int], ...]


def normalize_windows(windows: Iterable[tuple[int, int]]) -> Windows:
    """Sort and merge offline windows; touching or overlapping windows become one."""
    merged: list[list[int]] = []
    for a, b in sorted(w for w in windows if w[1] > w[0]):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return tuple((a, b) for a, b in merged)


def is_online(windows: Windows, dormant: bool, t: int) -> bool:
    """Whether the client is online at ``t``."""
    if dormant:
        return False
    return not any(a <= t < b for a, b in windows)


def next_checkin(anchor: int, h: int, windows: Windows, dormant: bool, t: int) -> int:
    """The first check-in strictly after ``t`` (``t >= anchor``), or NEVER."""
    if dormant:
        return NEVER
    base = anchor
    for a, b in windows:
        if _skipped(base, h, a, b):
            continue
        if t < a:
            candidate = base + ((t - base) // h + 1) * h
            return candidate if candidate < a else b
        if t < b:
            return b
        base = b  # back online at b: the grid restarts there
    return base + ((t - base) // h + 1) * h


def last_checkin(anchor: int, h: int, windows: Windows, dormant: bool, t: int) -> int:
    """The last check-in at or before ``t`` (``t >= anchor``); ``anchor`` itself counts."""
    if dormant:
        return anchor
    base = anchor
    for a, b in windows:
        if _skipped(base, h, a, b):
            continue
        if t < a:
            break
        if t < b:
            # Offline now: the last grid point before the window started (base < a always holds).
            return base + ((a - 1 - base) // h) * h
        base = b
    return base + ((t - base) // h) * h


def count_checkins(anchor: int, h: int, windows: Windows, dormant: bool, *, since: int, until: int) -> int:
    """How many check-ins fall in ``(since, until]`` (``anchor <= since``)."""
    if dormant or until <= since:
        return 0
    return _index(anchor, h, windows, until) - _index(anchor, h, windows, since)


def _index(anchor: int, h: int, windows: Windows, t: int) -> int:
    """Number of check-ins in ``(anchor, t]``."""
    total = 0
    base = anchor
    for a, b in windows:
        if _skipped(base, h, a, b):
            continue
        if t < a:
            break
        # Grid points in (base, a), then the return at b if it is not later than t.
        total += (a - 1 - base) // h
        if t < b:
            return total
        total += 1
        base = b
    return total + (t - base) // h


def _skipped(base: int, h: int, a: int, b: int) -> bool:
    """Whether the window ``[a, b)`` leaves the grid from ``base`` alone: it is over already, or no
    grid point falls inside it (the first one at or after ``a`` is at or after ``b``)."""
    if b <= base:
        return True
    first_at_or_after_a = base + -((base - a) // h) * h
    return first_at_or_after_a >= b
