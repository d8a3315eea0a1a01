"""The JSON bodies of the simulated SEPM REST API, in Broadcom's Swagger shapes.

Contract:
- Every function turns an engine view into the exact JSON object the Swagger definition names
  (`Computer`, `Group`, `Settings` with a `GroupSettingsConfiguration`, `UserToken`, the `Page`
  envelope). Only fields the Swagger declares are emitted, so the conformance test can validate with
  unknown properties forbidden.
- Paging follows SEPM: ``pageIndex`` is 1-based; ``number`` is the 0-based page number of the
  underlying Spring page (inferred, not documented by Broadcom); ``firstPage`` / ``lastPage`` are what
  clients loop on. A page past the end is empty with ``lastPage`` true. ``sort`` is an object because
  the Swagger says so.
- ``groups?mode=tree`` pages the root groups (one: ``My Company``), each carrying its subtree in
  ``childGroups`` (`group_tree`); ``mode=list`` pages every group, without ``childGroups``.
- SEPM quirks kept on purpose (README fact sheet): a computer's ``group.name`` holds the group's full
  path and ``group.fullPathName`` is empty; location lists are strings ``"<name>:<uri>/<locationId>"``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from reconciler.sim.rest_auth import Session
from reconciler.sim.views import ComputerView, GroupView, LocationSettingsView, LocationView

API_BASE = "/sepm/api/v1"
DOMAIN_NAME = "Default"


def page(
    content: Sequence[dict[str, Any]], *, page_index: int, page_size: int, total: int, sort: str
) -> dict[str, Any]:
    """SEPM's paging envelope around one page of `content` (already sliced)."""
    total_pages = math.ceil(total / page_size) if total else 0
    return {
        "content": list(content),
        "firstPage": page_index == 1,
        "lastPage": page_index >= total_pages,
        "number": page_index - 1,
        "numberOfElements": len(content),
        "size": page_size,
        "sort": {"property": sort, "direction": "ASC"},
        "totalElements": total,
        "totalPages": total_pages,
    }


def computer(view: ComputerView, *, domain_id: str) -> dict[str, Any]:
    """A `Computer` (Computers.json)."""
    return {
        "uniqueId": view.id,
        "computerName": view.name,
        "hardwareKey": view.hardware_key,
        "group": {
            "id": view.group_id,
            "name": view.group_full_path,
            "fullPathName": "",
            "externalReferenceId": "",
            "source": "",
            "domain": {"id": domain_id, "name": DOMAIN_NAME},
        },
        "agentVersion": view.agent_version,
        "agentType": "105",
        "agentTimeStamp": view.agent_timestamp_ms or view.last_update_ms,
        "onlineStatus": 1 if view.online else 0,
        "lastUpdateTime": view.last_update_ms,
        "creationTime": view.creation_time_ms,
        "profileSerialNo": view.profile_serial,
        "lastServerId": view.last_server_id,
        "lastServerName": view.last_server_name,
        "lastSiteName": view.last_site_name,
        "lastConnectedIpAddr": view.ip,
        "ipAddresses": [view.ip] if view.ip else [],
        "macAddresses": [view.mac_address] if view.mac_address else [],
        "operatingSystem": view.os_name,
        "osName": view.os_name,
        "osVersion": view.os_version,
        "domainOrWorkgroup": view.domain_or_workgroup,
        "logonUserName": view.logon_user,
        "deleted": 0,
    }


def group(view: GroupView, *, domain_id: str) -> dict[str, Any]:
    """A `Group` (Groups.json). Parent ids are not part of it: SEPM gives the full path instead."""
    return {
        "id": view.id,
        "name": view.name,
        "description": view.description,
        "fullPathName": view.full_path,
        "numberOfPhysicalComputers": view.computers,
        "numberOfRegisteredUsers": 0,
        "createdBy": "",
        "created": view.created_ms,
        "lastModified": view.last_modified_ms,
        "policySerialNumber": view.policy_serial,
        "policyDate": view.policy_date_ms,
        "customIpsNumber": "",
        "defaultLocationId": view.default_location_id,
        "domain": {"id": domain_id, "name": DOMAIN_NAME},
        "policyInheritanceEnabled": view.inherits,
    }


def group_tree(views: Sequence[GroupView], *, domain_id: str) -> list[dict[str, Any]]:
    """``groups?mode=tree``: the root groups, each a `Group` whose ``childGroups`` are its children's
    `Group` objects, recursively, in tree order (leaves have an empty list).

    Broadcom's Swagger declares ``Group.childGroups`` as an array without an item type and the page's
    ``content`` as objects; reading the children as `Group` objects is the reading that validates.
    ``views`` are in tree order (parents first), so one pass builds the tree without recursion.
    """
    nodes: dict[str, dict[str, Any]] = {}
    roots: list[dict[str, Any]] = []
    for view in views:
        node = {**group(view, domain_id=domain_id), "childGroups": []}
        nodes[view.id] = node
        parent = nodes.get(view.parent_id) if view.parent_id is not None else None
        (parent["childGroups"] if parent is not None else roots).append(node)
    return roots


def location_entry(view: LocationView) -> str:
    """One item of ``GET groups/{id}/locations``: ``"<name>:<uri of the location>"``."""
    return f"{view.name}:{API_BASE}/groups/{view.group_id}/locations/{view.id}"


def settings(view: LocationSettingsView) -> dict[str, Any]:
    """A `Settings` whose ``configuration`` is the `GroupSettingsConfiguration` the sim models."""
    return {
        "configuration": {
            "communication_settings": {
                "mode": view.mode,
                "pull_mode_heartbeat_freq_in_seconds": view.heartbeat_seconds,
                "sem_server": {"name": view.msl, "description": ""},
            },
            "general_settings": {
                "security_settings": {"secure_communications": view.secure_communications},
            },
        },
        "lockedoptions": {},
    }


def user_token(
    session: Session,
    *,
    domain: str,
    domain_id: str,
    server_time_ms: int,
    lifetime_s: int,
    refresh_lifetime_s: int,
) -> dict[str, Any]:
    """A `UserToken` (Identity.json) for a system administrator (role bitMask 8)."""
    return {
        "username": session.username,
        "getfullName": session.username,
        "domain": domain,
        "token": session.token,
        "tokenExpiration": lifetime_s,
        "refreshToken": session.refresh_token,
        "refreshTokenExpiration": refresh_lifetime_s,
        "role": {"bitMask": 8, "title": "System Administrator"},
        "adminId": session.admin_id,
        "permissionSet": {
            "reportingRights": True,
            "groupRights": True,
            "siteRights": True,
            "remoteCommandRights": True,
            "policyRights": True,
        },
        "bannerTitle": "",
        "bannerText": "",
        "domainid": domain_id,
        "serverTime": server_time_ms,
    }
