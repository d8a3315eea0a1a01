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
- Standard library only (``urllib``, no proxy from the environment): a site script that drives the
  simulator starts in milliseconds (`reconciler.sim.console_cli`), which matters when a rehearsal
  runs a command per step at hundreds of times real speed.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

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
        self._authorization = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        if isinstance(verify, ssl.SSLContext):
            context = verify
        elif verify:
            context = ssl.create_default_context()
        else:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        # No proxy handler from the environment: the console is on loopback and must be reached directly.
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
        )

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
        request = urllib.request.Request(  # noqa: S310 - an https URL checked to be loopback
            f"{self.url}/{path.lstrip('/')}",
            data=json.dumps(body).encode() if body is not None else None,
            method=method,
            headers={
                "Authorization": self._authorization,
                "Accept": "application/json",
                "Content-Type": "application/json",
            },
        )
        try:
            with self._opener.open(request, timeout=timeout_s) as response:
                status, content, reason = response.status, response.read(), response.reason
        except urllib.error.HTTPError as error:
            status, content, reason = error.code, error.read(), error.reason
        except (urllib.error.URLError, OSError) as error:
            why = getattr(error, "reason", error)
            raise ConsoleClientError(f"cannot reach the simulator console at {self.url}: {why}") from None
        if status >= 400:
            raise ConsoleClientError(f"the console answered {status}: {_error_text(content, reason)}")
        if status == 204 or not content:
            return None
        return json.loads(content)


def quote_segment(value: str) -> str:
    """Quote one path segment (MSL names have spaces and may have slashes)."""
    return quote(value, safe="")


def _error_text(content: bytes, reason: str) -> str:
    try:
        body = json.loads(content)
    except ValueError:
        return reason or "no details"
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])
    return reason or "no details"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
