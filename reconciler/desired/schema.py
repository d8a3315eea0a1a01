"""Schema of one site's desired state (one YAML file per site), validated by pydantic v2.

Contract:
- Every model forbids unknown keys; YAML spells keys in camelCase (``managementServerLists``), Python in
  snake_case.
- Secrets are never values here, only references (``{env: NAME}`` or ``{file: PATH}``); a plain string
  where a secret belongs is an error that says so.
- Scalar fields (durations, intervals, ports, names, fingerprints, the API URL) have their types in
  `reconciler.desired.fields`; fingerprints are held canonical (`reconciler.model.fingerprint`).
  Counts and ports are whole numbers as written (``true`` is not 1). Every duration is bounded where
  it is declared, with the reason beside it: a value out of range is refused, never clamped, since a
  clamped gate is not the gate the security team committed.
- Cross-field rules that need only this file (MSL servers exist, names unique, procedure possible)
  live here; rules that read other files (keystores) live in the loader. A rule that can say which
  item is wrong raises `RuleError` with that item's location, so the loader can point at its line.
- The shared base and secret references (`reconciler.desired.base`) and the actuators
  (`reconciler.desired.actuators`) have their own modules; the names callers use are re-exported here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from reconciler.desired.actuators import ActuatorChoice as ActuatorChoice  # noqa: PLC0414 (re-export)
from reconciler.desired.actuators import Actuators
from reconciler.desired.actuators import CommandActuator as CommandActuator  # noqa: PLC0414 (re-export)
from reconciler.desired.argv import COMMAND_PLACEHOLDERS as COMMAND_PLACEHOLDERS  # noqa: PLC0414 (re-export)
from reconciler.desired.base import RuleError as RuleError  # noqa: PLC0414 (re-export)
from reconciler.desired.base import Secret, StrictModel
from reconciler.desired.base import SecretRef as SecretRef  # noqa: PLC0414 (re-export)
from reconciler.desired.fields import (
    DAY,
    HOUR,
    MINUTE,
    Duration,
    Fingerprint,
    Interval,
    Name,
    Port,
    VersionPattern,
    https_url,
    show_seconds,
    within,
)
from reconciler.model.agent_versions import NO_FAILOVER_DEFAULT


class Api(StrictModel):
    """SEPM's REST API and the account the controller uses (a system administrator)."""

    url: Annotated[str, Field(pattern=r"^https://[^\s/]+(:\d+)?(/.*)?$"), AfterValidator(https_url)]
    username: Name
    password: Secret
    domain: str = ""


class Ports(StrictModel):
    https: Port = 443
    http: Port = 8014
    console: Port = 8443
    rest: Port = 8446


class Keystore(StrictModel):
    """The new certificate and key: PEM (certificate and key in one file) or PKCS#12."""

    path: Name
    format: Literal["pem", "pkcs12"] | None = Field(default=None, description="guessed from the suffix")
    password: Secret | None = None


class Certificate(StrictModel):
    """The certificate a server must present, and the ones it may present on the way there.

    ``previous_sha256`` lists the certificates in service today. The controller trusts the REST port
    only when it presents one of ``previous_sha256`` or ``sha256`` (the REST port presents the very
    certificate being rotated, so there is no CA to check it against), and a server presenting anything
    else blocks the site instead of being rotated.
    """

    sha256: Fingerprint
    previous_sha256: list[Fingerprint] = Field(default_factory=list)
    keystore: Keystore | None = None

    @model_validator(mode="after")
    def _target_is_not_previous(self) -> Certificate:
        # A server presenting it would be both not yet rotated and done: the plan could not tell.
        for index, previous in enumerate(self.previous_sha256):
            if previous == self.sha256:
                raise RuleError(
                    "is the target sha256 itself; previousSha256 lists the certificates in service "
                    "today, which the rotation replaces",
                    loc=("previousSha256", index),
                )
        return self

    @property
    def allowed(self) -> frozenset[str]:
        return frozenset([self.sha256, *self.previous_sha256])


