"""Every response the simulator's REST API gives validates against Broadcom's Swagger 2.0 definitions.

The Swagger files are read from ../shared/sepm-api/broadcom-swagger next to the repository (never
copied into it); without them the module is skipped. Each case below is one (operation, status) the
simulator serves, fetched over real HTTPS from a running Simulator:
- where Broadcom gives a response schema, the body must validate against it, converted to JSON Schema
  and made *strict* (objects that declare properties accept no others, int32/int64 ranges checked);
- where the Swagger is generic or silent, the test says so and validates against the README fact
  sheet's shape instead: ``Page.content`` items are ``{type: object}`` (checked as `Computer` /
  `Group`; in ``groups?mode=tree`` every ``childGroups`` item, at any depth, as `Group` as well, since
  Broadcom gives that array no item type), ``Settings.configuration`` is ``{type: object}`` (checked as `GroupSettingsConfiguration`),
  location lists are declared as objects but are strings, and error bodies have no schema at all;
- a status Broadcom does not list for the operation must carry the reason it is served anyway.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft4Validator, FormatChecker, ValidationError

from reconciler.sim.app import Simulator
from reconciler.sim.scenario import Scenario
from reconciler.sim.testing import SepmSession
from tests.sim.helpers import DEFAULT_MSL, logged_on, make_scenario, population

SWAGGER_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "sepm-api" / "broadcom-swagger"
AREA_FILES = ("Identity.json", "Version.json", "Computers.json", "Groups.json", "Replication.json")

pytestmark = pytest.mark.skipif(
    not SWAGGER_DIR.is_dir(),
    reason=f"Broadcom's Swagger files are read from {SWAGGER_DIR}, never copied into the project; absent",
)


def swagger_scenario() -> Scenario:
    """Two servers, an inheriting group and a location with its own settings; 14.2 clients in Sales."""
    return make_scenario(
        "swagger",
        password="Swagger-Pa55",
        groups=[
            {
                "path": "My Company\\Sales",
                "settings": {"heartbeat_seconds": 600},
                "locations": [{"name": "VPN", "settings": {"msl": DEFAULT_MSL}}],
            },
            {"path": "My Company\\Sales\\EMEA", "inherits": True},
        ],
        clients=[
            population("My Company", 12),
            population("My Company\\Sales", 9, {"14.3.9816.7000": 0.5, "14.2.1031.0100": 0.5}),
            population("My Company\\Sales\\EMEA", 4),
        ],
    )


# --- Swagger 2.0 -> strict JSON Schema ------------------------------------------------------------

INT_FORMATS = FormatChecker()


@INT_FORMATS.checks("int32")
def _int32(value: object) -> bool:
    return not isinstance(value, int) or -(2**31) <= value < 2**31


@INT_FORMATS.checks("int64")
def _int64(value: object) -> bool:
    return not isinstance(value, int) or -(2**63) <= value < 2**63


def _strict(node: Any) -> Any:
    """Forbid undeclared properties wherever Broadcom declares properties (the fields we may emit)."""
    if isinstance(node, dict):
        out = {key: _strict(value) for key, value in node.items()}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [_strict(item) for item in node]
    return node


@dataclass(frozen=True)
class SwaggerDoc:
    name: str
    data: dict[str, Any]

    def operation(self, template: str, method: str) -> dict[str, Any] | None:
        item = self.data["paths"].get(f"/api/v1/{template}")
        return None if item is None else item.get(method.lower())

    def validator(self, schema: dict[str, Any]) -> Draft4Validator:
        root = {**copy.deepcopy(schema), "definitions": _strict(self.data.get("definitions", {}))}
        return Draft4Validator(_strict(root), format_checker=INT_FORMATS)

    def definition(self, name: str) -> Draft4Validator:
        return self.validator({"$ref": f"#/definitions/{name}"})


@pytest.fixture(scope="module")
def swagger() -> dict[str, SwaggerDoc]:
    return {name: SwaggerDoc(name, json.loads((SWAGGER_DIR / name).read_text())) for name in AREA_FILES}


def find_operation(swagger: dict[str, SwaggerDoc], template: str, method: str):
    for doc in swagger.values():
        operation = doc.operation(template, method)
        if operation is not None:
            return doc, operation
    return None, None


# --- shapes the Swagger does not give (README fact sheet) ---------------------------------------

ERROR_BODY = Draft4Validator(
    {
        "type": "object",
        "required": ["errorCode", "appErrorCode", "errorMessage"],
        "additionalProperties": False,
        "properties": {
            "errorCode": {"type": "string", "pattern": "^[0-9]{3}$"},
            "appErrorCode": {"type": "string"},
            "errorMessage": {"type": "string", "minLength": 1},
        },
    }
)
LOCATION_LIST = Draft4Validator(
    {"type": "array", "items": {"type": "string", "pattern": "^[^:/]+:/.*/[0-9A-F]{32}$"}}
)


# --- the running simulator ----------------------------------------------------------------------


@dataclass
class Wire:
    sim: Simulator
    session: SepmSession
    ids: dict[str, str]

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.session.request(method, path, **kwargs)


@pytest.fixture(scope="module")
def wire() -> Iterator[Wire]:
    with Simulator(swagger_scenario(), seed=3) as sim, logged_on(sim) as session:
        groups = {g["fullPathName"]: g for g in session.get_json("groups")["content"]}
        ids = {
            "root": groups["My Company"]["id"],
            "sales": groups["My Company\\Sales"]["id"],
            "emea": groups["My Company\\Sales\\EMEA"]["id"],
            "root_loc": groups["My Company"]["defaultLocationId"],
            "sales_loc": groups["My Company\\Sales"]["defaultLocationId"],
        }
        emea_locations = session.get_json(f"groups/{ids['emea']}/locations")
        ids["emea_loc"] = emea_locations[0].rsplit("/", 1)[-1]
        yield Wire(sim, session, ids)


def _with_fault(arm: Callable[[Simulator], None], method: str, path: str, **kwargs: Any):
    def call(w: Wire) -> httpx.Response:
        arm(w.sim)
        try:
            return w.call(method, path, **kwargs)
        finally:
            w.sim.faults.clear()

    return call


def _fresh_logout(w: Wire) -> httpx.Response:
    with logged_on(w.sim) as other:
        return other.request("POST", "identity/logout")


@dataclass(frozen=True)
class Case:
    method: str
    template: str | None  # the Swagger path under /api/v1/ (None: no such operation exists)
    status: int
    call: Callable[[Wire], httpx.Response]
    undeclared: str | None = None  # why a status Broadcom does not list is served anyway


SETTINGS = "groups/{groupId}/locations/{locationId}/settings"
RETRY = "429 throttling: the fact sheet says SEPM answers it when REST throttling is enabled"
CASES = [
    pytest.param(
        Case(
            "POST",
            "identity/authenticate",
            200,
            lambda w: w.call(
                "POST",
                "identity/authenticate",
                json={"username": "admin", "password": "Swagger-Pa55", "domain": ""},
                token="",
            ),
        ),
        id="authenticate-200",
    ),
    pytest.param(
        Case(
            "POST",
            "identity/authenticate",
            200,
            lambda w: w.call(
                "POST",
                "identity/authenticate",
                json={"username": "admin", "password": "Swagger-Pa55", "domain": None},
                token="",
            ),
        ),
        id="authenticate-200-domain-null",
    ),
    pytest.param(
        Case(
            "POST",
            "identity/authenticate",
            400,
            lambda w: w.call(
                "POST",
                "identity/authenticate",
                json={"username": "admin", "password": "wrong", "domain": ""},
                token="",
            ),
        ),
        id="authenticate-400-bad-password",
    ),
    pytest.param(Case("POST", "identity/logout", 204, _fresh_logout), id="logout-204"),
    pytest.param(
        Case("POST", "identity/logout", 401, lambda w: w.call("POST", "identity/logout", token="")),
        id="logout-401",
    ),
    pytest.param(Case("GET", "version", 200, lambda w: w.call("GET", "version", token="")), id="version-200"),
    pytest.param(
        Case(
            "GET",
            "computers",
            200,
            lambda w: w.call("GET", "computers", params={"pageSize": 7, "pageIndex": 2}),
        ),
        id="computers-200-page-2",
    ),
    pytest.param(
        Case("GET", "computers", 200, lambda w: w.call("GET", "computers", params={"lastUpdate": 1})),
        id="computers-200-lastUpdate",
    ),
    pytest.param(
        Case("GET", "computers", 400, lambda w: w.call("GET", "computers", params={"pageIndex": 0})),
        id="computers-400-pageIndex-0",
    ),
    pytest.param(
        Case("GET", "computers", 401, lambda w: w.call("GET", "computers", token="")), id="computers-401"
    ),
    pytest.param(
        Case(
            "GET",
            "computers",
            500,
            _with_fault(
                lambda s: s.faults.fail_page(2), "GET", "computers", params={"pageIndex": 2, "pageSize": 5}
            ),
        ),
        id="computers-500-page-fault",
    ),
    pytest.param(
        Case(
            "GET",
            "computers",
            429,
            _with_fault(lambda s: s.faults.too_many_requests(1, retry_after_s=2), "GET", "computers"),
            undeclared=RETRY,
        ),
        id="computers-429",
    ),
    pytest.param(
        Case(
            "GET",
            "computers",
            503,
            _with_fault(lambda s: s.faults.fail_share(1.0, status=503), "GET", "computers"),
            undeclared="503: an overloaded or restarting Tomcat answers it; the fault switchboard injects it",
        ),
        id="computers-503",
    ),
    pytest.param(
        Case("GET", "groups", 200, lambda w: w.call("GET", "groups", params={"pageSize": 2})), id="groups-200"
    ),
    pytest.param(
        Case("GET", "groups", 200, lambda w: w.call("GET", "groups", params={"mode": "tree"})),
        id="groups-200-mode-tree",
    ),
    pytest.param(
        Case(
            "GET", "groups", 200, lambda w: w.call("GET", "groups", params={"mode": "TREE", "pageIndex": 2})
        ),
        id="groups-200-mode-tree-past-the-end",
    ),
    pytest.param(
        Case("GET", "groups", 400, lambda w: w.call("GET", "groups", params={"mode": "flat"})),
        id="groups-400-unknown-mode",
    ),
    pytest.param(Case("GET", "groups", 401, lambda w: w.call("GET", "groups", token="")), id="groups-401"),
    pytest.param(
        Case(
            "GET",
            "groups/{groupId}/locations",
            200,
            lambda w: w.call("GET", f"groups/{w.ids['sales']}/locations", params={"hasName": "true"}),
        ),
        id="locations-200",
    ),
    pytest.param(
        Case(
            "GET", "groups/{groupId}/locations", 410, lambda w: w.call("GET", f"groups/{'0' * 32}/locations")
        ),
        id="locations-410-unknown-group",
    ),
    pytest.param(
        Case(
            "GET",
            "groups/{groupId}/locations",
            401,
            lambda w: w.call("GET", f"groups/{w.ids['root']}/locations", token=""),
        ),
        id="locations-401",
    ),
    pytest.param(
        Case(
            "GET",
            SETTINGS,
            200,
            lambda w: w.call("GET", f"groups/{w.ids['sales']}/locations/{w.ids['sales_loc']}/settings"),
        ),
        id="settings-get-200",
    ),
    pytest.param(
        Case(
            "GET",
            SETTINGS,
            200,
            lambda w: w.call("GET", f"groups/{w.ids['emea']}/locations/{w.ids['emea_loc']}/settings"),
        ),
        id="settings-get-200-inheriting",
    ),
    pytest.param(
        Case(
            "GET",
            SETTINGS,
            404,
            lambda w: w.call("GET", f"groups/{w.ids['sales']}/locations/{'0' * 32}/settings"),
        ),
        id="settings-get-404",
    ),
    pytest.param(
        Case(
            "GET",
            SETTINGS,
            401,
            lambda w: w.call(
                "GET", f"groups/{w.ids['sales']}/locations/{w.ids['sales_loc']}/settings", token=""
            ),
        ),
        id="settings-get-401",
    ),
    pytest.param(
        Case(
            "PATCH",
            SETTINGS,
            200,
            lambda w: w.call(
                "PATCH",
                f"groups/{w.ids['sales']}/locations/{w.ids['sales_loc']}/settings",
                json={
                    "configuration": {"communication_settings": {"pull_mode_heartbeat_freq_in_seconds": 600}}
                },
            ),
        ),
        id="settings-patch-200",
    ),
    pytest.param(
        Case(
            "PATCH",
            SETTINGS,
            400,
            lambda w: w.call(
                "PATCH",
                f"groups/{w.ids['emea']}/locations/{w.ids['emea_loc']}/settings",
                json={
                    "configuration": {
                        "general_settings": {"security_settings": {"secure_communications": False}}
                    }
                },
            ),
        ),
        id="settings-patch-400-inheriting-group",
    ),
    pytest.param(
        Case(
            "PATCH",
            SETTINGS,
            400,
            lambda w: w.call(
                "PATCH",
                f"groups/{w.ids['sales']}/locations/{w.ids['sales_loc']}/settings",
                json={"configuration": {"communication_settings": {"sem_server": {"name": "No Such List"}}}},
            ),
        ),
        id="settings-patch-400-unknown-msl",
    ),
    pytest.param(
        Case(
            "PATCH",
            SETTINGS,
            400,
            lambda w: w.call(
                "PATCH",
                f"groups/{w.ids['sales']}/locations/{w.ids['sales_loc']}/settings",
                json={"configuration": {"client_log": {}}},
            ),
        ),
        id="settings-patch-400-not-simulated",
    ),
    pytest.param(
        Case(
            "PATCH",
            "groups/{groupId}",
            200,
            lambda w: w.call(
                "PATCH", f"groups/{w.ids['sales']}", json={"name": "Sales", "description": "sales team"}
            ),
        ),
        id="group-patch-200",
    ),
    pytest.param(
        Case(
            "PATCH",
            "groups/{groupId}",
            400,
            lambda w: w.call("PATCH", f"groups/{w.ids['sales']}", json={"inherits": False}),
            undeclared="400: Broadcom lists only 200 for PATCH groups/{id}, yet GroupPayload requires name",
        ),
        id="group-patch-400-no-name",
    ),
    pytest.param(
        Case(
            "PATCH",
            "groups/{groupId}",
            404,
            lambda w: w.call("PATCH", f"groups/{'0' * 32}", json={"name": "x"}),
            undeclared="404: Broadcom lists only 200 for PATCH groups/{id}; an unknown group cannot succeed",
        ),
        id="group-patch-404",
    ),
    pytest.param(
        Case("GET", "replication/status", 200, lambda w: w.call("GET", "replication/status")),
        id="replication-200",
    ),
    pytest.param(
        Case("GET", "replication/status", 401, lambda w: w.call("GET", "replication/status", token="")),
        id="replication-401",
    ),
    pytest.param(
        Case(
            "DELETE",
            "version",
            405,
            lambda w: w.call("DELETE", "version"),
            undeclared="405: the operation does not exist; Tomcat answers Method Not Allowed",
        ),
        id="version-405",
    ),
    pytest.param(
        Case("GET", None, 404, lambda w: w.call("GET", "no/such/resource")),
        id="unknown-path-404",
    ),
]


def _check_generic_parts(swagger: dict[str, SwaggerDoc], template: str, body: Any) -> None:
    """Where Broadcom's schema is ``{type: object}``, check the real shape (fact sheet) in addition."""
    if template == "computers":
        for item in body["content"]:
            swagger["Computers.json"].definition("Computer").validate(item)
    elif template == "groups":
        # Tree mode nests groups in ``childGroups``, an array Broadcom gives no item type: each item is
        # checked as a `Group` too, at every depth (the reading that validates).
        group = swagger["Groups.json"].definition("Group")
        pending = list(body["content"])
        while pending:
            item = pending.pop()
            group.validate(item)
            pending.extend(item.get("childGroups", []))
    elif template == SETTINGS:
        swagger["Groups.json"].definition("GroupSettingsConfiguration").validate(body["configuration"])
    elif template == "groups/{groupId}/locations":
        LOCATION_LIST.validate(body)


