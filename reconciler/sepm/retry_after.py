"""Reading SEPM's ``Retry-After`` header (how long to wait is `reconciler.backoff`'s business).

Contract: ``Retry-After`` is either delta-seconds or an HTTP date; a date is measured against the
response's own ``Date`` header (SEPM's clock), never against ours. Anything unreadable is None, and the
caller falls back to its own back-off.
"""

from __future__ import annotations

from reconciler.sepm.clock import parse_http_date_ms


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
    if text.isascii() and text.isdigit():  # isdigit alone admits "²", which float() refuses
        return float(text)
    until_ms = parse_http_date_ms(text)
    now_ms = parse_http_date_ms(date_header)
    if until_ms is None or now_ms is None:
        return None
    return max(0.0, (until_ms - now_ms) / 1000)
