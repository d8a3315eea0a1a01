"""Fixtures for the desired-state tests: keystores generated at test time, and a valid site to vary.

Nothing binary is committed: every certificate and key is made here with `cryptography`, once per
session, in a temporary folder. Corpus files name keystores as ``keystores/<name>`` and fingerprints as
``${sha256:<name>}``; `Keystores.install` copies a corpus file beside the keystores with those tokens
filled in, and `Keystores.fill` does the same for an expected message (``${dir}`` is the folder).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from reconciler.desired.secret_dirs import SECRET_DIRS_VARIABLE
from reconciler.model.fingerprint import fingerprint_of_der

P12_PASSWORD = "correct horse battery staple"
PEM_KEY_PASSWORD = "pem key passphrase"
EXPIRED_ON = datetime(2020, 6, 30, 12, 0, tzinfo=UTC)
_TOKEN = re.compile(r"\$\{(sha256:[^}]+|dir)\}")

VALID_SITE = """\
site: corpus
api:
  url: https://sepm01.test.example:8446
  username: admin
  password: {env: SEPM_PASSWORD}
servers:
  - name: sepm01
    address: sepm01.test.example
    certificate:
      sha256: aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899
managementServerLists:
  - name: Default Management Server List
    servers: [sepm01]
"""


def make_certificate(
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    common_name: str,
    *,
    days: int = 365,
    expired: bool = False,
    issuer: tuple[x509.Certificate, rsa.RSAPrivateKey] | None = None,
) -> x509.Certificate:
    """A certificate for ``key``, self-signed like SEPM's or signed by ``issuer``.

    An ``expired`` one ended on EXPIRED_ON, a fixed day, so that messages quoting it are stable.
    """
    now = datetime.now(UTC)
    start, end = (
        (EXPIRED_ON - timedelta(days=365), EXPIRED_ON) if expired else (now, now + timedelta(days=days))
    )
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    issuer_name, signer = (issuer[0].subject, issuer[1]) if issuer else (subject, key)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start - timedelta(minutes=5))
        .not_valid_after(end)
        .sign(signer, hashes.SHA256())
    )


def pem_of(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def key_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, password: str | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password.encode()) if password else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


@dataclass(frozen=True)
class Keystores:
    """The generated keystores: ``folder/keystores/<name>``, and the fingerprint of each one's certificate."""

    folder: Path
    fingerprints: dict[str, str]

    def fill(self, text: str) -> str:
        """Replace ``${sha256:<name>}`` and ``${dir}`` tokens."""

        def value(match: re.Match[str]) -> str:
            token = match.group(1)
            return str(self.folder) if token == "dir" else self.fingerprints[token.removeprefix("sha256:")]

        return _TOKEN.sub(value, text)

    def install(self, source: Path, target_folder: Path | None = None) -> Path:
        """Copy a corpus file next to the keystores (or into ``target_folder``) with its tokens filled."""
        folder = target_folder or self.folder
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / source.name
        target.write_text(self.fill(source.read_text(encoding="utf-8")), encoding="utf-8")
        return target


@pytest.fixture(scope="session")
def keystores(tmp_path_factory: pytest.TempPathFactory) -> Keystores:
    """Every keystore the tests need, generated once: good, broken and mismatched ones."""
    folder = tmp_path_factory.mktemp("desired-keystores")
    store = folder / "keystores"
    store.mkdir()
    good_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    weak_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)

    good = make_certificate(good_key, "sepm01.test.example")
    expired = make_certificate(good_key, "sepm01.test.example", expired=True)
    ca = make_certificate(ca_key, "Test Root CA", days=3650)
    leaf = make_certificate(other_key, "sepm02.test.example", issuer=(ca, ca_key))
    on_ec = make_certificate(ec_key, "sepm01.test.example")
    weak = make_certificate(weak_key, "sepm01.test.example")
    certificates = {
        "good.pem": good,
        "good.p12": good,
        "expired.pem": expired,
        "ec.pem": on_ec,
        "rsa-1024.pem": weak,
        "chain.pem": leaf,
        "encrypted.pem": good,
        "mismatch.pem": good,
    }
    files = {
        "good.pem": pem_of(good) + key_pem(good_key),
        "good.p12": pkcs12.serialize_key_and_certificates(
            b"sepm01",
            good_key,
            good,
            None,
            serialization.BestAvailableEncryption(P12_PASSWORD.encode()),
        ),
        "expired.pem": pem_of(expired) + key_pem(good_key),
        "ec.pem": key_pem(ec_key) + pem_of(on_ec),
        "rsa-1024.pem": pem_of(weak) + key_pem(weak_key),
        # CA first, then the key, then the leaf: the certificate is found by its key, not by its place.
        "chain.pem": pem_of(ca) + key_pem(other_key) + pem_of(leaf),
        "encrypted.pem": pem_of(good) + key_pem(good_key, PEM_KEY_PASSWORD),
        "mismatch.pem": pem_of(good) + key_pem(other_key),
        "cert-only.pem": pem_of(good),
        "garbage.p12": bytes(range(256)) * 4,
    }
    for name, data in files.items():
        (store / name).write_bytes(data)
    (folder / "p12.pass").write_text(P12_PASSWORD + "\n", encoding="utf-8")
    (folder / "pem.pass").write_text(PEM_KEY_PASSWORD + "\n", encoding="utf-8")
    (folder / "wrong.pass").write_text("not the password\n", encoding="utf-8")
    fingerprints = {
        name: fingerprint_of_der(cert.public_bytes(serialization.Encoding.DER))
        for name, cert in certificates.items()
    }
    return Keystores(folder=folder, fingerprints=fingerprints)


@pytest.fixture
def secrets_beside_keystores(keystores: Keystores, monkeypatch: pytest.MonkeyPatch) -> None:
    """Allow ``{file: ...}`` secrets in the keystores' folder, where the tests keep their password files
    (the operator's setting, `reconciler.desired.secret_dirs`, as ``validate`` and ``run`` read it)."""
    monkeypatch.setenv(SECRET_DIRS_VARIABLE, str(keystores.folder))


@pytest.fixture
def site_folder(tmp_path: Path) -> Path:
    """An empty folder for site files of one test."""
    folder = tmp_path / "desired-state"
    folder.mkdir()
    return folder
