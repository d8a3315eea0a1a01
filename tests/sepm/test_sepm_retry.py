"""The reading of Retry-After against SEPM's own clock."""

from __future__ import annotations

import pytest

from reconciler.sepm.retry_after import parse_retry_after

DATE = "Sat, 29 Nov 2025 18:20:00 GMT"


@pytest.mark.parametrize(
    ("value", "date", "expected"),
    [
        pytest.param("7", None, 7.0, id="delta-seconds"),
        pytest.param(" 120 ", None, 120.0, id="spaces"),
        pytest.param(None, None, None, id="absent"),
        pytest.param("", DATE, None, id="empty"),
        pytest.param("soon", DATE, None, id="garbage"),
        pytest.param("Sat, 29 Nov 2025 18:20:30 GMT", DATE, 30.0, id="http-date-vs-sepm-date"),
        pytest.param("Sat, 29 Nov 2025 18:19:00 GMT", DATE, 0.0, id="date-in-the-past"),
        pytest.param("Sat, 29 Nov 2025 18:20:30 GMT", None, None, id="date-without-sepm-date"),
    ],
)
def test_retry_after_is_read_against_sepms_clock(value, date, expected):
    """Retry-After is delta-seconds or an HTTP date measured against the response's own Date."""
    assert parse_retry_after(value, date_header=date) == expected
