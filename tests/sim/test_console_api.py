"""The simulator's console API (/sim/console/v1): MSLs, certificates, replication, report, clock, auth."""

from __future__ import annotations

import base64

import httpx
import pytest

from reconciler.sim.app import Simulator
from reconciler.sim.certs import fingerprint, generate_self_signed
from reconciler.sim.console_client import ConsoleClient, ConsoleClientError
from reconciler.sim.scenario import Scenario
from reconciler.sim.testing import console, presented_fingerprint
from tests.sim.helpers import DEFAULT_MSL, make_scenario, pkcs12_of, population, weak_pair

PASSWORD = "Console-Pa55"
KEYSTORE_PASSWORD = "keystore-Secret-42"
TLS_KINDS = ("https", "console", "rest")


@pytest.fixture
def scenario() -> Scenario:
    return make_scenario(
        "console",
        password=PASSWORD,
        servers=["sepm01", {"name": "sepm02", "ports": {"http": 8080}}],
        groups=[{"path": "My Company\\Sales"}],
        clients=[population("My Company\\Sales", 5)],
        replication_partners=[{"name": "dr-site"}],
    )


@pytest.fixture
def client(sim) -> ConsoleClient:
    return console(sim)


def _presented(sim: Simulator, server: str) -> dict[str, str]:
    ports = sim.endpoints["servers"][server]
    return {kind: presented_fingerprint("127.0.0.1", ports[kind]) for kind in TLS_KINDS}


@pytest.mark.parametrize(
    "auth",
    [
        pytest.param(None, id="none"),
        pytest.param(("admin", "wrong"), id="wrong-password"),
        pytest.param(("root", PASSWORD), id="wrong-user"),
    ],
)
def test_the_console_needs_the_admin_credentials(sim, auth):
    """Without the site's admin credentials the console answers 401 and asks for Basic auth."""
    response = httpx.get(f"{sim.endpoints['consoleUrl']}/msls", auth=auth, verify=False)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert PASSWORD not in response.text


def test_the_console_is_served_on_every_server_console_port(sim):
    """Besides the control listener, each server's console port serves the same console API."""
    port = sim.endpoints["servers"]["sepm02"]["console"]
    response = httpx.get(
        f"https://127.0.0.1:{port}/sim/console/v1/msls", auth=("admin", PASSWORD), verify=False
    )
    assert response.status_code == 200
    assert [m["name"] for m in response.json()] == [DEFAULT_MSL]


def test_list_msls_shows_servers_ports_and_assignments(client):
    """GET msls lists each MSL's protocol, servers by priority with ports, and where it is assigned."""
    (msl,) = client.call("GET", "msls")
    assert msl["name"] == DEFAULT_MSL
    assert msl["protocol"] == "https"
    assert msl["servers"] == [
        {"server": "sepm01", "priority": 1, "port": 443},
        {"server": "sepm02", "priority": 2, "port": 443},
    ]
    assert msl["assignedTo"]


def test_copy_msl_makes_an_http_copy_with_the_ports_given(client):
    """POST msls/copy creates an HTTP copy: listed ports where given, each server's HTTP port otherwise."""
    body = {"source": DEFAULT_MSL, "name": "HTTP copy", "protocol": "http", "httpPorts": {"sepm01": 8014}}
    created = client.call("POST", "msls/copy", body)
    assert created["protocol"] == "http"
    assert created["servers"] == [
        {"server": "sepm01", "priority": 1, "port": 8014},
        {"server": "sepm02", "priority": 2, "port": 8080},
    ]
    assert created["assignedTo"] == []
    assert [m["name"] for m in client.call("GET", "msls")] == [DEFAULT_MSL, "HTTP copy"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        pytest.param({"source": DEFAULT_MSL, "name": DEFAULT_MSL}, 400, id="name-taken"),
        pytest.param({"source": "Nope", "name": "X"}, 404, id="unknown-source"),
        pytest.param({"source": DEFAULT_MSL, "name": "X", "protocol": "ftp"}, 400, id="bad-protocol"),
        pytest.param(
            {"source": DEFAULT_MSL, "name": "X", "httpPorts": {"sepm01": 70000}}, 400, id="bad-port"
        ),
        pytest.param(
            {"source": DEFAULT_MSL, "name": "X", "httpPorts": {"sepm09": 8014}}, 400, id="unknown-server"
        ),
        pytest.param({"name": "X"}, 400, id="no-source"),
    ],
)
def test_bad_copies_are_refused(client, body, status):
    """An MSL copy SEPM's console would not make is refused and creates nothing."""
    with pytest.raises(ConsoleClientError, match=f"answered {status}:"):
        client.call("POST", "msls/copy", body)
    assert [m["name"] for m in client.call("GET", "msls")] == [DEFAULT_MSL]


