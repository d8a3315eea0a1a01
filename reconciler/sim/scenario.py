"""Scenarios: the schema of the YAML description of a simulated SEPM site.

A scenario names the site, the admin account, the servers (nominal ports; optional fixed loopback ports
to listen on), the Management Server Lists, the group tree under ``My Company`` with its communication
settings and locations, and the client populations of each group. ``generate`` adds a large synthetic
tree (benchmarks). Certificates are never in a scenario: each server gets a fresh 2048-bit RSA
self-signed certificate when the site starts. Neither is the admin password unless the scenario fixes
one (tests); otherwise the site generates it.

Whether clients fail over is the scenario's truth, never derived from their version:
``fails_over_after_certificate_failure`` maps agent versions (spelled as the populations spell them) to
whether their clients try the next server of their list after a certificate failure (``false``: the
check-in stops there, as 14.2 agents do). A version not listed fails over. Every version listed must be
run by some client (populations, or ``generate``: ``GENERATED_OLD_VERSION``, ``GENERATED_NEWER_VERSIONS``),
so that a typo is an error rather than a silent "fails over". The simulator knows no rule of its own
here on purpose: a test can give it a truth the controller does not know.

Validation is strict: unknown fields are errors, every model is frozen, and the rules that span fields
(unique names, references that resolve, the root group first) run once the fields are valid
(``reconciler.sim.scenario_references``). Reading files, shipped names and ``file:line: field`` errors
live in ``reconciler.sim.scenario_files``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StrictBool, model_validator

from reconciler.sim.scenario_references import check_references, check_version

# The agent versions ``generate`` gives its clients: the old one to a ``legacy_share`` of its groups,
# the newer ones, alternately, to the others.
GENERATED_OLD_VERSION = "14.2.1031.0100"  # 14.2 MP1
GENERATED_NEWER_VERSIONS = ("14.3.9816.7000", "14.3.8259.5000")


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
            check_version(version)
        total = sum(self.versions.values())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"version shares must add up to 1 (they add up to {total:g})")
        return self


class GenerateSpec(_Strict):
    """A synthetic tree under My Company: ``groups`` groups, ``clients`` clients spread evenly; a
    ``legacy_share`` of the groups run ``GENERATED_OLD_VERSION`` (whether those clients fail over is the
    scenario's ``fails_over_after_certificate_failure``, as for any version)."""

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
    fails_over_after_certificate_failure: dict[str, StrictBool] = {}

    @model_validator(mode="after")
    def _references(self) -> Scenario:
        check_references(self)
        return self

    def fails_over(self, agent_version: str) -> bool:
        """Whether clients of this agent version try their next server after a certificate failure."""
        return self.fails_over_after_certificate_failure.get(agent_version, True)

    def agent_versions(self) -> set[str]:
        """Every agent version some client of the site may run (populations and ``generate``)."""
        versions = {version for pop in self.clients for version in pop.versions}
        if self.generate is not None:
            versions.update(GENERATED_NEWER_VERSIONS)
            if self.generate.legacy_share > 0:
                versions.add(GENERATED_OLD_VERSION)
        return versions
