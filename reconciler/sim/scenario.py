"""Scenarios: the YAML description of a simulated SEPM site, validated strictly.

A scenario names the site, the admin account, the servers (nominal ports; optional fixed loopback ports
to listen on), the Management Server Lists, the group tree under ``My Company`` with its communication
settings and locations, and the client populations of each group. ``generate`` adds a large synthetic
tree (benchmarks). Certificates are never in a scenario: each server gets a fresh 2048-bit RSA
self-signed certificate when the site starts. Neither is the admin password unless the scenario fixes
one (tests); otherwise the site generates it.

Validation is strict (unknown fields are errors) and an error names the file, the line when it can be
found and the field: ``single-server.yaml:14: groups.2.settings.msl: unknown MSL 'Nope'``.

Shipped scenarios live in ``reconciler/sim/scenarios/<name>.yaml``; ``load_scenario`` takes such a name
or a path.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

ROOT_GROUP = "My Company"
PATH_SEPARATOR = "\\"
_VERSION = re.compile(r"^\d+\.\d+\.\d+\.\d+$")


class ScenarioError(ValueError):
    """A scenario file is unreadable or invalid; the message names the file, line and field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Ports(_Strict):
    """The ports SEPM is configured with: what MSL entries carry (not where the simulator listens)."""

    https: int = Field(443, ge=1, le=65535)
    http: int = Field(8014, ge=1, le=65535)
    console: int = Field(8443, ge=1, le=65535)
    rest: int = Field(8446, ge=1, le=65535)


class ListenPorts(_Strict):
    """Fixed loopback ports to bind; absent or 0 means any free port."""

    https: int = Field(0, ge=0, le=65535)
    http: int = Field(0, ge=0, le=65535)
    console: int = Field(0, ge=0, le=65535)
    rest: int = Field(0, ge=0, le=65535)


class ServerSpec(_Strict):
    name: str = Field(min_length=1)
    address: str = "127.0.0.1"
    ports: Ports = Ports()
    listen: ListenPorts = ListenPorts()


class MslEntrySpec(_Strict):
    server: str
    priority: int = Field(1, ge=1, le=64)
    http_port: int | None = Field(None, ge=1, le=65535)


class MslSpec(_Strict):
    name: str = Field(min_length=1)
    protocol: Literal["https", "http"] = "https"
    entries: list[MslEntrySpec] = Field(min_length=1)


class SettingsSpec(_Strict):
    """Communication settings; omitted fields are copied from the parent group's effective settings."""

    msl: str | None = None
    secure_communications: bool | None = None
    heartbeat_seconds: int | None = Field(None, ge=10, le=86400)
    mode: Literal["PULL", "PUSH"] | None = None


class LocationSpec(_Strict):
    name: str = Field(min_length=1)
    uses_group_settings: bool = False
    settings: SettingsSpec | None = None

    @model_validator(mode="after")
    def _own_or_group(self) -> LocationSpec:
        if self.uses_group_settings and self.settings is not None:
            raise ValueError("a location either uses the group's settings or has its own, not both")
        return self


class GroupSpec(_Strict):
    path: str = Field(min_length=1)
    inherits: bool = False
    description: str = ""
    settings: SettingsSpec | None = None
    locations: list[LocationSpec] = []

    @model_validator(mode="after")
    def _inheriting_has_no_settings(self) -> GroupSpec:
        if self.inherits and (self.settings is not None or any(loc.settings for loc in self.locations)):
            raise ValueError("an inheriting group takes its parent's settings; drop 'settings'")
        return self


class OfflineWindow(_Strict):
    """Offline between these simulated seconds after start (online before and after)."""

    from_seconds: int = Field(ge=0)
    to_seconds: int = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> OfflineWindow:
        if self.to_seconds <= self.from_seconds:
            raise ValueError("to_seconds must be after from_seconds")
        return self


class OfflineSchedule(_Strict):
    offline: OfflineWindow


class DormantSchedule(_Strict):
    """Never checks in during the simulation; the last check-in was this many days before start."""

    dormant_days: float = Field(gt=0)


class RandomWindows(_Strict):
    """A share of the population is offline at seeded random windows within the horizon."""

    share: float = Field(gt=0, le=1)
    windows: int = Field(1, ge=1, le=20)
    min_seconds: int = Field(600, ge=1)
    max_seconds: int = Field(7200, ge=1)
    horizon_seconds: int = Field(86400, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> RandomWindows:
        if self.max_seconds < self.min_seconds:
            raise ValueError("max_seconds must be at least min_seconds")
        return self


class RandomSchedule(_Strict):
    random: RandomWindows


Schedule = Literal["always"] | OfflineSchedule | DormantSchedule | RandomSchedule


class PopulationSpec(_Strict):
    group: str
    location: str | None = None
    count: int = Field(ge=1, le=1_000_000)
    versions: dict[str, Annotated[float, Field(gt=0)]] = Field(min_length=1)
    schedule: Schedule = "always"
    name_prefix: str | None = None

    @model_validator(mode="after")
    def _versions(self) -> PopulationSpec:
        for version in self.versions:
            if not _VERSION.match(version):
                raise ValueError(f"agent version {version!r} is not like 14.3.9816.7000")
        total = sum(self.versions.values())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"version shares must add up to 1 (they add up to {total:g})")
        return self


