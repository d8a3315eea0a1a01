"""Location settings and group PATCHes over REST: effects, refusals and policy serial bumps."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.sim.app import Simulator
from reconciler.sim.scenario import Scenario
from reconciler.sim.testing import SepmSession
from tests.sim.helpers import failover_msl, make_scenario, population

PASSWORD = "Settings-Pa55"


@pytest.fixture
def scenario() -> Scenario:
    return make_scenario(
        "settings",
        password=PASSWORD,
        msls=[failover_msl(), {"name": "Spare List", "entries": [{"server": "sepm02", "priority": 1}]}],
        groups=[
            {
                "path": "My Company\\Sales",
                "settings": {"heartbeat_seconds": 600},
                "locations": [
                    {"name": "VPN", "settings": {"msl": "Spare List"}},
                    {"name": "Office", "uses_group_settings": True},
                ],
            },
            {"path": "My Company\\Sales\\EMEA", "inherits": True},
            {"path": "My Company\\IT"},
        ],
        clients=[
            population("My Company\\Sales", 6),
            population("My Company\\Sales\\EMEA", 4),
            population("My Company\\IT", 2),
        ],
    )


class Site:
    """The running simulator plus what the tests look up by name."""

    def __init__(self, sim: Simulator, rest: SepmSession) -> None:
        self.sim = sim
        self.rest = rest

    def group(self, path: str) -> dict[str, Any]:
        groups = self.rest.walk("groups", page_size=25)[0]
        return next(g for g in groups if g["fullPathName"] == path)

    def location(self, path: str, name: str) -> str:
        entries = self.rest.get_json(f"groups/{self.group(path)['id']}/locations")
        return next(e.rsplit("/", 1)[-1] for e in entries if e.split(":", 1)[0] == name)

    def settings_url(self, path: str, location: str = "Default") -> str:
        return f"groups/{self.group(path)['id']}/locations/{self.location(path, location)}/settings"

    def settings(self, path: str, location: str = "Default") -> dict[str, Any]:
        return self.rest.get_json(self.settings_url(path, location))["configuration"]

    def serials(self) -> dict[str, str]:
        return {g["fullPathName"]: g["policySerialNumber"] for g in self.rest.walk("groups", page_size=25)[0]}


@pytest.fixture
def site(sim, rest) -> Site:
    return Site(sim, rest)


def _secure(value: bool) -> dict[str, Any]:
    return {"configuration": {"general_settings": {"security_settings": {"secure_communications": value}}}}


def test_settings_reflect_the_site(site):
    """GET settings shows the MSL, heartbeat, mode and secure flag in force for that location."""
    sales = site.settings("My Company\\Sales")
    vpn = site.settings("My Company\\Sales", "VPN")
    assert sales["communication_settings"]["sem_server"]["name"] == "Default Management Server List"
    assert sales["communication_settings"]["pull_mode_heartbeat_freq_in_seconds"] == 600
    assert sales["communication_settings"]["mode"] == "PULL"
    assert sales["general_settings"]["security_settings"]["secure_communications"] is True
    assert vpn["communication_settings"]["sem_server"]["name"] == "Spare List"


def test_an_inheriting_group_shows_its_parents_settings(site):
    """An inheriting group's location answers its parent's effective settings."""
    assert site.settings("My Company\\Sales\\EMEA") == site.settings("My Company\\Sales")


def test_patch_changes_the_settings_and_bumps_the_scope_serials(site):
    """Disabling secure communication is visible at once and bumps the group's and its inheritors' serials."""
    before = site.serials()
    response = site.rest.request("PATCH", site.settings_url("My Company\\Sales"), json=_secure(False))
    assert response.status_code == 200
    body = response.json()["configuration"]
    assert body["general_settings"]["security_settings"]["secure_communications"] is False
    assert (
        site.settings("My Company\\Sales")["general_settings"]["security_settings"]["secure_communications"]
        is False
    )
    after = site.serials()
    assert after["My Company\\Sales"] != before["My Company\\Sales"]
    assert after["My Company\\Sales\\EMEA"] != before["My Company\\Sales\\EMEA"]
    assert after["My Company"] == before["My Company"]
    assert after["My Company\\IT"] == before["My Company\\IT"]


def test_a_patch_is_visible_through_every_server(site):
    """A change made through sepm01's REST port reads back the same through sepm02's."""
    assert (
        site.rest.request("PATCH", site.settings_url("My Company\\Sales"), json=_secure(False)).status_code
        == 200
    )
    port = site.sim.endpoints["servers"]["sepm02"]["rest"]
    with SepmSession(f"https://127.0.0.1:{port}/sepm/api/v1") as other:
        body = other.request("GET", site.settings_url("My Company\\Sales"), token=site.rest.token).json()
    assert body["configuration"]["general_settings"]["security_settings"]["secure_communications"] is False


def test_a_get_body_sent_back_changes_nothing(site):
    """PATCHing back exactly what GET returned is accepted and bumps no serial."""
    url = site.settings_url("My Company\\Sales")
    before = site.serials()
    current = site.rest.get_json(url)
    response = site.rest.request("PATCH", url, json=current)
    assert response.status_code == 200
    assert response.json() == current
    assert site.serials() == before


def test_msl_heartbeat_and_mode_can_be_patched_together(site):
    """A partial configuration with MSL, heartbeat and mode applies all three."""
    patch = {
        "configuration": {
            "communication_settings": {
                "sem_server": {"name": "Spare List"},
                "pull_mode_heartbeat_freq_in_seconds": 120,
                "mode": "PUSH",
            }
        }
    }
    assert site.rest.request("PATCH", site.settings_url("My Company\\Sales"), json=patch).status_code == 200
    communication = site.settings("My Company\\Sales")["communication_settings"]
    assert communication["sem_server"]["name"] == "Spare List"
    assert communication["pull_mode_heartbeat_freq_in_seconds"] == 120
    assert communication["mode"] == "PUSH"


@pytest.mark.parametrize(
    ("group", "location", "body", "status"),
    [
        pytest.param("My Company\\Sales\\EMEA", "Default", _secure(False), 400, id="inheriting-group"),
        pytest.param("My Company\\Sales", "Office", _secure(False), 400, id="location-uses-group-settings"),
        pytest.param(
            "My Company\\Sales",
            "Default",
            {"configuration": {"communication_settings": {"sem_server": {"name": "No Such List"}}}},
            400,
            id="unknown-msl",
        ),
        pytest.param(
            "My Company\\Sales",
            "Default",
            {"configuration": {"communication_settings": {"pull_mode_heartbeat_freq_in_seconds": "300"}}},
            400,
            id="heartbeat-not-an-integer",
        ),
        pytest.param(
            "My Company\\Sales",
            "Default",
            {"configuration": {"communication_settings": {"pull_mode_heartbeat_freq_in_seconds": 5}}},
            400,
            id="heartbeat-too-short",
        ),
        pytest.param(
            "My Company\\Sales",
            "Default",
            {"configuration": {"communication_settings": {"mode": "SOMETIMES"}}},
            400,
            id="unknown-mode",
        ),
        pytest.param(
            "My Company\\Sales",
            "Default",
            {"configuration": {"general_settings": {"security_settings": {"secure_communications": "no"}}}},
            400,
            id="secure-not-a-boolean",
        ),
        pytest.param(
            "My Company\\Sales",
            "Default",
            {"configuration": {"general_settings": {"tamper_protection": {}}}},
            400,
            id="setting-not-simulated",
        ),
        pytest.param(
            "My Company\\Sales",
            "Default",
            {**_secure(False), "lockedoptions": {"x": 1}},
            400,
            id="locked-options",
        ),
        pytest.param(
            "My Company\\Sales", "Default", {"configuration": []}, 400, id="configuration-not-an-object"
        ),
        pytest.param("My Company\\Sales", "Default", [], 400, id="body-not-an-object"),
    ],
)
def test_refused_patches_change_nothing(site, group, location, body, status):
    """A PATCH SEPM would refuse answers 400 with SEPM's error body and leaves settings and serials alone."""
    url = site.settings_url(group, location)
    before_settings, before_serials = site.rest.get_json(url), site.serials()
    response = site.rest.request("PATCH", url, json=body)
    assert response.status_code == status, response.text
    assert response.json()["errorCode"] == str(status)
    assert site.rest.get_json(url) == before_settings
    assert site.serials() == before_serials


