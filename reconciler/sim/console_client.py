"""A small client of the simulator's console API (`reconciler.sim.console`), used by the CLI and tests.

Contract:
- `ConsoleClient.from_endpoints(path)` reads the endpoints file written by ``sepm-reconciler
  simulate``: the console URL, the admin credentials and the control listener's certificate, which
  the client trusts exactly (certificate pinned as the only CA; hostname checked against 127.0.0.1).
- `ConsoleClient.from_url(url, username=, password=)` is for a console URL given by hand; it refuses
  anything but a loopback host and, having no certificate to pin, does not verify TLS.
- Credentials missing from the file come from ``SEPM_SIM_USERNAME`` / ``SEPM_SIM_PASSWORD``; they are
  never taken from argv and never appear in errors or reprs.
- `call(method, path, body)` returns the decoded JSON answer (None for 204) or raises
  `ConsoleClientError` whose message is one sentence: the console's own ``error`` text when it gave one.
"""

from __future__ import annotations

import ipaddress
import json
import os
import ssl
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

USERNAME_ENV = "SEPM_SIM_USERNAME"
PASSWORD_ENV = "SEPM_SIM_PASSWORD"  # noqa: S105 - the name of the variable, not a password


class ConsoleClientError(Exception):
    """The console could not be reached or refused the request; the message says which and why."""


class ConsoleClient:
    def __init__(self, url: str, *, username: str, password: str, verify: ssl.SSLContext | bool) -> None:
        host = urlsplit(url).hostname or ""
        if not _is_loopback(host):
            raise ConsoleClientError(f"the simulator console is on loopback only; refusing host {host!r}")
        self.url = url.rstrip("/")
        self._auth = httpx.BasicAuth(username, password)
        self._verify = verify

    def __repr__(self) -> str:
        return f"ConsoleClient(url={self.url!r})"

    @classmethod
    def from_endpoints(cls, path: str | Path) -> ConsoleClient:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConsoleClientError(
                f"cannot read the endpoints file {path}: {exc.__class__.__name__}"
            ) from None
        if not isinstance(data, dict) or not isinstance(data.get("consoleUrl"), str):
            raise ConsoleClientError(f"{path} is not a simulator endpoints file (no consoleUrl)")
        username = data.get("username") or os.environ.get(USERNAME_ENV)
        password = data.get("password") or os.environ.get(PASSWORD_ENV)
        if not username or not password:
            raise ConsoleClientError(f"no credentials in {path} nor in {USERNAME_ENV} / {PASSWORD_ENV}")
        verify: ssl.SSLContext | bool = False
        if isinstance(data.get("consoleCertificate"), str):
            verify = ssl.create_default_context(cadata=data["consoleCertificate"])
        return cls(data["consoleUrl"], username=username, password=password, verify=verify)

    @classmethod
    def from_url(cls, url: str, *, username: str | None = None, password: str | None = None) -> ConsoleClient:
        username = username or os.environ.get(USERNAME_ENV)
        password = password or os.environ.get(PASSWORD_ENV)
        if not username or not password:
            raise ConsoleClientError(f"set {USERNAME_ENV} and {PASSWORD_ENV} to use --url")
        return cls(url, username=username, password=password, verify=False)

    def call(self, method: str, path: str, body: Any = None, *, timeout_s: float = 60.0) -> Any:
        """One console request; `path` is relative to the console URL (segments already quoted)."""
        try:
            with httpx.Client(verify=self._verify, auth=self._auth, timeout=timeout_s) as http:
                response = http.request(method, f"{self.url}/{path.lstrip('/')}", json=body)
        except httpx.HTTPError as exc:
            raise ConsoleClientError(f"cannot reach the simulator console at {self.url}: {exc}") from None
        if response.status_code >= 400:
            raise ConsoleClientError(f"the console answered {response.status_code}: {_error_text(response)}")
        if response.status_code == 204 or not response.content:
            return None
        return response.json()


def quote_segment(value: str) -> str:
    """Quote one path segment (MSL names have spaces and may have slashes)."""
    return quote(value, safe="")


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase or "no details"
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])
    return response.reason_phrase or "no details"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
