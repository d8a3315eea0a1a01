"""The scalar field types of a desired state: durations, poll intervals, ports, names, fingerprints, URLs.

Contract: each type is an ``Annotated`` pydantic type whose validator raises ``ValueError`` with a
message that says what was expected and what was given, so the loader can report it as
``file:line: field: message``. Durations are written ``90s``, ``5m``, ``24h``, ``7d`` (or a bare number of
seconds) and held as whole seconds; poll intervals may also be written in ``ms``.
"""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, Field

from reconciler.model import agent_versions
from reconciler.model.fingerprint import normalize_fingerprint

_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w)?\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}


def parse_duration(value: object) -> int:
    """``90s`` / ``5m`` / ``24h`` / ``7d`` / ``2w`` / ``300`` to whole seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 5m, 24h or 7d")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return value
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    raise ValueError(f"expected a duration such as 30s, 5m, 24h or 7d, got {value!r}")


def https_url(value: str) -> str:
    # The pattern admits any https URL shape; this catches what it cannot (port range, user info).
    parts = urlsplit(value)
    if parts.username is not None or parts.password is not None:
        raise ValueError("credentials are not written in the URL: give api.username and api.password")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0 or not parts.hostname:
        raise ValueError("expected an https URL with a host and a port from 1 to 65535")
    return value


Duration = Annotated[int, BeforeValidator(parse_duration)]
Fingerprint = Annotated[str, AfterValidator(normalize_fingerprint)]
Port = Annotated[int, Field(ge=1, le=65535)]
Name = Annotated[str, Field(min_length=1, max_length=256)]


def parse_interval(value: object) -> float:
    """A poll interval: any duration, or ``250ms`` for the simulator's fast clocks; at least 50 ms."""
    if isinstance(value, float):
        seconds = value
    elif isinstance(value, str) and value.strip().endswith("ms"):
        digits = value.strip()[:-2].strip()
        if not digits.isdigit():
            raise ValueError(f"expected a duration such as 500ms, 30s or 5m, got {value!r}")
        seconds = int(digits) / 1000
    else:
        seconds = float(parse_duration(value))
    if seconds < 0.05:
        raise ValueError("a poll interval shorter than 50ms would flood SEPM")
    return seconds


Interval = Annotated[float, BeforeValidator(parse_interval)]


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
