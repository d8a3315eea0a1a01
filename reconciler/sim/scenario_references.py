"""Cross-references of a scenario: the rules that span fields, checked once every field is valid.

Pydantic validates each field on its own; what it cannot see is checked here, in this order, and the
first failure is raised:
- names are unique: servers, MSLs, the servers of one MSL, group paths, the locations of one group
  (``Default`` included);
- the first group is the root (``My Company``), does not inherit, and has complete settings, so that
  every other group's omitted settings have something to be copied from;
- every group comes after its parent;
- references resolve: MSL entries name servers, settings name MSLs, client populations name groups
  and their locations, ``generate`` names an MSL;
- every version of ``fails_over_after_certificate_failure`` looks like a version and is run by some
  client of the site (``Scenario.agent_versions``), so that a typo cannot silently mean "fails over".

A failure is a ``CrossReferenceError`` carrying the path of the field it is about (pydantic only
knows the whole model), so that ``reconciler.sim.scenario_files`` can name the file, line and field.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from reconciler.sim.group_paths import ROOT_GROUP, parent_path

if TYPE_CHECKING:
    from reconciler.sim.scenario import Scenario, SettingsSpec

FieldPath = tuple[str | int, ...]
_VERSION = re.compile(r"^\d+\.\d+\.\d+\.\d+$")


class CrossReferenceError(ValueError):
    """A cross-reference error, with the field it is about."""

    def __init__(self, loc: FieldPath, message: str) -> None:
        super().__init__(f"{'.'.join(str(p) for p in loc)}: {message}")
        self.loc = loc
        self.message = message


def check_references(s: Scenario) -> None:
    """Raise CrossReferenceError at the first rule the scenario breaks (rules: module docstring)."""
    servers = [srv.name for srv in s.servers]
    _unique(("servers",), servers)
    msls = [m.name for m in s.msls]
    _unique(("msls",), msls)
    for i, m in enumerate(s.msls):
        for j, entry in enumerate(m.entries):
            if entry.server not in servers:
                raise CrossReferenceError(
                    ("msls", i, "entries", j, "server"), f"unknown server {entry.server!r}"
                )
        _unique(("msls", i, "entries"), [e.server for e in m.entries])
    paths = [g.path for g in s.groups]
    _unique(("groups",), paths)
    root = s.groups[0]
    settings = root.settings
    if (
        root.path != ROOT_GROUP
        or root.inherits
        or settings is None
        or None
        in (
            settings.msl,
            settings.secure_communications,
            settings.heartbeat_seconds,
            settings.mode,
        )
    ):
        raise CrossReferenceError(
            ("groups", 0), f"the first group must be {ROOT_GROUP!r}, not inheriting, with complete settings"
        )
    seen: set[str] = set()
    for i, g in enumerate(s.groups):
        parent = parent_path(g.path)
        if i and parent not in seen:
            raise CrossReferenceError(
                ("groups", i, "path"), f"{g.path!r} comes before its parent (or has none)"
            )
        seen.add(g.path)
        _unique(("groups", i, "locations"), ["Default", *(loc.name for loc in g.locations)])
        where: list[tuple[FieldPath, SettingsSpec | None]] = [(("groups", i, "settings"), g.settings)]
        where += [
            (("groups", i, "locations", k, "settings"), loc.settings) for k, loc in enumerate(g.locations)
        ]
        for loc_path, spec in where:
            if spec is not None and spec.msl is not None and spec.msl not in msls:
                raise CrossReferenceError((*loc_path, "msl"), f"unknown MSL {spec.msl!r}")
    locations = {g.path: {"Default", *(loc.name for loc in g.locations)} for g in s.groups}
    for i, pop in enumerate(s.clients):
        if pop.group not in locations:
            raise CrossReferenceError(("clients", i, "group"), f"unknown group {pop.group!r}")
        if pop.location is not None and pop.location not in locations[pop.group]:
            raise CrossReferenceError(("clients", i, "location"), f"unknown location {pop.location!r}")
    if s.generate is not None and s.generate.msl not in msls:
        raise CrossReferenceError(("generate", "msl"), f"unknown MSL {s.generate.msl!r}")
    running = s.agent_versions()
    for version in s.fails_over_after_certificate_failure:
        loc = ("fails_over_after_certificate_failure", version)
        try:
            check_version(version)
        except ValueError as exc:
            raise CrossReferenceError(loc, str(exc)) from None
        if version not in running:
            raise CrossReferenceError(loc, f"no client of the site runs agent version {version!r}")


def _unique(loc: FieldPath, names: list[str]) -> None:
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise CrossReferenceError(loc, f"duplicate names: {', '.join(dupes)}")


def check_version(version: str) -> None:
    """Raise ValueError unless ``version`` looks like SEPM's ``major.minor.build.revision``."""
    if not _VERSION.match(version):
        raise ValueError(f"agent version {version!r} is not like 14.3.9816.7000")
