"""Immutable snapshot of one SEPM site, as observed through REST and TLS at one SEPM server time.

Contract:
- A snapshot is complete or it does not exist. The observer builds one only when every page, every
  location and every TLS port answered; there is no "partial" flag because there are no partial
  snapshots (DESIGN.md, Observation).
- Times are SEPM's epoch milliseconds. ``server_time`` is SEPM's clock at the moment of the snapshot,
  and all gate arithmetic is done against it, never against the controller's clock.
- Fingerprints are canonical (`reconciler.model.fingerprint`).
- ``Observed.model_dump_json()`` / ``Observed.model_validate_json()`` are the saved form that
  ``sepm-reconciler plan --observed`` reads, so a snapshot can be planned offline.
- A snapshot may carry its clients' columns (``reconciler.model.client_columns``), which the observer
  builds as it reads: a derived cache, not part of what the snapshot says. It is not saved, it takes no
  part in equality, and ``client_columns()`` hands it out only for the clients it was built from.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from reconciler.model.client_columns import ClientColumns
from reconciler.model.patched_tuple import PatchedTuple

PortKind = Literal["https", "console", "rest"]
"""The TLS ports on which a SEPM presents its server certificate: clients, console/replication, REST."""

PORT_KINDS: tuple[PortKind, ...] = ("https", "console", "rest")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PresentedCertificate(_Frozen):
    """The certificate one server presented on one TLS port."""

    sha256: str
    subject: str
    not_after: int = Field(description="epoch ms")
    key_type: str = Field(description='"RSA", "EC", ...')
    key_bits: int
    pem: str = Field(default="", description="the certificate itself, so a client can pin it")


class ObservedServer(_Frozen):
    """One management server and the certificate it presents on each port."""

    name: str
    address: str
    ports: dict[PortKind, int]
    certificates: dict[PortKind, PresentedCertificate]

    def presented_fingerprints(self) -> set[str]:
        """Every distinct fingerprint this server presents (more than one means the ports disagree)."""
        return {c.sha256 for c in self.certificates.values()}


class ObservedLocation(_Frozen):
    """A location of a group with the communication settings SEPM reports for it.

    ``uses_group_settings`` is False for a location that carries communication settings of its own
    (Broadcom: "assign to all groups *and locations*"). The group-level settings live on the group's
    default location.
    """

    id: str
    name: str
    is_default: bool
    uses_group_settings: bool
    management_server_list: str
    secure_communications: bool
    heartbeat_interval: int = Field(description="pull_mode_heartbeat_freq_in_seconds")
    mode: Literal["PULL", "PUSH"]


class ObservedGroup(_Frozen):
    """A client group. ``inherits`` groups take policies and settings from their parent."""

    id: str
    full_path: str = Field(description=r"My Company\Sales\EMEA")
    inherits: bool
    policy_serial: str
    locations: tuple[ObservedLocation, ...]

    @property
    def parent_path(self) -> str | None:
        """Full path of the parent group, derived from ``full_path`` (SEPM gives no parent id)."""
        head, sep, _ = self.full_path.rpartition("\\")
        return head if sep else None

    def default_location(self) -> ObservedLocation | None:
        return next((loc for loc in self.locations if loc.is_default), None)


class ObservedClient(_Frozen):
    """A managed computer and its last check-in evidence."""

    id: str
    name: str
    group_id: str
    agent_version: str
    last_update_time: int = Field(description="epoch ms of the last check-in")
    profile_serial: str
    online: bool
    last_server: str = ""

    def model_post_init(self, context: Any, /) -> None:
        # Memory, not behaviour: pydantic gives each instance its own set of the fields it was given,
        # some 700 bytes for these eight (more than the rest of the instance), and a snapshot holds
        # 100,000 clients, nearly all given every field. They share one set instead; pydantic copies
        # it before it would change it (model_copy), and a frozen model changes no field.
        if self.__pydantic_fields_set__ == _EVERY_CLIENT_FIELD:
            object.__setattr__(self, "__pydantic_fields_set__", _EVERY_CLIENT_FIELD)


_EVERY_CLIENT_FIELD: set[str] = set(ObservedClient.model_fields)


class Observed(_Frozen):  # noqa: PLW1641 - pydantic hashes a frozen model by its fields
    """A complete observation of one site."""

    site: str
    server_time: int = Field(description="SEPM epoch ms when the snapshot was taken")
    version: str = ""
    servers: tuple[ObservedServer, ...]
    groups: tuple[ObservedGroup, ...]
    clients: PatchedTuple[ObservedClient]
    """Sorted by id when the observer made them; read it as a tuple (``reconciler.model.patched_tuple``)."""
    _client_columns: ClientColumns | None = PrivateAttr(default=None)

    def __eq__(self, other: object) -> bool:
        # The columns are derived from the clients: two snapshots that say the same are equal.
        if not isinstance(other, Observed):
            return NotImplemented
        return self.__dict__ == other.__dict__

    def with_client_columns(self, columns: ClientColumns) -> Observed:
        """This snapshot, carrying ``columns`` (built for exactly ``self.clients``; ValueError if not)."""
        if columns.clients is not self.clients:
            raise ValueError("client columns belong to other clients than this snapshot's")
        self._client_columns = columns
        return self

    def client_columns(self) -> ClientColumns | None:
        """The clients' columns, if the observer built them for these very clients (else None)."""
        columns = self._client_columns
        return columns if columns is not None and columns.clients is self.clients else None

    def server(self, name: str) -> ObservedServer | None:
        return next((s for s in self.servers if s.name == name), None)

    def groups_by_id(self) -> Mapping[str, ObservedGroup]:
        return {g.id: g for g in self.groups}

    def groups_by_path(self) -> Mapping[str, ObservedGroup]:
        return {g.full_path.lower(): g for g in self.groups}

    def settings_source(self, group: ObservedGroup) -> ObservedGroup:
        """The nearest group at or above ``group`` that does not inherit: the one whose settings apply.

        The root never inherits. A path whose parent is missing from the snapshot is treated as its own
        source (the observer refuses such snapshots, so this only guards hand-written ones).
        """
        return _settings_source(group, self.groups_by_path())

    def settings_sources(self) -> Mapping[str, ObservedGroup]:
        """Group id -> `settings_source` of that group, for every group (the path index built once)."""
        by_path = self.groups_by_path()
        return {g.id: _settings_source(g, by_path) for g in self.groups}

    def iter_locations(self) -> Iterator[tuple[ObservedGroup, ObservedLocation]]:
        for group in self.groups:
            for location in group.locations:
                yield group, location


def _settings_source(group: ObservedGroup, by_path: Mapping[str, ObservedGroup]) -> ObservedGroup:
    current = group
    while current.inherits:
        parent_path = current.parent_path
        parent = by_path.get(parent_path.lower()) if parent_path else None
        if parent is None:
            return current
        current = parent
    return current