class Server(StrictModel):
    name: Name
    address: Name
    ports: Ports = Ports()
    certificate: Certificate


class ManagementServerList(StrictModel):
    """An MSL the clients use today, its servers in priority order (REST cannot list MSLs)."""

    name: Name
    servers: Annotated[list[Name], Field(min_length=1)]
    http_copy: Name | None = Field(default=None, description="name of its HTTP copy; default '<name> (HTTP)'")

    @property
    def copy_name(self) -> str:
        return self.http_copy or f"{self.name} (HTTP)"

    @property
    def can_fail_over(self) -> bool:
        return len(set(self.servers)) >= 2


MAX_LAGGING_CLIENTS = 100
"""The most clients a gate may leave behind. Each one left behind may be orphaned; the setting is for a
few machines known to be broken, which `status` names. A site with more than this many lagging clients
needs a person to look, and ``proceed --reason`` records that decision; a number as large as the site
would turn the gate into a timer."""


class Gates(StrictModel):
    """What opens a gate (`reconciler.plan.gates`), bounded so that it stays evidence.

    - ``heartbeatCycles`` 1 to 100: a count as written (``true`` is refused). Broadcom asks for three;
      100 cycles of SEPM's default five-minute heartbeat already outlast the longest timeout.
    - ``minimumWait`` 0 to 30d, and ``timeout`` 10m to 30d and longer than ``minimumWait``: with
      ``timeout`` 0 (or not past ``minimumWait``) every gate stalls at once and the only way on is a
      ``proceed`` without evidence; 10m is the least in which three cycles of SEPM's default five-minute
      heartbeat can show. Past 30d a rotation holds a site half-way (secure communications off, for the
      single-server method) for longer than any change window, unnoticed.
    - ``dormantAfter`` 1d to 365d: clients silent for longer are written off (named, not waited for).
      SEPM heartbeats reach 24 hours, so a shorter value would write off clients that are only on a long
      heartbeat; 0 would write off every client and open every gate on no evidence.
    - ``maxLaggingClients`` 0 to `MAX_LAGGING_CLIENTS`.
    """

    heartbeat_cycles: Annotated[int, Field(strict=True, ge=1, le=100)] = 3
    minimum_wait: Annotated[Duration, AfterValidator(within(0, 30 * DAY))] = 0
    dormant_after: Annotated[Duration, AfterValidator(within(DAY, 365 * DAY))] = 7 * DAY
    max_lagging_clients: Annotated[int, Field(strict=True, ge=0, le=MAX_LAGGING_CLIENTS)] = 0
    timeout: Annotated[Duration, AfterValidator(within(10 * MINUTE, 30 * DAY))] = DAY

    @model_validator(mode="after")
    def _can_open_before_its_deadline(self) -> Gates:
        if self.timeout <= self.minimum_wait:
            raise RuleError(
                f"must be longer than minimumWait ({show_seconds(self.minimum_wait)}): the gate could "
                "not open before its deadline",
                loc=("timeout",),
            )
        return self


class Controller(StrictModel):
    """How often the controller re-reads a site when nothing else wakes it (jittered by ±20%)."""

    poll_interval: Annotated[Interval, AfterValidator(within(0.05, HOUR))] = 60.0
    """At most an hour: a gate's evidence, a deadline and drift are only seen when the site is read."""