@pytest.mark.parametrize("case", CASES)
def test_response_conforms_to_broadcom_swagger(case: Case, wire: Wire, swagger: dict[str, SwaggerDoc]):
    """The simulator answers this request with the expected status and a body Broadcom's Swagger allows."""
    response = case.call(wire)
    assert response.status_code == case.status, response.text
    doc, operation = (
        (None, None) if case.template is None else find_operation(swagger, case.template, case.method)
    )
    declared = operation is not None and str(case.status) in operation["responses"]
    # A status is either declared by Broadcom or explained in the table, never both, never neither.
    assert declared == (case.undeclared is None) or case.template is None
    if case.status == 204:
        assert response.content == b""
        return
    body = response.json()
    if case.status >= 400:
        # No error schema in any Broadcom file: the fact sheet's body, with errorCode = the status.
        ERROR_BODY.validate(body)
        assert body["errorCode"] == str(case.status)
        return
    assert doc is not None
    assert operation is not None
    assert case.template is not None
    schema = operation["responses"][str(case.status)].get("schema")
    if case.template == "groups/{groupId}/locations":
        # Contradiction: Broadcom declares items {type: object}; SEPM (fact sheet) sends strings.
        assert schema == {"type": "array", "items": {"type": "object"}}
    elif schema is not None:
        doc.validator(schema).validate(body)
    else:
        # PATCH answers 200 with no schema in the Swagger; the simulator returns the object it changed.
        definition = "Group" if case.template == "groups/{groupId}" else "Settings"
        doc.definition(definition).validate(body)
    _check_generic_parts(swagger, case.template, body)