@pytest.mark.parametrize(
    ("url", "status"),
    [
        pytest.param("groups/{zero}/locations/{zero}/settings", 404, id="unknown-group"),
        pytest.param("groups/{sales}/locations/{zero}/settings", 404, id="unknown-location"),
    ],
)
def test_unknown_targets_answer_404(site, url, status):
    """Settings of a group or location that does not exist answer 404."""
    path = url.format(zero="0" * 32, sales=site.group("My Company\\Sales")["id"])
    assert site.rest.request("GET", path).status_code == status
    assert site.rest.request("PATCH", path, json=_secure(False)).status_code == status


def test_stopping_inheritance_gives_the_group_its_own_settings(site):
    """PATCH inherits=false keeps the inherited values as its own, bumps its serial and allows PATCHes."""
    emea = site.group("My Company\\Sales\\EMEA")
    inherited = site.settings("My Company\\Sales\\EMEA")
    response = site.rest.request("PATCH", f"groups/{emea['id']}", json={"name": "EMEA", "inherits": False})
    assert response.status_code == 200
    assert response.json()["policyInheritanceEnabled"] is False
    assert site.group("My Company\\Sales\\EMEA")["policySerialNumber"] != emea["policySerialNumber"]
    assert site.settings("My Company\\Sales\\EMEA") == inherited
    url = site.settings_url("My Company\\Sales\\EMEA")
    assert site.rest.request("PATCH", url, json=_secure(False)).status_code == 200
    assert site.settings("My Company\\Sales")["general_settings"]["security_settings"][
        "secure_communications"
    ]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        pytest.param("My Company\\Sales", {"inherits": True}, id="name-missing"),
        pytest.param("My Company\\Sales", {"name": "Sales", "inherits": "yes"}, id="inherits-not-boolean"),
        pytest.param("My Company\\Sales", {"name": "Sales", "colour": "red"}, id="unknown-field"),
        pytest.param("My Company", {"name": "My Company", "inherits": True}, id="root-cannot-inherit"),
    ],
)
def test_refused_group_patches_answer_400(site, path, body):
    """A GroupPayload Broadcom's schema or SEPM would refuse answers 400 and changes nothing."""
    group = site.group(path)
    response = site.rest.request("PATCH", f"groups/{group['id']}", json=body)
    assert response.status_code == 400
    assert site.group(path) == group


def test_clients_pick_up_the_new_serial_at_their_next_heartbeat(site):
    """After a change the group's clients hold the old serial until they check in, then the new one."""
    assert (
        site.rest.request("PATCH", site.settings_url("My Company\\Sales"), json=_secure(False)).status_code
        == 200
    )
    serial = site.group("My Company\\Sales")["policySerialNumber"]

    def sales_serials() -> set[str]:
        clients = site.rest.walk("computers", page_size=50)[0]
        return {c["profileSerialNo"] for c in clients if c["group"]["name"] == "My Company\\Sales"}

    assert serial not in sales_serials()
    site.sim.site.clock.advance(600_000)
    assert sales_serials() == {serial}
