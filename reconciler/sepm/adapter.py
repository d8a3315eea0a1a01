"""SEPM wire shapes <-> the model: every fact about SEPM's payloads that Broadcom does not state.

Everything here is one place to correct against a live SEPM. Facts are marked:
- **documented**: Broadcom's Swagger (``sepm-api/broadcom-swagger``) says so;
- **inferred**: our fact sheet (``sepm-api/README.md``) or public clients suggest it; not proven.

The facts:
1. Locations (inferred): ``GET groups/{id}/locations?hasName=true`` answers an array of strings
   ``"<name>:<...>/<locationId>"``: the name is before the first ``:``, the id after the last ``/``.
   (Swagger only says "array of objects"; a public PowerShell client splits strings this way. A
   location name containing ``:`` would be cut short.) Objects with ``id``/``name`` (or
   ``locationId``/``locationName``) are accepted too.
2. The Management Server List assigned to a location (inferred) is
   ``configuration.communication_settings.sem_server.name``.
3. The secure-communications checkbox (inferred) is
   ``configuration.general_settings.security_settings.secure_communications``.
4. Heartbeat and mode (documented names): ``communication_settings.pull_mode_heartbeat_freq_in_seconds``
   and ``communication_settings.mode`` (PULL | PUSH).
5. Group-level settings live on the group's default location (inferred): the location whose id is the
   group's ``defaultLocationId``. Swagger documents that an *inheriting* group's ``defaultLocationId``
   is its non-inheriting parent's default location; such a group's own default is then the location
   named "Default" (inferred), else its first location.
6. ``uses_group_settings`` (inferred; REST does not say): a non-default location carries its own
   settings when any of MSL, secure flag, heartbeat or mode differs from the default location's. A
   location with its own settings that happen to equal the group's is indistinguishable from one that
   follows the group: it is reported as following the group.
7. PATCH bodies (inferred: SEPM may or may not accept a partial configuration): only the fields that
   change, under ``configuration``; ``lockedoptions`` is never sent, so locks are left as they are.
8. Group paths (documented for groups; inferred for computers): ``Group.fullPathName`` is
   ``My Company\\Sales``; a computer's ``group.name`` holds the full path and ``group.fullPathName`` is
   often empty, so the computer's group is found by ``group.id`` first, then by path.
9. Computers (documented names): ``uniqueId``, ``computerName``, ``agentVersion``, ``onlineStatus``
   (1 online), ``lastUpdateTime`` (epoch ms of the last check-in), ``profileSerialNo``,
   ``lastServerName``; ``deleted`` = 1 marks a deleted computer (inferred to appear in ``lastUpdate``
   reads). A computer that never checked in has no ``lastUpdateTime``: it is read as 0 (dormant).
10. Version (documented example): ``GET version`` answers ``{"version": "14.3.9816.7000", ...}``.
11. Computers are listed with ``sort=COMPUTER_ID`` (a documented value; the default, COMPUTER_NAME,
    ties on duplicate names): the page walk needs one order for all its requests.
12. A group's ``policySerialNumber`` moves whenever its settings do (inferred, strong): a location's
    settings, its MSL, the secure-communications flag, the list of locations, inheritance; an
    inheriting group's moves with its parent's. Clients fetch a new policy by this serial alone
    (KB 156507), so a change that left it alone would never reach them. The observer re-reads a
    group's locations and settings only when it (or ``defaultLocationId``, or inheritance) changed.
13. Only the fields above are decoded from pages of computers and groups
    (``reconciler.sepm.decoding``); SEPM's other fields are skipped unread.

Anything that does not fit raises ``UnexpectedResponse`` naming the object and the field: a snapshot
is never built on a guess. That includes values no SEPM sends: a name, id or path longer than
``MAX_TEXT`` characters (so one record cannot make the snapshot hold megabytes), an epoch time or a
heartbeat outside a Java ``long`` / ``int`` (SEPM's own types), a negative one. Quoted values in
messages are cut short, and containers are named by their type, never printed.

This file is longer than the project's usual 350 lines on purpose: it is the one place to correct
against a live SEPM, so each fact above and the code that relies on it stay side by side.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

from reconciler.model.observed import ObservedClient, ObservedLocation
from reconciler.sepm.decoding import MAX_EPOCH_MS, MAX_TEXT, GroupRef, WireComputer
from reconciler.sepm.errors import UnexpectedResponse

Mode = Literal["PULL", "PUSH"]

_MAX_SECONDS = 2**31 - 1  # a Java int


def _describe(value: object) -> str:
    """A short, safe rendering of a value for a message (never the whole of a huge or nested one)."""
    if isinstance(value, str):
        return repr(value[:60] + ("..." if len(value) > 60 else ""))
    if isinstance(value, bool | float) or value is None:
        return repr(value)
    if isinstance(value, int):
        return "a number" if value.bit_length() > 64 else repr(value)
    return f"a JSON {type(value).__name__}"


def _name(value: object, *, field: str, where: str, empty: bool = False) -> str:
    """``value`` as a name/id/path: a string of at most ``MAX_TEXT`` characters (empty only if allowed)."""
    if not isinstance(value, str) or (not value and not empty):
        raise UnexpectedResponse(f"{where}: '{field}' is {_describe(value)}, not a name")
    if len(value) > MAX_TEXT:
        raise UnexpectedResponse(
            f"{where}: '{field}' is {len(value):,} characters long, more than the {MAX_TEXT} accepted"
        )
    return value


def _whole(value: object, *, maximum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= maximum


@dataclass(frozen=True)
class LocationSettings:
    """The communication settings of one location, as read from ``.../settings``."""

    management_server_list: str
    secure_communications: bool
    heartbeat_interval: int
    mode: Mode


@dataclass(frozen=True)
class WireGroup:
    """The fields of a SEPM ``Group`` this project uses."""

    id: str
    full_path: str
    inherits: bool
    policy_serial: str
    default_location_id: str


def parse_location_entry(entry: object, *, where: str) -> tuple[str, str]:
    """``(location id, name)`` from one element of ``GET groups/{id}/locations`` (fact 1)."""
    if isinstance(entry, Mapping):
        location_id = entry.get("id", entry.get("locationId"))
        name = entry.get("name", entry.get("locationName", ""))
        if isinstance(location_id, str) and location_id and isinstance(name, str):
            return _name(location_id, field="id", where=where), _name(
                name, field="name", where=where, empty=True
            )
        keys = ", ".join(_describe(key) for key in list(entry)[:10])
        raise UnexpectedResponse(f"{where}: a location object without 'id' (keys: {keys})")
    if not isinstance(entry, str) or not entry.strip():
        raise UnexpectedResponse(f"{where}: a location entry is neither a string nor an object")
    text = _name(entry.strip(), field="location", where=where)
    name, colon, _ = text.partition(":")
    location_id = text.rsplit("/", 1)[-1] if "/" in text else text.rpartition(":")[2]
    if not location_id:
        raise UnexpectedResponse(f"{where}: cannot find a location id in {_describe(text)}")
    return location_id, name if colon else ""


def _field(body: Mapping[str, Any], path: tuple[str, ...], *, where: str) -> Any:
    current: Any = body
    for key in path:
        if not isinstance(current, Mapping) or key not in current:
            raise UnexpectedResponse(f"{where}: the settings have no {'.'.join(path)}")
        current = current[key]
    return current


_MSL = ("communication_settings", "sem_server", "name")
_SECURE = ("general_settings", "security_settings", "secure_communications")
_HEARTBEAT = ("communication_settings", "pull_mode_heartbeat_freq_in_seconds")
_MODE = ("communication_settings", "mode")


def parse_location_settings(body: object, *, where: str) -> LocationSettings:
    """The communication settings in a ``{configuration: ..., lockedoptions: ...}`` body (facts 2-4)."""
    if not isinstance(body, Mapping) or not isinstance(body.get("configuration"), Mapping):
        raise UnexpectedResponse(f"{where}: the settings have no 'configuration' object")
    configuration = cast(Mapping[str, Any], body["configuration"])
    msl = _field(configuration, _MSL, where=where)
    secure = _field(configuration, _SECURE, where=where)
    heartbeat = _field(configuration, _HEARTBEAT, where=where)
    mode = _field(configuration, _MODE, where=where)
    if not isinstance(msl, str) or not msl:
        raise UnexpectedResponse(f"{where}: {'.'.join(_MSL)} is not a name")
    _name(msl, field=".".join(_MSL), where=where)
    if not isinstance(secure, bool):
        raise UnexpectedResponse(f"{where}: {'.'.join(_SECURE)} is not true/false")
    if not _whole(heartbeat, maximum=_MAX_SECONDS):
        raise UnexpectedResponse(f"{where}: {'.'.join(_HEARTBEAT)} is not a number of seconds")
    if mode not in ("PULL", "PUSH"):
        raise UnexpectedResponse(f"{where}: {'.'.join(_MODE)} is {_describe(mode)}, not PULL or PUSH")
    return LocationSettings(
        management_server_list=msl,
        secure_communications=secure,
        heartbeat_interval=heartbeat,
        mode=cast(Mode, mode),
    )


def assign_msl_configuration(management_server_list: str) -> dict[str, Any]:
    """The ``configuration`` to PATCH to assign an MSL to a location (facts 2, 7)."""
    return {"communication_settings": {"sem_server": {"name": management_server_list}}}


def secure_communications_configuration(enabled: bool) -> dict[str, Any]:
    """The ``configuration`` to PATCH to switch secure communications on or off (facts 3, 7)."""
    return {"general_settings": {"security_settings": {"secure_communications": enabled}}}


def parse_group(raw: Mapping[str, Any]) -> WireGroup:
    """A SEPM ``Group`` as the fields this project uses (facts 5, 8)."""
    group_id = raw.get("id")
    if not isinstance(group_id, str) or not group_id:
        raise UnexpectedResponse("GET groups: a group without an 'id'")
    group_id = _name(group_id, field="id", where="GET groups: a group")
    where = f"group {group_id}"
    path = raw.get("fullPathName")
    if not isinstance(path, str) or not path:
        raise UnexpectedResponse(f"{where}: no 'fullPathName'")
    path = _name(path, field="fullPathName", where=where)
    inherits = raw.get("policyInheritanceEnabled", False)
    serial = raw.get("policySerialNumber")
    default_location = raw.get("defaultLocationId")
    if not isinstance(inherits, bool):
        raise UnexpectedResponse(f"{where} ({path}): 'policyInheritanceEnabled' is not true/false")
    if not isinstance(serial, str):
        raise UnexpectedResponse(f"{where} ({path}): no 'policySerialNumber'")
    if not isinstance(default_location, str):
        raise UnexpectedResponse(f"{where} ({path}): no 'defaultLocationId'")
    _name(serial, field="policySerialNumber", where=where, empty=True)
    _name(default_location, field="defaultLocationId", where=where, empty=True)
    return WireGroup(
        id=group_id,
        full_path=path,
        inherits=inherits,
        policy_serial=serial,
        default_location_id=default_location,
    )


def default_location_id(group: WireGroup, locations: list[tuple[str, str]]) -> str | None:
    """Which of a group's locations holds its group-level settings (fact 5); None if it has none."""
    ids = [location_id for location_id, _ in locations]
    if group.default_location_id in ids:
        return group.default_location_id
    named = [location_id for location_id, name in locations if name.casefold() == "default"]
    if named:
        return named[0]
    return ids[0] if ids else None


