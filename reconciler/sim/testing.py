"""Helpers for driving a running `Simulator` over the wire: tests, benchmarks, a user's own checks.

Deliberately naive and independent of the controller's SEPM client (``reconciler.sepm``), so that tests
of the simulator do not depend on the code the simulator is the oracle for:
- `SepmSession`: logon, bearer calls and full page walks against ``/sepm/api/v1`` (TLS not verified:
  the simulator's certificates are the self-signed ones under test).
- `presented_fingerprint(host, port)`: the SHA-256 of the certificate a TLS port presents now.
- `console(simulator)`: a `ConsoleClient` for the simulator's console API.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any

import httpx

from reconciler.sim.certs import fingerprint
from reconciler.sim.console_client import ConsoleClient

if TYPE_CHECKING:
    from reconciler.sim.app import Simulator


class SepmSession:
    """A REST caller of one simulated SEPM (one ``restUrl``)."""

    def __init__(self, rest_url: str, *, timeout_s: float = 30.0) -> None:
        self.rest_url = rest_url.rstrip("/")
        self.token: str | None = None
        self._http = httpx.Client(verify=False, timeout=timeout_s)  # noqa: S501 - self-signed by design

    def __enter__(self) -> SepmSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def __repr__(self) -> str:
        return f"SepmSession(rest_url={self.rest_url!r}, logged_on={self.token is not None})"

    def authenticate(self, username: str, password: str, domain: str = "") -> httpx.Response:
        """POST identity/authenticate; on 200 the token is kept for later calls."""
        response = self._http.post(
            f"{self.rest_url}/identity/authenticate",
            json={"username": username, "password": password, "domain": domain},
        )
        if response.status_code == 200:
            self.token = response.json()["token"]
        return response

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        token: str | None = None,
    ) -> httpx.Response:
        """One call; the kept bearer token is sent unless `token` overrides it ("" sends none)."""
        bearer = self.token if token is None else token
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        return self._http.request(
            method, f"{self.rest_url}/{path.lstrip('/')}", params=params, json=json, headers=headers
        )

    def get_json(self, path: str, **params: Any) -> Any:
        response = self.request("GET", path, params=params or None)
        response.raise_for_status()
        return response.json()

    def walk(self, path: str, *, page_size: int, **params: Any) -> tuple[list[dict[str, Any]], int]:
        """Every item of a paged resource, looping on ``lastPage`` as SEPM clients do; (items, pages)."""
        items: list[dict[str, Any]] = []
        page_index = 1
        while True:
            body = self.get_json(path, pageIndex=page_index, pageSize=page_size, **params)
            items.extend(body["content"])
            if body["lastPage"]:
                return items, page_index
            page_index += 1


def presented_fingerprint(host: str, port: int, *, timeout_s: float = 5.0) -> str:
    """The fingerprint (``AA:BB:...``) of the certificate presented on ``host:port`` right now."""
    pem = ssl.get_server_certificate((host, port), timeout=timeout_s)
    return fingerprint(pem.encode("ascii"))


def console(simulator: Simulator) -> ConsoleClient:
    """A console client for a started simulator (pinned to its control certificate)."""
    endpoints = simulator.endpoints
    context = ssl.create_default_context(cadata=endpoints["consoleCertificate"])
    return ConsoleClient(
        endpoints["consoleUrl"],
        username=endpoints["username"],
        password=endpoints["password"],
        verify=context,
    )