def test_an_assigned_msl_cannot_be_deleted(client, rest):
    """DELETE msls/{name} is refused while a location uses the list, and succeeds once it is unassigned."""
    client.call("POST", "msls/copy", {"source": DEFAULT_MSL, "name": "HTTP/copy"})
    groups = {g["fullPathName"]: g for g in rest.get_json("groups")["content"]}
    root = groups["My Company"]
    url = f"groups/{root['id']}/locations/{root['defaultLocationId']}/settings"
    assign = {"configuration": {"communication_settings": {"sem_server": {"name": "HTTP/copy"}}}}
    assert rest.request("PATCH", url, json=assign).status_code == 200
    with pytest.raises(ConsoleClientError, match="answered 400:"):
        client.call("DELETE", "msls/HTTP%2Fcopy")
    back = {"configuration": {"communication_settings": {"sem_server": {"name": DEFAULT_MSL}}}}
    assert rest.request("PATCH", url, json=back).status_code == 200
    assert client.call("DELETE", "msls/HTTP%2Fcopy") is None
    assert [m["name"] for m in client.call("GET", "msls")] == [DEFAULT_MSL]
    with pytest.raises(ConsoleClientError, match="answered 404:"):
        client.call("DELETE", "msls/HTTP%2Fcopy")


def test_update_certificate_from_pem_swaps_every_port_of_that_server(sim, client, rest):
    """A PEM upload makes all three TLS ports of that server present it, leaves the other server alone,
    and bumps every group's policy serial (MSLs carry the certificates)."""
    other_before = _presented(sim, "sepm02")
    serials_before = {g["id"]: g["policySerialNumber"] for g in rest.get_json("groups")["content"]}
    cert_pem, key_pem = generate_self_signed("sepm01")
    answer = client.call(
        "POST",
        "servers/sepm01/certificate",
        {"certificate": cert_pem.decode(), "privateKey": key_pem.decode()},
    )
    assert answer == {"server": "sepm01", "sha256": fingerprint(cert_pem)}
    assert set(_presented(sim, "sepm01").values()) == {fingerprint(cert_pem)}
    assert _presented(sim, "sepm02") == other_before
    serials_after = {g["id"]: g["policySerialNumber"] for g in rest.get_json("groups")["content"]}
    assert all(serials_after[gid] != serial for gid, serial in serials_before.items())
    assert sim.endpoints["servers"]["sepm01"]["sha256"] == fingerprint(cert_pem)


