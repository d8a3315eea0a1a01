"""The wire adapter: SEPM payloads to the model, and the PATCH bodies (inferred facts pinned here)."""

from __future__ import annotations

import pytest
from sepm_fakes import settings_body

from reconciler.sepm import adapter
from reconciler.sepm.errors import UnexpectedResponse


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        pytest.param(
            "Default:/sepm/api/v1/groups/AB12/locations/33CE4894AC1485D12E3AAC763CF9A71B",
            ("33CE4894AC1485D12E3AAC763CF9A71B", "Default"),
            id="fact-sheet-string",
        ),
        pytest.param("Location 2 - VPN:.../F5E8", ("F5E8", "Location 2 - VPN"), id="elided-path"),
        pytest.param("Office:L9", ("L9", "Office"), id="no-slash"),
        pytest.param("/x/L7", ("L7", ""), id="no-name"),
        pytest.param({"id": "L1", "name": "Default"}, ("L1", "Default"), id="object"),
        pytest.param({"locationId": "L2", "locationName": "VPN"}, ("L2", "VPN"), id="object-long-keys"),
    ],
)
def test_location_entries_parse(entry, expected):
    """Location list entries yield (id, name): name before the first ':', id after the last '/'."""
    assert adapter.parse_location_entry(entry, where="group G") == expected


@pytest.mark.parametrize(
    "entry",
    [
        pytest.param("", id="empty"),
        pytest.param("Default:/groups/", id="no-id"),
        pytest.param(42, id="number"),
        pytest.param({"name": "x"}, id="object-without-id"),
    ],
)
def test_unreadable_location_entries_are_refused(entry):
    """An entry without a location id is an UnexpectedResponse naming the group."""
    with pytest.raises(UnexpectedResponse, match="group G"):
        adapter.parse_location_entry(entry, where="group G")


def test_location_settings_read_the_inferred_fields():
    """MSL from sem_server.name, the secure flag, heartbeat and mode come from the documented paths."""
    settings = adapter.parse_location_settings(
        settings_body("Default Management Server List", secure=False, heartbeat=600, mode="PUSH"), where="w"
    )
    assert settings == adapter.LocationSettings(
        management_server_list="Default Management Server List",
        secure_communications=False,
        heartbeat_interval=600,
        mode="PUSH",
    )


def _without(path: tuple[str, ...]) -> dict:
    body = settings_body("MSL")
    node = body["configuration"]
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({}, "configuration", id="no-configuration"),
        pytest.param(_without(("communication_settings", "sem_server")), "sem_server", id="no-msl"),
        pytest.param(
            _without(("general_settings", "security_settings", "secure_communications")),
            "secure_communications",
            id="no-secure-flag",
        ),
        pytest.param(
            _without(("communication_settings", "pull_mode_heartbeat_freq_in_seconds")),
            "heartbeat",
            id="no-heartbeat",
        ),
        pytest.param(settings_body("MSL", mode="POLL"), "PULL or PUSH", id="bad-mode"),
        pytest.param(settings_body(""), "sem_server.name", id="empty-msl"),
    ],
)
def test_incomplete_settings_are_never_guessed(body, field):
    """A missing or odd field raises UnexpectedResponse naming it (a missing secure flag is not 'off')."""
    with pytest.raises(UnexpectedResponse, match=field):
        adapter.parse_location_settings(body, where="group G location L")


def test_patch_bodies_touch_only_the_changed_field():
    """Assigning an MSL and switching the secure flag PATCH only their own field, no lockedoptions."""
    assert adapter.assign_msl_configuration("Copy (HTTP)") == {
        "communication_settings": {"sem_server": {"name": "Copy (HTTP)"}}
    }
    assert adapter.secure_communications_configuration(True) == {
        "general_settings": {"security_settings": {"secure_communications": True}}
    }


def test_patch_bodies_are_read_back_by_the_parser():
    """A settings body with a PATCH applied reads back as the patched value (the two agree on paths)."""
    body = settings_body("Original", secure=True)
    patch = adapter.assign_msl_configuration("Copy (HTTP)")
    body["configuration"]["communication_settings"]["sem_server"] = patch["communication_settings"][
        "sem_server"
    ]
    security = adapter.secure_communications_configuration(False)["general_settings"]["security_settings"]
    body["configuration"]["general_settings"]["security_settings"] = security
    settings = adapter.parse_location_settings(body, where="w")
    assert settings.management_server_list == "Copy (HTTP)"
    assert settings.secure_communications is False


GROUP = {
    "id": "9F1E0000AAAA",
    "name": "Sales",
    "fullPathName": "My Company\\Sales",
    "policyInheritanceEnabled": False,
    "policySerialNumber": "9F1E-11/29/2025 18:20:00 123",
    "defaultLocationId": "L-DEFAULT",
}


def test_groups_parse():
    """A Group yields id, full path, inheritance, policy serial and default location id."""
    assert adapter.parse_group(GROUP) == adapter.WireGroup(
        id="9F1E0000AAAA",
        full_path="My Company\\Sales",
        inherits=False,
        policy_serial="9F1E-11/29/2025 18:20:00 123",
        default_location_id="L-DEFAULT",
    )