def uses_group_settings(settings: LocationSettings, default: LocationSettings) -> bool:
    """Whether a non-default location follows its group's settings (fact 6, inferred)."""
    return settings == default


def observed_location(
    *, location_id: str, name: str, is_default: bool, settings: LocationSettings, default: LocationSettings
) -> ObservedLocation:
    """The model's view of one location (the default location always "uses the group settings")."""
    return ObservedLocation(
        id=location_id,
        name=name,
        is_default=is_default,
        uses_group_settings=is_default or uses_group_settings(settings, default),
        management_server_list=settings.management_server_list,
        secure_communications=settings.secure_communications,
        heartbeat_interval=settings.heartbeat_interval,
        mode=settings.mode,
    )


def client_id(raw: Mapping[str, Any]) -> str:
    """The ``uniqueId`` of a computer record."""
    value = raw.get("uniqueId")
    if not isinstance(value, str) or not value:
        raise UnexpectedResponse("GET computers: a computer without a 'uniqueId'")
    return _name(value, field="uniqueId", where="GET computers: a computer")


def is_deleted(raw: Mapping[str, Any]) -> bool:
    """A computer record that marks a deletion (fact 9)."""
    return raw.get("deleted") in (1, True)  # read_computer says the same inline


Position = Callable[[str, str, str, str, int, str, bool, str], "int | None"]
"""Where a client with exactly these values already stands in the previous snapshot (None: nowhere).

Its arguments are a client's fields in ``ObservedClient`` order: id, name, group id, agent version,
last check-in, policy serial, online, last server."""