def test_update_certificate_from_pkcs12_with_password(sim, client):
    """A base64 PKCS#12 keystore with its password is accepted and presented on every port."""
    cert_pem, key_pem = generate_self_signed("sepm02")
    p12 = base64.b64encode(pkcs12_of(cert_pem, key_pem, KEYSTORE_PASSWORD)).decode()
    answer = client.call("POST", "servers/sepm02/certificate", {"pkcs12": p12, "password": KEYSTORE_PASSWORD})
    assert answer["sha256"] == fingerprint(cert_pem)
    assert set(_presented(sim, "sepm02").values()) == {fingerprint(cert_pem)}


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param("wrong-password", id="wrong-password"),
        pytest.param("weak-key", id="rsa-1024"),
        pytest.param("key-mismatch", id="key-mismatch"),
        pytest.param("not-base64", id="not-base64"),
        pytest.param("unknown-server", id="unknown-server"),
    ],
)
def test_unusable_keystores_are_refused_without_echoing_secrets(sim, client, kind):
    """A keystore SEPM could not use is refused (4xx), nothing changes, and no password is echoed."""
    before = _presented(sim, "sepm01")
    cert_pem, key_pem = generate_self_signed("sepm01")
    server, expected = "sepm01", 400
    if kind == "wrong-password":
        p12 = base64.b64encode(pkcs12_of(cert_pem, key_pem, KEYSTORE_PASSWORD)).decode()
        body = {"pkcs12": p12, "password": "not-the-" + KEYSTORE_PASSWORD}
    elif kind == "weak-key":
        weak_cert, weak_key = weak_pair()
        body = {"certificate": weak_cert.decode(), "privateKey": weak_key.decode()}
    elif kind == "key-mismatch":
        _other_cert, other_key = generate_self_signed("other")
        body = {"certificate": cert_pem.decode(), "privateKey": other_key.decode()}
    elif kind == "not-base64":
        body = {"pkcs12": "***", "password": KEYSTORE_PASSWORD}
    else:
        server, expected = "sepm09", 404
        body = {"certificate": cert_pem.decode(), "privateKey": key_pem.decode()}
    with pytest.raises(ConsoleClientError, match=f"answered {expected}:") as refused:
        client.call("POST", f"servers/{server}/certificate", body)
    assert KEYSTORE_PASSWORD not in str(refused.value)
    assert _presented(sim, "sepm01") == before


def test_replication_break_and_restore_show_in_the_rest_status(client, rest):
    """Breaking replication changes the partner status REST reports; restoring brings it back."""

    def status() -> str:
        partners = rest.get_json("replication/status")["replicationStatus"]["replicationPartnerStatusList"]
        return partners[0]["status_code"]

    healthy = status()
    assert client.call("POST", "replication/break") is None
    assert status() != healthy
    assert client.call("POST", "replication/restore") is None
    assert status() == healthy


def test_report_and_events_record_console_actions(client):
    """GET report returns the engine's report, whose events name the console actor."""
    client.call("POST", "msls/copy", {"source": DEFAULT_MSL, "name": "Copy"})
    report = client.call("GET", "report")
    assert report["clients"] == 5
    assert report["orphaned"] == []
    assert any(e["action"] == "copy-msl" and e["actor"] == "console:admin" for e in report["events"])


def test_clock_reads_and_advances_simulated_time(sim, client):
    """GET clock reports simulated time and speed; POST clock/advance jumps it forward."""
    before = client.call("GET", "clock")
    assert before["speed"] == 1.0
    after = client.call("POST", "clock/advance", {"ms": 3_600_000})
    assert after["nowMs"] - before["nowMs"] >= 3_600_000
    assert sim.site.clock.now_ms() >= after["nowMs"]
    with pytest.raises(ConsoleClientError, match="answered 400:"):
        client.call("POST", "clock/advance", {"ms": -5})


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        pytest.param("GET", "nothing-here", 404, id="unknown-path"),
        pytest.param("PUT", "msls", 405, id="wrong-method"),
        pytest.param("POST", "replication/pause", 404, id="unknown-action"),
    ],
)
def test_unknown_console_requests_are_refused(client, method, path, status):
    """Paths and methods the console does not offer answer 404 / 405 with a one-line error."""
    with pytest.raises(ConsoleClientError, match=f"answered {status}:"):
        client.call(method, path)


def test_the_console_client_never_shows_credentials(sim, client):
    """The console client's repr names the URL only."""
    assert sim.endpoints["consoleUrl"] in repr(client)
    assert PASSWORD not in repr(client)
