"""Test doubles of the *server side* for the SEPM client's unit tests.

- ``FakeSepm``: a small in-memory SEPM REST API behind ``httpx.MockTransport``, with a manual clock
  (the ``Date`` header and ``serverTime`` follow it), a request log, and a queue of scripted answers
  per path to inject failures. The client under test is always the real ``SepmClient``.
- ``make_certificate``: self-signed (or issued) certificates made at test time, nothing committed.
- ``TlsServer``: a real TLS listener on 127.0.0.1 that records every byte a client sends, to prove
  that nothing (no password) reaches a peer whose certificate was refused.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import tempfile
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from reconciler.model.fingerprint import fingerprint_of_der

PASSWORD = "s3cret-Pa55word!"
USERNAME = "admin"
BASE_URL = "https://sepm.test:8446/sepm/api/v1"
START_MS = 1_750_000_000_000
Handler = Callable[[httpx.Request], httpx.Response]


def http_date(ms: int) -> str:
    return format_datetime(datetime.fromtimestamp(ms / 1000, tz=UTC), usegmt=True)


def page(items: list[dict[str, Any]], index: int, size: int, total: int | None = None) -> dict[str, Any]:
    """A Spring-style SEPM page envelope for 1-based ``index``."""
    total = len(items) if total is None else total
    chunk = items[(index - 1) * size : index * size]
    pages = max(1, -(-total // size))
    return {
        "content": chunk,
        "firstPage": index == 1,
        "lastPage": index >= pages,
        "number": index - 1,
        "numberOfElements": len(chunk),
        "size": size,
        "sort": None,
        "totalElements": total,
        "totalPages": pages,
    }


@dataclass
class FakeSepm:
    """A tiny SEPM. ``script[(method, path)]`` holds answers served before the normal behaviour."""

    now_ms: int = START_MS
    token_seconds: int = 3600
    computers: list[dict[str, Any]] = field(default_factory=list)
    groups: list[dict[str, Any]] = field(default_factory=list)
    locations: dict[str, list[str]] = field(default_factory=dict)
    settings: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    script: dict[tuple[str, str], deque[httpx.Response | Handler]] = field(
        default_factory=lambda: defaultdict(deque)
    )
    log: list[httpx.Request] = field(default_factory=list)
    tokens: dict[str, int] = field(default_factory=dict)  # token -> expiry (SEPM ms)
    issued: int = 0
    send_date: bool = True

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def add_script(self, method: str, path: str, *answers: httpx.Response | Handler) -> None:
        self.script[(method, path)].extend(answers)

    def calls(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.log if r.method == method and _path(r) == path]

    def expire_tokens(self) -> None:
        self.tokens.clear()

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.log.append(request)
        key = (request.method, _path(request))
        if self.script.get(key):
            answer = self.script[key].popleft()
            response = answer(request) if callable(answer) else answer
        else:
            response = self._route(request)
        if self.send_date and "date" not in response.headers:
            response.headers["Date"] = http_date(self.now_ms)
        return response

    def _route(self, request: httpx.Request) -> httpx.Response:
        path = _path(request)
        if path == "identity/authenticate":
            return self._authenticate(request)
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if self.tokens.get(token, 0) <= self.now_ms:
            return error(401, "token expired or invalid")
        if path == "identity/logout":
            self.tokens.pop(token, None)
            return httpx.Response(204)
        if path == "version":
            return httpx.Response(
                200, json={"API_SEQUENCE": "1", "API_VERSION": "14.3.7000", "version": "14.3.9816.7000"}
            )
        if path in ("computers", "groups"):
            items = self.computers if path == "computers" else self.groups
            if "lastUpdate" in request.url.params:
                since = int(request.url.params["lastUpdate"])
                items = [c for c in items if c.get("lastUpdateTime", 0) > since]
            index = int(request.url.params.get("pageIndex", "1"))
            size = int(request.url.params.get("pageSize", "20"))
            return httpx.Response(200, json=page(items, index, size))
        parts = path.split("/")
        if len(parts) == 3 and parts[0] == "groups" and parts[2] == "locations":
            if parts[1] not in self.locations:
                return error(410, "no such group")
            return httpx.Response(200, json=self.locations[parts[1]])
        if len(parts) == 5 and parts[0] == "groups" and parts[4] == "settings":
            key = (parts[1], parts[3])
            if key not in self.settings:
                return error(404, "no such location")
            if request.method == "PATCH":
                _merge(self.settings[key]["configuration"], json.loads(request.content)["configuration"])
                return httpx.Response(200)
            return httpx.Response(200, json=self.settings[key])
        if len(parts) == 2 and parts[0] == "groups" and request.method == "PATCH":
            return httpx.Response(200)
        if path == "replication/status":
            return httpx.Response(200, json={"replicationStatus": {"id": "1", "siteName": "hq"}})
        return error(404, f"no route {path}")

    def _authenticate(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if body.get("username") != USERNAME or body.get("password") != PASSWORD:
            return error(400, "Invalid username or password")
        self.issued += 1
        token = f"tok-{self.issued}-abcdef0123456789"
        self.tokens[token] = self.now_ms + self.token_seconds * 1000
        return httpx.Response(
            200,
            json={
                "token": token,
                "tokenExpiration": self.token_seconds,
                "refreshToken": f"refresh-{self.issued}",
                "adminId": "A1",
                "role": {"bitMask": 8},
                "domainid": "D1",
                "serverTime": self.now_ms,
            },
        )


def error(status: int, message: str, **headers: str) -> httpx.Response:
    return httpx.Response(
        status,
        json={"errorCode": str(status), "appErrorCode": "", "errorMessage": message},
        headers=headers,
    )


def _path(request: httpx.Request) -> str:
    """The path under the API root, still percent-encoded (so tests can see the quoting)."""
    return request.url.raw_path.decode("ascii").split("?", 1)[0].removeprefix("/sepm/api/v1/")


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


def settings_body(
    msl: str, *, secure: bool = True, heartbeat: int = 300, mode: str = "PULL"
) -> dict[str, Any]:
    return {
        "configuration": {
            "communication_settings": {
                "mode": mode,
                "pull_mode_heartbeat_freq_in_seconds": heartbeat,
                "sem_server": {"name": msl, "description": ""},
            },
            "general_settings": {"security_settings": {"secure_communications": secure}},
        },
        "lockedoptions": {},
    }


# -- certificates and a recording TLS server ------------------------------------------------------


@dataclass(frozen=True)
class Cert:
    pem: bytes
    key_pem: bytes
    sha256: str
    key: rsa.RSAPrivateKey
    certificate: x509.Certificate


def make_certificate(
    common_name: str,
    *,
    expired: bool = False,
    issuer: Cert | None = None,
    ca: bool = False,
    key_bits: int = 2048,
) -> Cert:
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_bits)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    not_before = now - timedelta(days=400 if expired else 1)
    not_after = now - timedelta(days=5) if expired else now + timedelta(days=365)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.certificate.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    certificate = builder.sign(issuer.key if issuer else key, hashes.SHA256())
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    der = certificate.public_bytes(serialization.Encoding.DER)
    return Cert(pem=pem, key_pem=key_pem, sha256=fingerprint_of_der(der), key=key, certificate=certificate)


class TlsServer:
    """An HTTPS-ish listener on 127.0.0.1 presenting ``cert`` (swappable); records what clients send.

    It answers any request with a minimal SEPM: authenticate gives a token, everything else {} / 200.
    """

    def __init__(self, cert: Cert, *, chain: list[Cert] | None = None) -> None:
        self.received = bytearray()
        self.handshakes = 0
        self.connections = 0
        self._dir = tempfile.TemporaryDirectory()
        self._server: asyncio.Server | None = None
        self.port = 0
        self.use(cert, chain=chain)

    def use(self, cert: Cert, *, chain: list[Cert] | None = None) -> None:
        folder = Path(self._dir.name)
        cert_file = folder / f"c{id(cert)}.pem"
        key_file = folder / f"k{id(cert)}.pem"
        cert_file.write_bytes(cert.pem + b"".join(c.pem for c in chain or []))
        key_file.write_bytes(cert.key_pem)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_file, key_file)
        self.context = context

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await writer.start_tls(self.context, ssl_handshake_timeout=5)
        except (ssl.SSLError, OSError, ConnectionError):
            writer.close()
            return
        self.handshakes += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.received += head
                length = 0
                for line in head.decode("latin-1").split("\r\n"):
                    if line.lower().startswith("content-length:"):
                        length = int(line.split(":", 1)[1])
                body = await reader.readexactly(length) if length else b""
                self.received += body
                if b"identity/authenticate" in head:
                    payload = json.dumps(
                        {"token": "tls-token", "tokenExpiration": 3600, "serverTime": START_MS}
                    )
                else:
                    payload = json.dumps({"version": "14.3.9816.7000"})
                data = payload.encode()
                # One request per connection, so that every request makes a fresh handshake.
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                    + f"Content-Length: {len(data)}\r\nDate: {http_date(START_MS)}\r\n\r\n".encode()
                    + data
                )
                await writer.drain()
                break
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError, OSError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        self._dir.cleanup()

    async def __aenter__(self) -> TlsServer:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()
