"""SEPM policy serial numbers: ``<first 4 hex of group id>-<MM/dd/yyyy HH:mm:ss> <ms>``.

A client holds its group's current policy when its ``profileSerialNo`` equals the group's
``policySerialNumber``, so a serial must change at every bump, even two bumps within one simulated
millisecond: ``next_serial_ms`` moves the stamp one millisecond past the previous one in that case
(SEPM's own serials are time stamps too; a logical millisecond keeps them strictly increasing). Times
are formatted in UTC.
"""

from __future__ import annotations

import datetime as dt


def format_serial(group_id: str, at_ms: int) -> str:
    """The serial SEPM would show for a policy of ``group_id`` stamped at ``at_ms``."""
    stamp = dt.datetime.fromtimestamp(at_ms / 1000, tz=dt.UTC)
    return f"{group_id[:4].upper()}-{stamp:%m/%d/%Y %H:%M:%S} {at_ms % 1000:03d}"


def next_serial_ms(previous_ms: int, now_ms: int) -> int:
    """The stamp of the next bump: now, or one millisecond after the previous bump if that is later."""
    return max(now_ms, previous_ms + 1)