class GenerateSpec(_Strict):
    """A synthetic tree under My Company: ``groups`` groups, ``clients`` clients spread evenly."""

    groups: int = Field(ge=1, le=100_000)
    clients: int = Field(ge=0, le=2_000_000)
    depth: int = Field(3, ge=1, le=10)
    inherit_share: float = Field(0.3, ge=0, le=1)
    legacy_share: float = Field(0.05, ge=0, le=1)
    msl: str
    heartbeats_seconds: list[Annotated[int, Field(ge=10, le=86400)]] = Field([300], min_length=1)
    schedule: Schedule = "always"


class AdminSpec(_Strict):
    username: str = Field("admin", min_length=1)
    password: SecretStr | None = None


class ReplicationPartnerSpec(_Strict):
    name: str = Field(min_length=1)
    location: str = ""


class Scenario(_Strict):
    site: str = Field(min_length=1)
    description: str = ""
    version: str = "14.3.9816.7000"
    domain: str = "Default"
    admin: AdminSpec = AdminSpec()
    servers: list[ServerSpec] = Field(min_length=1)
    msls: list[MslSpec] = Field(min_length=1)
    groups: list[GroupSpec] = Field(min_length=1)
    clients: list[PopulationSpec] = []
    generate: GenerateSpec | None = None
    replication_partners: list[ReplicationPartnerSpec] = []

    @model_validator(mode="after")
    def _references(self) -> Scenario:
        _check_references(self)
        return self


class _ReferenceError(ValueError):
    """A cross-reference error, with the field it is about (pydantic only knows the whole model)."""

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(f"{'.'.join(str(p) for p in loc)}: {message}")
        self.loc = loc
        self.message = message


def _check_references(s: Scenario) -> None:
    servers = [srv.name for srv in s.servers]
    _unique(("servers",), servers)
    msls = [m.name for m in s.msls]
    _unique(("msls",), msls)
    for i, m in enumerate(s.msls):
        for j, entry in enumerate(m.entries):
            if entry.server not in servers:
                raise _ReferenceError(("msls", i, "entries", j, "server"), f"unknown server {entry.server!r}")
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
        raise _ReferenceError(
            ("groups", 0), f"the first group must be {ROOT_GROUP!r}, not inheriting, with complete settings"
        )
    seen: set[str] = set()
    for i, g in enumerate(s.groups):
        parent = parent_path(g.path)
        if i and parent not in seen:
            raise _ReferenceError(("groups", i, "path"), f"{g.path!r} comes before its parent (or has none)")
        seen.add(g.path)
        _unique(("groups", i, "locations"), ["Default", *(loc.name for loc in g.locations)])
        where: list[tuple[tuple[str | int, ...], SettingsSpec | None]] = [
            (("groups", i, "settings"), g.settings)
        ]
        where += [
            (("groups", i, "locations", k, "settings"), loc.settings) for k, loc in enumerate(g.locations)
        ]
        for loc_path, spec in where:
            if spec is not None and spec.msl is not None and spec.msl not in msls:
                raise _ReferenceError((*loc_path, "msl"), f"unknown MSL {spec.msl!r}")
    locations = {g.path: {"Default", *(loc.name for loc in g.locations)} for g in s.groups}
    for i, pop in enumerate(s.clients):
        if pop.group not in locations:
            raise _ReferenceError(("clients", i, "group"), f"unknown group {pop.group!r}")
        if pop.location is not None and pop.location not in locations[pop.group]:
            raise _ReferenceError(("clients", i, "location"), f"unknown location {pop.location!r}")
    if s.generate is not None and s.generate.msl not in msls:
        raise _ReferenceError(("generate", "msl"), f"unknown MSL {s.generate.msl!r}")


def _unique(loc: tuple[str | int, ...], names: list[str]) -> None:
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise _ReferenceError(loc, f"duplicate names: {', '.join(dupes)}")


def parent_path(path: str) -> str:
    """``My Company\\Sales\\EU`` -> ``My Company\\Sales``; the root's parent is ''."""
    head, sep, _tail = path.rpartition(PATH_SEPARATOR)
    return head if sep else ""


def shipped_scenarios() -> list[str]:
    """Names of the scenarios shipped with the package."""
    folder = resources.files("reconciler.sim") / "scenarios"
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_scenario(name_or_path: str | Path) -> Scenario:
    """A shipped scenario by name, or a scenario file by path; raises ScenarioError."""
    text: str
    label: str
    candidate = Path(name_or_path)
    if isinstance(name_or_path, str) and name_or_path in shipped_scenarios():
        resource = resources.files("reconciler.sim") / "scenarios" / f"{name_or_path}.yaml"
        text, label = resource.read_text(encoding="utf-8"), f"{name_or_path}.yaml"
    elif candidate.is_file():
        text, label = candidate.read_text(encoding="utf-8"), str(candidate)
    else:
        raise ScenarioError(
            f"no scenario {str(name_or_path)!r}: neither a file nor one of {', '.join(shipped_scenarios())}"
        )
    return parse_scenario(text, source=label)


def parse_scenario(text: str, *, source: str = "<scenario>") -> Scenario:
    """Validate scenario YAML text; errors name ``source``, the line and the field."""
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: a scenario is a mapping (site, servers, msls, groups, clients)")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        cause = first.get("ctx", {}).get("error")
        if isinstance(cause, _ReferenceError):
            loc, message = (*loc, *cause.loc), cause.message
        field = ".".join(str(part) for part in loc) or "(top level)"
        line = _line_of(root, loc)
        where = f"{source}:{line}" if line else source
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ScenarioError(f"{where}: {field}: {message}{more}") from None


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the deepest YAML node on the path ``loc``, for error messages."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
        if node is None:
            break
        line = node.start_mark.line + 1
    return line