@pytest.mark.parametrize("field", ["id", "fullPathName", "policySerialNumber", "defaultLocationId"])
def test_groups_missing_a_field_are_refused(field):
    """A group without a field we rely on is an UnexpectedResponse."""
    raw = {k: v for k, v in GROUP.items() if k != field}
    with pytest.raises(UnexpectedResponse):
        adapter.parse_group(raw)


@pytest.mark.parametrize(
    ("default_id", "locations", "expected"),
    [
        pytest.param("L2", [("L1", "Office"), ("L2", "Default")], "L2", id="by-id"),
        pytest.param("PARENT", [("L1", "Office"), ("L2", "Default")], "L2", id="inheriting-by-name"),
        pytest.param("PARENT", [("L1", "Office"), ("L3", "VPN")], "L1", id="inheriting-first"),
        pytest.param("L1", [], None, id="no-locations"),
    ],
)
def test_default_location_is_found(default_id, locations, expected):
    """The default location is defaultLocationId if listed, else the one named Default, else the first."""
    group = adapter.WireGroup(
        id="G", full_path="p", inherits=True, policy_serial="s", default_location_id=default_id
    )
    assert adapter.default_location_id(group, locations) == expected


DEFAULT = adapter.LocationSettings("MSL", True, 300, "PULL")


@pytest.mark.parametrize(
    ("settings", "follows"),
    [
        pytest.param(DEFAULT, True, id="same"),
        pytest.param(adapter.LocationSettings("Other MSL", True, 300, "PULL"), False, id="own-msl"),
        pytest.param(adapter.LocationSettings("MSL", False, 300, "PULL"), False, id="own-secure-flag"),
        pytest.param(adapter.LocationSettings("MSL", True, 60, "PULL"), False, id="own-heartbeat"),
        pytest.param(adapter.LocationSettings("MSL", True, 300, "PUSH"), False, id="own-mode"),
    ],
)
def test_uses_group_settings_is_inferred_from_differences(settings, follows):
    """A non-default location follows the group unless any communication setting differs (inferred)."""
    location = adapter.observed_location(
        location_id="L", name="VPN", is_default=False, settings=settings, default=DEFAULT
    )
    assert location.uses_group_settings is follows
    assert location.management_server_list == settings.management_server_list


def test_the_default_location_always_uses_the_group_settings():
    """The default location *is* the group-level settings."""
    location = adapter.observed_location(
        location_id="L", name="Default", is_default=True, settings=DEFAULT, default=DEFAULT
    )
    assert location.is_default
    assert location.uses_group_settings


COMPUTER = {
    "uniqueId": "U1",
    "computerName": "pc-1",
    "group": {"id": "G1", "name": "My Company\\Sales", "fullPathName": ""},
    "agentVersion": "14.2.1031.0100",
    "onlineStatus": 1,
    "lastUpdateTime": 1_764_000_000_000,
    "profileSerialNo": "9F1E-11/29/2025 18:20:00 123",
    "lastServerName": "sepm01",
}


def test_computers_become_clients():
    """A computer record maps onto ObservedClient field by field."""
    client = adapter.parse_client(COMPUTER, group_ids_by_path={})
    assert client.id == "U1"
    assert client.name == "pc-1"
    assert client.group_id == "G1"
    assert client.agent_version == "14.2.1031.0100"
    assert client.online is True
    assert client.last_update_time == 1_764_000_000_000
    assert client.profile_serial == "9F1E-11/29/2025 18:20:00 123"
    assert client.last_server == "sepm01"


def test_a_computer_without_group_id_is_placed_by_its_full_path():
    """group.name holds the full path; it finds the group when group.id is absent (case-insensitive)."""
    raw = COMPUTER | {"group": {"name": "My Company\\SALES"}}
    client = adapter.parse_client(raw, group_ids_by_path={"my company\\sales": "G-SALES"})
    assert client.group_id == "G-SALES"


def test_a_computer_that_never_checked_in_reads_as_dormant():
    """No lastUpdateTime is read as 0, and an offline status as offline."""
    raw = {k: v for k, v in COMPUTER.items() if k != "lastUpdateTime"} | {"onlineStatus": 0}
    client = adapter.parse_client(raw, group_ids_by_path={})
    assert client.last_update_time == 0
    assert client.online is False


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param({k: v for k, v in COMPUTER.items() if k != "uniqueId"}, id="no-id"),
        pytest.param(COMPUTER | {"group": {"name": "My Company\\Unknown"}}, id="unknown-group"),
        pytest.param(COMPUTER | {"lastUpdateTime": "yesterday"}, id="bad-time"),
    ],
)
def test_unreadable_computers_are_refused(raw):
    """A computer the adapter cannot place or date is an UnexpectedResponse."""
    with pytest.raises(UnexpectedResponse):
        adapter.parse_client(raw, group_ids_by_path={})


@pytest.mark.parametrize(("value", "deleted"), [(1, True), (True, True), (0, False), (None, False)])
def test_deletion_markers(value, deleted):
    """deleted = 1 marks a computer record as a deletion."""
    assert adapter.is_deleted(COMPUTER | {"deleted": value}) is deleted


def test_version_string():
    """GET version's 'version' is the SEPM version; without it the answer is unexpected."""
    assert (
        adapter.version_string({"API_VERSION": "14.3.7000", "version": "14.3.9816.7000"}) == "14.3.9816.7000"
    )
    with pytest.raises(UnexpectedResponse):
        adapter.version_string({"API_VERSION": "14.3.7000"})
