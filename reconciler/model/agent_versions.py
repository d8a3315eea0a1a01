"""Which agents cannot take the multi-server method: the 14.2 rule, as version patterns.

The source procedure says clients of version **14.2** cannot use the multi-server method (a change in
their communication module: after a certificate failure they do not fail over). It names the version
family, not a build. SEPM reports agent versions as ``major.minor.build.revision``, where the revision
names the release (``.0000`` base, ``.0100`` MP1, ``.1000`` RU1, ``.2000`` RU2, ...): 14.2 RU1 is
``14.2.3332.1000``, 14.2 RU2 ``14.2.5323.2000``. So every ``14.2.*`` agent is affected by default.

Contract:
- A **pattern** is dotted numbers, each component a number or ``*``; a ``*`` at the end matches any
  number of further components (none included), elsewhere exactly one. Numbers compare as numbers
  (``0100`` is ``100``). ``14.2.*`` is the default; a site that knows better narrows it to patterns
  inside ``14.2`` (``14.2.758.*``), validated by the desired state (`reconciler.desired.fields`).
- An agent version that is not dotted numbers matches every pattern: the single-server method is safe
  for any client, the multi-server one orphans a client that cannot fail over.
- The cost of a false match is one short insecure window for that client's group; the cost of a miss is
  orphaned clients. Every rule here errs towards the match.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

NO_FAILOVER_DEFAULT: tuple[str, ...] = ("14.2.*",)
"""Agents that do not fail over after a certificate failure, unless a site's desired state says less."""

FAMILY = (14, 2)
"""The family a site may narrow within: patterns must start ``14.2``."""

PATTERN = re.compile(r"^\d+(\.(\d+|\*))*$")


def parse_version(agent_version: str) -> tuple[int, ...] | None:
    """``14.2.3332.1000`` as numbers, or None when it is not dotted numbers."""
    text = agent_version.strip()
    if not re.fullmatch(r"\d+(\.\d+)*", text):
        return None
    return tuple(int(part) for part in text.split("."))


def matches(agent_version: str, pattern: str) -> bool:
    """Whether ``agent_version`` is covered by ``pattern`` (see the module docstring)."""
    version = parse_version(agent_version)
    if version is None:
        return True
    parts = pattern.split(".")
    for index, part in enumerate(parts):
        if part == "*" and index == len(parts) - 1:
            return True
        if index >= len(version):
            return False
        if part != "*" and int(part) != version[index]:
            return False
    return len(version) == len(parts)


def cannot_fail_over(agent_version: str, patterns: Iterable[str]) -> bool:
    """True for an agent that must get the single-server treatment (it matches one of ``patterns``)."""
    return any(matches(agent_version, pattern) for pattern in patterns)
