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
    base, _passed, window = _walk(anchor, h, windows, t)
    following = base + ((t - base) // h + 1) * h
    if window is not None and following >= window[0]:
        return window[1]  # offline at the next grid point (or already): back online at b
    return following


def last_checkin(anchor: int, h: int, windows: Windows, dormant: bool, t: int) -> int:
    """The last check-in at or before ``t`` (``t >= anchor``); ``anchor`` itself counts."""
    if dormant:
        return anchor
    base, _passed, window = _walk(anchor, h, windows, t)
    # Offline now: the last grid point before the window started (base < a always holds).
    online_until = t if window is None else min(t, window[0] - 1)
    return base + ((online_until - base) // h) * h


def count_checkins(anchor: int, h: int, windows: Windows, dormant: bool, *, since: int, until: int) -> int:
    """How many check-ins fall in ``(since, until]`` (``anchor <= since``)."""
    if dormant or until <= since:
        return 0
    return _index(anchor, h, windows, until) - _index(anchor, h, windows, since)


def _index(anchor: int, h: int, windows: Windows, t: int) -> int:
    """Number of check-ins in ``(anchor, t]``."""
    base, passed, window = _walk(anchor, h, windows, t)
    online_until = t if window is None else min(t, window[0] - 1)
    return passed + (online_until - base) // h


def _walk(anchor: int, h: int, windows: Windows, t: int) -> tuple[int, int, tuple[int, int] | None]:
    """Follow the grid from ``anchor`` up to ``t``, across the windows the client has come back from.

    Returns ``(base, passed, window)``: ``base`` is where the grid in force at ``t`` starts (the anchor,
    or the end of the last window the client came back from by ``t``), ``passed`` the number of
    check-ins in ``(anchor, base]``, and ``window`` the first window that still matters at ``t`` (``t``
    is before it or inside it), or None. The three closed forms above are read off this one walk.
    """
    base, passed = anchor, 0
    for window in windows:
        a, b = window
        if _skipped(base, h, a, b):
            continue
        if t < b:
            return base, passed, window
        # Grid points in (base, a), then the return at b, where the grid restarts.
        passed += (a - 1 - base) // h + 1
        base = b
    return base, passed, None


def _skipped(base: int, h: int, a: int, b: int) -> bool:
    """Whether the window ``[a, b)`` leaves the grid from ``base`` alone: it is over already, or no
    grid point falls inside it (the first one at or after ``a`` is at or after ``b``)."""
    if b <= base:
        return True
    first_at_or_after_a = base + -((base - a) // h) * h
    return first_at_or_after_a >= b