@dataclass(frozen=True)
class Deleted:
    """A computer record that marks a deletion (fact 9): only its id is read."""

    id: str


def parse_client(raw: Mapping[str, Any], *, group_ids_by_path: Mapping[str, str]) -> ObservedClient:
    """A computer record as the model's client (facts 8, 9). Paths are matched case-insensitively."""
    client = read_computer(raw, group_ids_by_path=group_ids_by_path)
    if not isinstance(client, ObservedClient):
        raise UnexpectedResponse(f"computer {client_id(raw)}: a deletion marker, not a computer")
    return client


def read_computer(
    raw: Mapping[str, Any] | WireComputer,
    *,
    group_ids_by_path: Mapping[str, str],
    known: Position | None = None,
    shared: dict[str, str] | None = None,
) -> int | ObservedClient | Deleted:
    """A computer record as ``parse_client`` reads it, a deletion marker as ``Deleted``, or, when
    ``known`` finds a client with exactly its values, that client's position: a record that says
    nothing new allocates and validates nothing. ``shared`` keeps one copy of the texts that many new
    clients repeat (versions, serials, servers, group ids).

    Run once per computer per read (100,000 per full read), so its checks are written out inline;
    each refusal is the one ``client_id``, ``_name`` and ``_text`` make. A ``WireComputer`` (a record
    of a page whose types msgspec checked as it decoded it) skips the checks its types make: a JSON
    null reads as an absent field, as below. What its types leave open and is not the common case (a
    deletion marker, a group without an id or with an over-long one) is read the ordinary way, from
    the cut dict the record stands for.
    """
    if isinstance(raw, WireComputer):
        typed = read_typed(raw, known, shared)
        if typed is not None:
            return typed
        raw = raw.as_dict()
    unique_id = raw.get("uniqueId")
    if type(unique_id) is not str or not 0 < len(unique_id) <= MAX_TEXT:
        unique_id = client_id(raw)  # raises, saying what is wrong
    deleted = raw.get("deleted")
    if deleted is not None and deleted in (1, True):
        return Deleted(unique_id)
    group = raw.get("group")
    if type(group) is GroupRef:
        group_id, path = group.id, group.fullPathName or group.name
    elif isinstance(group, Mapping):
        group_id, path = group.get("id"), group.get("fullPathName") or group.get("name")
    else:
        raise UnexpectedResponse(f"computer {unique_id}: no 'group'")
    if type(group_id) is not str or not group_id:
        group_id = group_ids_by_path.get(path.casefold()) if isinstance(path, str) else None
        if group_id is None:
            raise UnexpectedResponse(f"computer {unique_id}: its group has no id and no known path")
    elif len(group_id) > MAX_TEXT:
        _name(group_id, field="group.id", where=f"computer {unique_id}")  # raises, saying where
    last_update = raw.get("lastUpdateTime") or 0
    if type(last_update) is not int or not 0 <= last_update <= MAX_EPOCH_MS:
        raise UnexpectedResponse(f"computer {unique_id}: 'lastUpdateTime' is not epoch ms")
    name = raw.get("computerName")
    if type(name) is not str or len(name) > MAX_TEXT:
        name = _text(raw, "computerName", unique_id)
    version = raw.get("agentVersion")
    if type(version) is not str or len(version) > MAX_TEXT:
        version = _text(raw, "agentVersion", unique_id)
    serial = raw.get("profileSerialNo")
    if type(serial) is not str or len(serial) > MAX_TEXT:
        serial = _text(raw, "profileSerialNo", unique_id)
    server = raw.get("lastServerName")
    if type(server) is not str or len(server) > MAX_TEXT:
        server = _text(raw, "lastServerName", unique_id)
    online = raw.get("onlineStatus") == 1
    if known is not None:
        position = known(unique_id, name, group_id, version, last_update, serial, online, server)
        if position is not None:
            return position
    return _new_client(unique_id, name, group_id, version, last_update, serial, online, server, shared)


