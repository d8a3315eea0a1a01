"""Immutable snapshots of the simulated site that the engine hands to the REST and console layers.

Views are copies: holding one never blocks the engine, and changing the site never changes a view
already handed out. Times are epoch milliseconds of the simulated clock. Ids are 32 upper-case hex
digits like SEPM's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, NamedTuple

PortKind = Literal["https", "http", "console", "rest"]
TLS_PORT_KINDS: tuple[str, ...] = ("https", "console", "rest")


@dataclass(frozen=True)
class ServerView:
    """One management server: its nominal ports, current certificate and reachability.

    ``ports`` are the ports SEPM is configured with (443, 8014 or the site's custom HTTP port, 8443,
    8446): what MSL entries carry. ``listen_ports`` are the loopback ports the simulator should bind
    (0 = any free port). ``port_cert_pem`` is what each TLS port presents: the current certificate,
    except under the corrupted-certificate fault; ``port_key_pem`` holds the matching private keys.
    """

    name: str
    address: str
    ports: dict[str, int]
    cert_pem: bytes = field(repr=False)
    key_pem: bytes = field(repr=False)
    port_cert_pem: dict[str, bytes] = field(repr=False)
    down: bool
    id: str = ""
    listen_ports: dict[str, int] = field(default_factory=dict)
    fingerprint: str = ""
    port_key_pem: dict[str, bytes] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class GroupView:
    """A client group as SEPM's ``groups`` endpoint describes it."""

    id: str
    name: str
    full_path: str
    inherits: bool
    policy_serial: str
    policy_date_ms: int
    default_location_id: str
    created_ms: int
    last_modified_ms: int
    computers: int
    description: str
    parent_id: str | None = None


@dataclass(frozen=True)
class LocationView:
    """A location of a group (every group has "Default")."""

    id: str
    name: str
    group_id: str


@dataclass(frozen=True)
class LocationSettingsView:
    """The effective communication settings of one location."""

    msl: str
    secure_communications: bool
    heartbeat_seconds: int
    mode: Literal["PULL", "PUSH"]
    uses_group_settings: bool


@dataclass(frozen=True)
class ComputerView:
    """One client as SEPM's ``computers`` endpoint describes it."""

    id: str
    name: str
    group_id: str
    group_full_path: str
    agent_version: str
    online: bool
    last_update_ms: int
    profile_serial: str
    last_server_name: str
    last_server_id: str
    ip: str
    os_name: str
    location_id: str = ""
    hardware_key: str = ""
    mac_address: str = ""
    creation_time_ms: int = 0
    agent_timestamp_ms: int = 0
    os_version: str = ""
    last_site_name: str = ""
    domain_or_workgroup: str = "WORKGROUP"
    logon_user: str = ""


class MslEntry(NamedTuple):
    """One server of a Management Server List: which server, its priority (1 first) and port."""

    server: str
    priority: int
    port: int


@dataclass(frozen=True)
class MslView:
    """A Management Server List: protocol and prioritised servers (REST cannot see these)."""

    name: str
    protocol: Literal["https", "http"]
    entries: tuple[MslEntry, ...]
    assigned_to: tuple[str, ...] = ()