def test_every_served_operation_exists_in_the_swagger(swagger: dict[str, SwaggerDoc]):
    """Each REST operation the simulator implements is one Broadcom documents (405/404 probes aside)."""
    served = {(c.values[0].template, c.values[0].method) for c in CASES if c.values[0].status != 405}
    for template, method in served - {(None, "GET")}:
        _doc, operation = find_operation(swagger, template, method)
        assert operation is not None, f"{method} {template} is not in Broadcom's Swagger"


def _inline(node: Any, definitions: dict[str, Any], seen: tuple[str, ...] = ()) -> Any:
    """The schema with every local $ref replaced by its definition (definition names differ per file)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            name = ref.rsplit("/", 1)[-1]
            return (
                {"recursive": name}
                if name in seen
                else _inline(definitions[name], definitions, (*seen, name))
            )
        return {key: _inline(value, definitions, seen) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline(item, definitions, seen) for item in node]
    return node


def test_area_files_agree_with_the_full_file_on_served_operations(swagger: dict[str, SwaggerDoc]):
    """The per-area Swagger files and OpenAPI_SEPM_full.json give the same responses for what we serve."""
    full = json.loads((SWAGGER_DIR / "OpenAPI_SEPM_full.json").read_text())
    served = {(c.values[0].template, c.values[0].method) for c in CASES if c.values[0].template is not None}
    compared = 0
    for template, method in sorted(served):
        doc, operation = find_operation(swagger, template, method)
        if operation is None:
            continue
        in_full = full["paths"][f"/api/v1/{template}"][method.lower()]["responses"]
        area = _inline(operation["responses"], doc.data.get("definitions", {}))
        assert _inline(in_full, full["definitions"]) == area, f"{method} {template} differs"
        compared += 1
    assert compared >= 9


@pytest.mark.parametrize(
    ("definition", "body"),
    [
        pytest.param("Computer", {"uniqueId": "A", "lastHeartbeat": 1}, id="undeclared-property"),
        pytest.param("Computer", {"lastUpdateTime": 2**64}, id="int64-overflow"),
        pytest.param("Computer", {"onlineStatus": "1"}, id="wrong-type"),
        pytest.param("Group", {"id": "A"}, id="missing-required-name"),
    ],
)
def test_the_strict_validator_rejects_what_broadcom_does_not_allow(swagger, definition, body):
    """The converted schemas are not vacuous: a field, type or range Broadcom does not allow fails."""
    doc = swagger["Computers.json"] if definition == "Computer" else swagger["Groups.json"]
    assert list(doc.definition(definition).iter_errors(body))


def test_nested_tree_groups_are_checked_at_every_depth(swagger):
    """A group nested in ``childGroups`` with a field Broadcom's `Group` does not declare fails the check."""
    child = {"name": "Sales", "childGroups": [{"name": "EMEA", "parentId": "not in the Swagger"}]}
    with pytest.raises(ValidationError, match="parentId"):
        _check_generic_parts(swagger, "groups", {"content": [{"name": "My Company", "childGroups": [child]}]})