def read_typed(
    raw: WireComputer, known: Position | None, shared: dict[str, str] | None
) -> int | ObservedClient | None:
    """``read_computer`` of a typed record in the common case; None for any other (read it with
    ``read_computer``, which asks this first). Callable on its own by a reader of 100,000 records, to
    spare a call per record."""
    group, deleted = raw.group, raw.deleted
    group_id = group.id if group is not None else None
    if (
        (deleted is not None and deleted in (1, True))
        or type(group_id) is not str
        or not 0 < len(group_id) <= MAX_TEXT
    ):
        return None  # a deletion marker (SEPM sends 0 for every other computer), or an odd group
    unique_id, name, version = raw.uniqueId, raw.computerName or "", raw.agentVersion or ""
    last_update, serial, server = raw.lastUpdateTime or 0, raw.profileSerialNo or "", raw.lastServerName or ""
    online = raw.onlineStatus == 1
    if known is not None:
        position = known(unique_id, name, group_id, version, last_update, serial, online, server)
        if position is not None:
            return position
    return _new_client(unique_id, name, group_id, version, last_update, serial, online, server, shared)


def _new_client(  # noqa: PLR0917 - the fields in ObservedClient order, as ``Position`` takes them
    unique_id: str,
    name: str,
    group_id: str,
    version: str,
    last_update: int,
    serial: str,
    online: bool,
    server: str,
    shared: dict[str, str] | None,
) -> ObservedClient:
    if shared is not None:
        group_id = shared.setdefault(group_id, group_id)
        version = shared.setdefault(version, version)
        serial = shared.setdefault(serial, serial)
        server = shared.setdefault(server, server)
    # One call into the model's validator (not the keyword constructor): 100,000 of these per cold read.
    return ObservedClient.model_validate(
        {
            "id": unique_id,
            "name": name,
            "group_id": group_id,
            "agent_version": version,
            "last_update_time": last_update,
            "profile_serial": serial,
            "online": online,
            "last_server": server,
        }
    )


def _text(raw: Mapping[str, Any], field: str, unique_id: str) -> str:
    """An optional text field: anything but a string reads as empty; an over-long string is refused."""
    value = raw.get(field)
    if not isinstance(value, str):
        return ""
    if len(value) > MAX_TEXT:
        _name(value, field=field, where=f"computer {unique_id}")  # raises, saying where
    return value


def version_string(body: object) -> str:
    """The SEPM version from ``GET version`` (fact 10)."""
    if isinstance(body, Mapping):
        version = body.get("version")
        if isinstance(version, str) and version:
            return _name(version, field="version", where="GET version")
    raise UnexpectedResponse("GET version: no 'version' in the answer")
