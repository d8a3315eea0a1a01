"""TLS and HTTP listeners of the simulator, on real sockets on 127.0.0.1."""

from __future__ import annotations

import email.utils
import http.client
import socket
import ssl
from collections.abc import Iterator

import httpx
import pytest

from reconciler.sim.app import Simulator
from reconciler.sim.certs import fingerprint, generate_self_signed
from reconciler.sim.http import Listener, Request, Response, json_response
from reconciler.sim.scenario_files import shipped_scenarios
from reconciler.sim.testing import presented_fingerprint
from reconciler.sim.tls import CertificateSlot

HOST = "127.0.0.1"


@pytest.fixture(scope="module")
def two_pairs() -> tuple[tuple[bytes, bytes], tuple[bytes, bytes]]:
    return generate_self_signed("sepm-old"), generate_self_signed("sepm-new")


def _presented(port: int) -> str:
    return presented_fingerprint(HOST, port)


def _echo(request: Request) -> Response:
    return json_response(200, {"path": request.path, "listener": request.listener})


@pytest.fixture
def down_flag() -> dict[str, bool]:
    return {"down": False}


@pytest.fixture
def tls_listener(two_pairs, down_flag) -> Iterator[Listener]:
    old, _new = two_pairs
    listener = Listener(
        name="sepm01:rest",
        host=HOST,
        port=0,
        handler=_echo,
        slot=CertificateSlot(*old),
        now_ms=lambda: 1_700_000_000_000,
        is_down=lambda: down_flag["down"],
    )
    listener.start()
    yield listener
    listener.stop()


def test_listener_presents_the_slot_certificate(tls_listener, two_pairs):
    """A TLS listener presents exactly the certificate its slot holds."""
    old, _new = two_pairs
    assert _presented(tls_listener.port) == fingerprint(old[0])


def test_replace_swaps_for_new_connections_only(tls_listener, two_pairs):
    """After replace(), new handshakes see the new certificate while an open connection keeps the old one."""
    _old, new = two_pairs
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    open_conn = http.client.HTTPSConnection(HOST, tls_listener.port, context=context, timeout=5)
    open_conn.request("GET", "/before")
    assert open_conn.getresponse().read()
    before = open_conn.sock.getpeercert(binary_form=True)
    assert tls_listener.slot is not None
    assert tls_listener.slot.replace(*new) is True
    assert _presented(tls_listener.port) == fingerprint(new[0])
    open_conn.request("GET", "/after")
    assert open_conn.getresponse().status == 200
    assert open_conn.sock.getpeercert(binary_form=True) == before
    open_conn.close()
    assert tls_listener.slot.replace(*new) is False


def test_date_header_follows_the_simulated_clock(tls_listener):
    """The Date header is the listener's simulated time, not the host's."""
    response = httpx.get(f"https://{HOST}:{tls_listener.port}/x", verify=False)
    stamp = email.utils.parsedate_to_datetime(response.headers["Date"])
    assert int(stamp.timestamp()) == 1_700_000_000


def test_a_down_listener_resets_new_connections(tls_listener, down_flag):
    """While down, a listener keeps its port but resets every new connection before any TLS."""
    down_flag["down"] = True
    with pytest.raises((ConnectionError, ssl.SSLError, OSError)):
        _presented(tls_listener.port)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"https://{HOST}:{tls_listener.port}/x", verify=False, timeout=5)
    down_flag["down"] = False
    assert httpx.get(f"https://{HOST}:{tls_listener.port}/x", verify=False).status_code == 200


def test_drop_connections_closes_open_keep_alive_connections(tls_listener, down_flag):
    """Going down drops a connection that was already open; the next request on it gets no answer."""
    with httpx.Client(verify=False, timeout=5) as client:
        assert client.get(f"https://{HOST}:{tls_listener.port}/a").status_code == 200
        down_flag["down"] = True
        tls_listener.drop_connections()
        with pytest.raises(httpx.TransportError):
            client.get(f"https://{HOST}:{tls_listener.port}/b")


def test_a_crashing_handler_answers_a_sepm_error_without_details():
    """A handler that raises yields 500 with SEPM's error body and no exception text."""

    def crash(_request: Request) -> Response:
        raise RuntimeError("secret-internal-detail")

    listener = Listener(name="crash", host=HOST, port=0, handler=crash, slot=None, now_ms=lambda: 0)
    listener.start()
    try:
        response = httpx.get(f"http://{HOST}:{listener.port}/")
    finally:
        listener.stop()
    assert response.status_code == 500
    assert set(response.json()) == {"errorCode", "appErrorCode", "errorMessage"}
    assert "secret-internal-detail" not in response.text


def test_stop_releases_the_port():
    """After stop() nothing listens on the port any more."""
    listener = Listener(name="p", host=HOST, port=0, handler=_echo, slot=None, now_ms=lambda: 0)
    listener.start()
    port = listener.port
    listener.stop()
    with pytest.raises(OSError), socket.create_connection((HOST, port), timeout=2):
        pass


def test_request_segments_are_decoded():
    """Path segments after a prefix are percent-decoded one by one (names with spaces and slashes)."""
    request = Request("DELETE", "/sim/console/v1/msls/A%20B%2FC", {}, {}, b"", "x")
    assert request.segments_after("/sim/console/v1") == ["msls", "A B/C"]
    assert request.segments_after("/sepm/api/v1") is None


SMALL_SCENARIOS = [name for name in shipped_scenarios() if name != "large"]


@pytest.mark.parametrize("scenario", SMALL_SCENARIOS)
def test_every_shipped_scenario_serves_its_servers_certificates(scenario):
    """Each server of a shipped scenario presents its own certificate on its three TLS ports, its HTTP
    port answers 200 on /, and the endpoints carry the same fingerprints."""
    with Simulator(scenario) as sim:
        endpoints = sim.endpoints
        views = {view.name: view for view in sim.site.servers()}
        assert set(endpoints["servers"]) == set(views)
        for name, ports in endpoints["servers"].items():
            expected = fingerprint(views[name].cert_pem)
            assert ports["sha256"] == expected
            assert {_presented(ports[kind]) for kind in ("https", "console", "rest")} == {expected}
            assert httpx.get(f"http://{HOST}:{ports['http']}/").status_code == 200
            assert ports["nominalPorts"] == views[name].ports
        fingerprints = {ports["sha256"] for ports in endpoints["servers"].values()}
        assert len(fingerprints) == len(views)


def test_the_simulator_refuses_non_loopback_hosts():
    """Binding anything but a loopback address is refused before any socket is opened."""
    with pytest.raises(ValueError, match="loopback"):
        Simulator("single-server", host="0.0.0.0")