class DesiredSite(StrictModel):
    """One site's desired state."""

    site: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
    api: Api
    servers: Annotated[list[Server], Field(min_length=1)]
    management_server_lists: Annotated[list[ManagementServerList], Field(min_length=1)]
    procedure: Literal["auto", "single-server", "multi-server"] = "auto"
    no_failover_versions: Annotated[tuple[VersionPattern, ...], Field(min_length=1)] = Field(
        default=NO_FAILOVER_DEFAULT,
        description="agents that do not fail over after a certificate failure: their groups get the "
        "single-server treatment (default: every 14.2 agent; a site may only narrow it)",
    )
    secure_communications_off: tuple[Name, ...] = Field(
        default=(),
        description="groups (full paths, e.g. 'My Company\\Lab') whose locations have secure communications "
        "off as their normal state; anywhere else, secure communications off means a rotation is under way",
    )
    gates: Gates = Gates()
    actuators: Actuators = Field(default_factory=Actuators)
    controller: Controller = Controller()

    @field_validator("servers")
    @classmethod
    def _unique_servers(cls, servers: list[Server]) -> list[Server]:
        _refuse_duplicates("server name", [(s.name, (i, "name")) for i, s in enumerate(servers)])
        fingerprints = [(s.certificate.sha256, (i, "certificate", "sha256")) for i, s in enumerate(servers)]
        _refuse_duplicates("certificate fingerprint", fingerprints)
        return servers

    @field_validator("management_server_lists")
    @classmethod
    def _unique_msls(cls, msls: list[ManagementServerList]) -> list[ManagementServerList]:
        _refuse_duplicates("management server list name", [(m.name, (i, "name")) for i, m in enumerate(msls)])
        names = [(m.name, (i, "name")) for i, m in enumerate(msls)]
        names += [(m.copy_name, (i, "httpCopy" if m.http_copy else "name")) for i, m in enumerate(msls)]
        _refuse_duplicates("management server list or HTTP copy name", names)
        return msls

    @field_validator("secure_communications_off")
    @classmethod
    def _unique_groups(cls, paths: tuple[str, ...]) -> tuple[str, ...]:
        _refuse_duplicates("group", [(p.casefold(), (i,)) for i, p in enumerate(paths)])
        return paths

    @model_validator(mode="after")
    def _consistent(self) -> DesiredSite:
        known = {s.name for s in self.servers}
        for index, msl in enumerate(self.management_server_lists):
            for position, server in enumerate(msl.servers):
                if server not in known:
                    raise RuleError(
                        f"management server list {msl.name!r} names server {server!r}, "
                        f"which is not under servers ({', '.join(sorted(known))})",
                        loc=("managementServerLists", index, "servers", position),
                    )
        if self.procedure == "multi-server" and len(self.servers) < 2:
            raise RuleError("procedure multi-server needs two or more servers", loc=("procedure",))
        update = self.actuators.certificate_update.command
        if update is not None and any("{keystore" in item for item in update.argv):
            for index, declared in enumerate(self.servers):
                if declared.certificate.keystore is None:
                    raise RuleError(
                        f"the certificateUpdate command uses {{keystore}}, but server {declared.name!r} "
                        "declares no certificate.keystore",
                        loc=("servers", index, "certificate"),
                    )
        return self

    def server(self, name: str) -> Server | None:
        return next((s for s in self.servers if s.name == name), None)

    def msl(self, name: str) -> ManagementServerList | None:
        """The MSL named ``name``, or the one whose HTTP copy is named ``name``."""
        for msl in self.management_server_lists:
            if name in (msl.name, msl.copy_name):
                return msl
        return None

    def allowed_fingerprints(self) -> frozenset[str]:
        """Every fingerprint any server of the site may present during a rotation (REST pinning)."""
        return frozenset().union(*(s.certificate.allowed for s in self.servers))

    def digest(self) -> str:
        """SHA-256 of the canonical JSON form: what a rotation is bound to in the journal.

        Fields left at their defaults are not part of it, so a release that adds a setting does not
        change the digest of a desired state (or of a rotation in progress) that does not use it.
        """
        return hashlib.sha256(self.model_dump_json(by_alias=True, exclude_defaults=True).encode()).hexdigest()


def _refuse_duplicates(what: str, values: Sequence[tuple[Any, tuple[str | int, ...]]]) -> None:
    """Raise at the second of two equal values; each value comes with its location below the field."""
    seen: set[Any] = set()
    for value, loc in values:
        if value in seen:
            raise RuleError(f"duplicate {what}: {value!r}", loc=loc)
        seen.add(value)
