"""The scalar field types of a desired state: durations, poll intervals, counts, ports, names, URLs.

Contract: each type is an ``Annotated`` pydantic type whose validator raises ``ValueError`` with a
message that says what was expected and what was given, so the loader can report it as
``file:line: field: message``. Durations are written ``90s``, ``5m``, ``24h``, ``7d`` (or a bare number of
seconds) and held as whole seconds; poll intervals may also be written in ``ms``.

Numbers are taken as written, never coerced: ``true`` is not 1, ``3.0`` is not a count, ``"8446"`` is
not a port (pydantic's lax mode would accept all three). A number that is not finite (``.inf``,
``.nan``) is never a duration or an interval, and every duration and interval has an upper bound
(`within`), so nothing downstream meets a value it cannot schedule or add to a clock.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, Field

from reconciler.model import agent_versions
from reconciler.model.fingerprint import normalize_fingerprint

MINUTE, HOUR, DAY = 60, 3600, 86400

_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w)?\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}
_MAX_DIGITS = 15
"""Digits read of a duration: more seconds than any bound by far, and int() of them is cheap."""
_EXPECTED = "expected a duration such as 30s, 5m, 24h or 7d"


def parse_duration(value: object) -> int:
    """``90s`` / ``5m`` / ``24h`` / ``7d`` / ``2w`` / ``300`` to whole seconds (not bounded: see `within`)."""
    if isinstance(value, bool):
        raise ValueError(_EXPECTED)
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return value
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{_EXPECTED}, got {_yaml_float(value)}, which is not a finite number")
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            digits = match.group(1).lstrip("0") or "0"
            # A longer number is past every bound; say so through the bound rather than convert it.
            number = int(digits) if len(digits) <= _MAX_DIGITS else 10**_MAX_DIGITS
            return number * _UNIT_SECONDS[match.group(2)]
    raise ValueError(f"{_EXPECTED}, got {_shown(value)}")


def within(at_least: float, at_most: float) -> Callable[[float], float]:
    """A validator bounding a duration or an interval (seconds) to ``[at_least, at_most]``."""

    def check(seconds: float) -> float:
        if seconds < at_least:
            raise ValueError(f"must be at least {show_seconds(at_least)}")
        if seconds > at_most:
            raise ValueError(f"must be at most {show_seconds(at_most)}")
        return seconds

    return check


def show_seconds(seconds: float) -> str:
    """Seconds as a desired-state file writes them: ``30d``, ``10m``, ``50ms``, ``0s``."""
    if 0 < seconds < 1:
        return f"{round(seconds * 1000)}ms"
    whole = int(seconds)
    for unit, size in (("d", DAY), ("h", HOUR), ("m", MINUTE)):
        if whole and whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s"


def _yaml_float(value: float) -> str:
    if math.isnan(value):
        return ".nan"
    return ".inf" if value > 0 else "-.inf"


def _shown(value: object) -> str:
    """The value for a message, or only its kind when it is long (a message quotes no essay)."""
    text = repr(value)
    return text if len(text) <= 40 else f"a {type(value).__name__} of {len(text)} characters"


def https_url(value: str) -> str:
    """The API URL, with its port written out.

    The pattern admits any https URL shape; this catches what it cannot (port range, user info). The
    port is required: SEPM serves REST on 8446, not on https's 443, where the same host may answer
    with another service (the clients' port), so a URL without one is a mistake, not a default.
    """
    parts = urlsplit(value)
    if parts.username is not None or parts.password is not None:
        raise ValueError("credentials are not written in the URL: give api.username and api.password")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0 or not parts.hostname:
        raise ValueError("expected an https URL with a host and a port from 1 to 65535")
    if port is None:
        raise ValueError(
            f"give the port explicitly: SEPM's REST API listens on 8446 (https://{parts.hostname}:8446)"
        )
    return value


Duration = Annotated[int, BeforeValidator(parse_duration)]
"""Whole seconds; each field bounds it with `within` and says why beside it."""
Fingerprint = Annotated[str, AfterValidator(normalize_fingerprint)]
Port = Annotated[int, Field(strict=True, ge=1, le=65535)]
Name = Annotated[str, Field(min_length=1, max_length=256)]


def parse_interval(value: object) -> float:
    """A poll interval: any duration, or ``250ms`` for the simulator's fast clocks; at least 50 ms."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(
                f"expected a duration such as 500ms, 30s or 5m, got {_yaml_float(value)}, which is not a "
                "finite number"
            )
        seconds = value
    elif isinstance(value, str) and value.strip().endswith("ms"):
        digits = value.strip()[:-2].strip()
        if not (digits.isascii() and digits.isdigit()):
            raise ValueError(f"expected a duration such as 500ms, 30s or 5m, got {_shown(value)}")
        seconds = int(digits) / 1000 if len(digits) <= _MAX_DIGITS else float(10**_MAX_DIGITS)
    else:
        seconds = float(parse_duration(value))
    if seconds < 0.05:
        raise ValueError("a poll interval shorter than 50ms would flood SEPM")
    return seconds


Interval = Annotated[float, BeforeValidator(parse_interval)]

_ENVIRONMENT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,255}")


def environment_name(value: str) -> str:
    """An environment variable's name in the portable POSIX form.

    The OS refuses names that are empty or hold ``=`` or NUL (``execve`` would fail, and Python raises
    ValueError before it); the portable form also keeps out names a shell or a container runtime
    mangles. The message does not quote the name: it may hold anything, control characters included.
    """
    if not _ENVIRONMENT_NAME.fullmatch(value):
        raise ValueError(
            "expected an environment variable name: letters, digits and '_', not starting with a digit"
        )
    return value


EnvironmentName = Annotated[str, AfterValidator(environment_name)]


def version_pattern(value: object) -> str:
    """A pattern of agent versions that cannot fail over (`reconciler.model.agent_versions`): it may only
    narrow the 14.2 rule, so it must lie inside 14.2."""
    if not isinstance(value, str) or not agent_versions.PATTERN.match(value.strip()):
        raise ValueError(f"expected an agent version pattern such as 14.2.* or 14.2.3332.*, got {value!r}")
    text = value.strip()
    parts = text.split(".")
    family = ".".join(str(n) for n in agent_versions.FAMILY)
    if (
        len(parts) < 2
        or parts[0] == "*"
        or tuple(int(p) for p in parts[:2] if p != "*") != agent_versions.FAMILY
    ):
        raise ValueError(
            f"{text!r} is not inside {family}: this setting only narrows which {family} agents get the "
            f"single-server treatment (every other agent fails over); write patterns such as {family}.*"
        )
    return text


VersionPattern = Annotated[str, BeforeValidator(version_pattern)]
