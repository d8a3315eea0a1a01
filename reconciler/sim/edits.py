"""Validated edits of the site's configuration: what SEPM would refuse, and what an edit produces.

Each function checks one kind of change against the current Topology and either raises ``Refused``
(HTTP 400; the message says what is wrong and what to do) or returns the new value, without touching
the site. The engine applies the value inside its change protocol (clients played up to the change
first, serials bumped after), so a refused edit never half-happens.
"""

from __future__ import annotations

from typing import Any

from reconciler.sim.certs import CertificateError, fingerprint, validate_pair
from reconciler.sim.errors import Refused
from reconciler.sim.group_paths import PATH_SEPARATOR
from reconciler.sim.topology import Group, Location, Msl, Server, Settings, Topology
from reconciler.sim.views import MslEntry

INHERITING_REFUSAL = "group inherits policies from its parent; disable inheritance first"
MIN_HEARTBEAT_S, MAX_HEARTBEAT_S = 10, 86400


def patched_settings(
    topology: Topology,
    group: Group,
    location: Location,
    *,
    msl: str | None,
    secure_communications: bool | None,
    heartbeat_seconds: int | None,
    mode: str | None,
) -> Settings:
    """The location's own settings with the given fields replaced."""
    if group.inherits:
        raise Refused(INHERITING_REFUSAL)
    own = location.own
    if own is None:
        raise Refused(
            f"location {location.name!r} of {group.full_path!r} uses the group's communication settings; "
            "change the group's default location instead"
        )
    if msl is not None and msl not in topology.msls:
        raise Refused(f"unknown management server list {msl!r}")
    if heartbeat_seconds is not None and not MIN_HEARTBEAT_S <= heartbeat_seconds <= MAX_HEARTBEAT_S:
        raise Refused(f"heartbeat of {heartbeat_seconds} s is outside {MIN_HEARTBEAT_S}..{MAX_HEARTBEAT_S}")
    if mode is not None and mode not in ("PULL", "PUSH"):
        raise Refused(f"communication mode must be PULL or PUSH (got {mode!r})")
    return Settings(
        msl if msl is not None else own.msl,
        secure_communications if secure_communications is not None else own.secure_communications,
        heartbeat_seconds if heartbeat_seconds is not None else own.heartbeat_seconds,
        mode if mode is not None else own.mode,
    )


def check_group_patch(group: Group, *, inherits: bool | None, name: str | None) -> None:
    """Refuse inheritance for the root and empty, path-breaking or duplicate names."""
    if inherits and group.parent is None:
        raise Refused("the root group cannot inherit policies")
    if name is not None and name != group.name:
        siblings = group.parent.children if group.parent is not None else []
        if not name.strip() or PATH_SEPARATOR in name or any(s.name == name for s in siblings):
            raise Refused(f"invalid or duplicate group name {name!r}")


def own_settings_after_inheriting(topology: Topology, group: Group) -> list[Settings | None]:
    """What each location of a group that stops inheriting keeps: a copy of what it inherited (SEPM
    copies the parent's policy); locations that used the group's settings keep doing so."""
    return [
        topology.effective(group, loc) if loc.own is not None or loc is group.default_location else None
        for loc in group.locations
    ]


def msl_copy(
    topology: Topology, source: str, new_name: str, *, protocol: str, http_ports: dict[str, int] | None
) -> Msl:
    """A copy of ``source`` (same servers and priorities) with the given protocol and HTTP ports.

    HTTP ports default to the source entry's port when the source is HTTP already, else to each
    server's configured HTTP port (8014 unless the site customised it).
    """
    src = topology.msl(source)
    if not new_name.strip() or new_name in topology.msls:
        raise Refused(f"a management server list named {new_name!r} exists already (or the name is empty)")
    if protocol not in ("http", "https"):
        raise Refused(f"protocol must be http or https (got {protocol!r})")
    ports = dict(http_ports or {})
    unknown = sorted(set(ports) - {e.server for e in src.entries})
    if unknown:
        raise Refused(f"{source!r} has no server named {', '.join(unknown)}")
    if any(not 1 <= p <= 65535 for p in ports.values()):
        raise Refused("HTTP ports must be within 1..65535")
    entries = []
    for e in src.entries:
        server = topology.servers[e.server]
        if protocol == "https":
            port = server.ports["https"]
        else:
            port = ports.get(e.server, e.port if src.protocol == "http" else server.ports["http"])
        entries.append(MslEntry(e.server, e.priority, port))
    return Msl(new_name, protocol, tuple(entries))


def check_msl_deletable(topology: Topology, name: str) -> None:
    topology.msl(name)
    where = topology.assignments(name)
    if where:
        raise Refused(f"management server list {name!r} is assigned to {', '.join(where[:5])}")


def checked_certificate(server: Server, cert_pem: bytes, key_pem: bytes) -> str:
    """The fingerprint of a certificate the server may take (RSA >= 2048, matching key)."""
    try:
        validate_pair(cert_pem, key_pem)
    except CertificateError as exc:
        raise Refused(f"certificate for {server.name!r} refused: {exc}") from None
    return fingerprint(cert_pem)


def settings_dict(s: Settings) -> dict[str, Any]:
    """Settings as an event's before/after."""
    return {
        "msl": s.msl,
        "secureCommunications": s.secure_communications,
        "heartbeatSeconds": s.heartbeat_seconds,
        "mode": s.mode,
    }
