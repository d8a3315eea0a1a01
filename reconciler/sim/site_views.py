"""Snapshots of servers, groups and MSLs (``reconciler.sim.views``) from the engine's live objects,
and the replication status payload.

Callers hold the site lock; the views they get are copies that stay valid after it is released.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from reconciler.sim.scenario import ReplicationPartnerSpec
from reconciler.sim.topology import Group, Msl, Server, Topology
from reconciler.sim.views import TLS_PORT_KINDS, GroupView, MslView, ServerView

REPLICATION_INTERVAL_MS = 600_000


def server_view(s: Server) -> ServerView:
    return ServerView(
        name=s.name,
        address=s.address,
        ports=dict(s.ports),
        cert_pem=s.cert_pem,
        key_pem=s.key_pem,
        port_cert_pem={kind: s.presented(kind)[0] for kind in TLS_PORT_KINDS},
        down=s.down,
        id=s.id,
        listen_ports=dict(s.listen_ports),
        fingerprint=s.fingerprint,
        port_key_pem={kind: s.presented(kind)[2] for kind in TLS_PORT_KINDS},
    )


def group_view(g: Group, *, computers: int) -> GroupView:
    return GroupView(
        id=g.id,
        name=g.name,
        full_path=g.full_path,
        inherits=g.inherits,
        policy_serial=g.serial,
        policy_date_ms=g.serial_ms,
        default_location_id=g.default_location.id,
        created_ms=g.created_ms,
        last_modified_ms=g.modified_ms,
        computers=computers,
        description=g.description,
        parent_id=g.parent.id if g.parent is not None else None,
    )


def msl_view(topology: Topology, m: Msl) -> MslView:
    protocol: Literal["https", "http"] = "http" if m.protocol == "http" else "https"
    return MslView(m.name, protocol, m.entries, tuple(topology.assignments(m.name)))


def replication_status(
    *,
    site_id: str,
    site_name: str,
    partners: list[ReplicationPartnerSpec],
    broken_since: int | None,
    now: int,
) -> dict[str, Any]:
    """SEPM's ReplicationStatusResponse. Replication runs every 10 simulated minutes; while it is
    broken, partners report status ``BROKEN`` and their last success is the last run before the break."""
    last_run = now - now % REPLICATION_INTERVAL_MS
    last_success = last_run if broken_since is None else broken_since - broken_since % REPLICATION_INTERVAL_MS
    return {
        "replicationStatus": {
            "id": site_id,
            "siteName": site_name,
            "siteLocation": "",
            "replicationPartnerStatusList": [
                {
                    "id": hashlib.sha256(f"{site_id}/{p.name}".encode()).hexdigest()[:32].upper(),
                    "name": p.name,
                    "location": p.location,
                    "lastRunTime": last_run,
                    "lastSuccessfulRunTime": last_success,
                    "nextRunTime": last_run + REPLICATION_INTERVAL_MS,
                    "status_code": "OK" if broken_since is None else "BROKEN",
                }
                for p in partners
            ],
        }
    }
