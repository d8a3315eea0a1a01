"""A server's new certificate and private key, read from the keystore its desired state names.

Contract:
- `read_keystore(keystore, base=...)` reads a PEM file (certificate(s) and one private key, in any
  order, the key optionally encrypted) or a PKCS#12 file, with the password from the keystore's secret
  reference (read under ``dirs``, `reconciler.desired.secret_dirs`). A relative path is relative to
  ``base``, the folder of the desired-state file.
- It returns `KeystoreContents` only for a keystore that can be used: a certificate and the private key
  that belongs to it. When a PEM file carries a chain, the certificate is the one whose public key is the
  private key's. Everything else raises `KeystoreError` (naming the file; never the password, never key
  material) or `SecretError` (the password reference cannot be resolved).
- Policy (RSA only, not expired, the fingerprint the desired state declares) is the loader's business:
  this module reports what the keystore holds and does not judge it.
- The private key is kept as unencrypted PKCS#8 PEM, out of ``repr`` and ``str``, for the actuator that
  installs it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from reconciler.desired.schema import Keystore
from reconciler.desired.secret_dirs import SecretDirs
from reconciler.desired.secrets import resolve_secret
from reconciler.model.fingerprint import fingerprint_of_der
from reconciler.model.keys import describe_key

_PEM_KEY = re.compile(rb"-----BEGIN ([A-Z0-9 ]*PRIVATE KEY)-----.+?-----END \1-----", re.DOTALL)
_PKCS12_SUFFIXES = frozenset({".p12", ".pfx"})
_PEM_SUFFIXES = frozenset({".pem", ".crt", ".cer", ".key"})


class KeystoreError(Exception):
    """A keystore that cannot be used; the message names the file and says why."""


@dataclass(frozen=True)
class KeystoreContents:
    path: Path
    format: Literal["pem", "pkcs12"]
    certificate_der: bytes
    fingerprint: str
    key_type: str
    key_bits: int
    subject: str
    not_before: datetime
    not_after: datetime
    key_pem: bytes = field(repr=False)

    @property
    def certificate_pem(self) -> bytes:
        return x509.load_der_x509_certificate(self.certificate_der).public_bytes(serialization.Encoding.PEM)

    def __str__(self) -> str:
        return (
            f"{self.path}: {self.subject}, {self.key_type} {self.key_bits}-bit, {self.fingerprint}, "
            f"valid until {self.not_after:%Y-%m-%d %H:%M:%S} UTC"
        )


def keystore_path(keystore: Keystore, *, base: Path) -> Path:
    """Where the keystore file is: its path as written, relative to ``base`` unless absolute."""
    path = Path(keystore.path).expanduser()
    return path if path.is_absolute() else base / path


def read_keystore(keystore: Keystore, *, base: Path, dirs: SecretDirs | None = None) -> KeystoreContents:
    """The certificate and key of a usable keystore; raise KeystoreError or SecretError otherwise."""
    path = keystore_path(keystore, base=base)
    password = resolve_secret(keystore.password, base=base, dirs=dirs).encode() if keystore.password else None
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeystoreError(f"cannot read keystore {path}: {exc.strerror or type(exc).__name__}") from None
    kind = keystore.format or _guess_format(path, data)
    if kind == "pkcs12":
        certificate, key = _open_pkcs12(path, data, password)
    else:
        certificate, key = _open_pem(path, data, password)
    key_type, key_bits = describe_key(certificate.public_key())
    der = certificate.public_bytes(serialization.Encoding.DER)
    return KeystoreContents(
        path=path,
        format=kind,
        certificate_der=der,
        fingerprint=fingerprint_of_der(der),
        key_type=key_type,
        key_bits=key_bits,
        subject=certificate.subject.rfc4514_string(),
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        key_pem=key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )


def _guess_format(path: Path, data: bytes) -> Literal["pem", "pkcs12"]:
    suffix = path.suffix.lower()
    if suffix in _PKCS12_SUFFIXES:
        return "pkcs12"
    if suffix in _PEM_SUFFIXES:
        return "pem"
    return "pem" if b"-----BEGIN " in data else "pkcs12"


_AnyPrivateKey = (
    rsa.RSAPrivateKey
    | ec.EllipticCurvePrivateKey
    | dsa.DSAPrivateKey
    | ed25519.Ed25519PrivateKey
    | ed448.Ed448PrivateKey
)


def _open_pkcs12(path: Path, data: bytes, password: bytes | None) -> tuple[x509.Certificate, _AnyPrivateKey]:
    # Some tools write an empty password rather than none: try both when none is given.
    attempts = [password] if password is not None else [None, b""]
    for attempt in attempts:
        try:
            key, certificate, _chain = pkcs12.load_key_and_certificates(data, attempt)
        except ValueError:
            continue
        break
    else:
        hint = "wrong password, or" if password is not None else "it needs a password (keystore.password), or"
        raise KeystoreError(f"cannot open PKCS#12 keystore {path}: {hint} the file is not PKCS#12")
    if certificate is None:
        raise KeystoreError(f"PKCS#12 keystore {path} holds no certificate")
    if key is None:
        raise KeystoreError(f"PKCS#12 keystore {path} holds no private key")
    if not isinstance(key, _AnyPrivateKey):
        raise KeystoreError(f"PKCS#12 keystore {path} holds a {type(key).__name__}, which SEPM cannot use")
    if not _same_public_key(certificate, key):
        raise KeystoreError(f"the private key in {path} does not belong to its certificate")
    return certificate, key


def _open_pem(path: Path, data: bytes, password: bytes | None) -> tuple[x509.Certificate, _AnyPrivateKey]:
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise KeystoreError(f"PEM keystore {path} holds no readable certificate") from None
    keys = [match.group(0) for match in _PEM_KEY.finditer(data)]
    if not keys:
        raise KeystoreError(f"PEM keystore {path} holds no private key")
    if len(keys) > 1:
        raise KeystoreError(f"PEM keystore {path} holds {len(keys)} private keys; give it exactly one")
    try:
        key = serialization.load_pem_private_key(keys[0], password)
    except TypeError:
        # cryptography says TypeError both for "encrypted, no password" and "not encrypted, password".
        if password is None:
            raise KeystoreError(f"the private key in {path} is encrypted: give keystore.password") from None
        raise KeystoreError(
            f"the private key in {path} is not encrypted, but keystore.password is given"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise KeystoreError(
            f"cannot read the private key in {path}: wrong password, or not a supported key"
        ) from None
    if not isinstance(key, _AnyPrivateKey):
        raise KeystoreError(f"PEM keystore {path} holds a {type(key).__name__}, which SEPM cannot use")
    for certificate in certificates:
        if _same_public_key(certificate, key):
            return certificate, key
    raise KeystoreError(f"the private key in {path} does not belong to its certificate")


def _same_public_key(certificate: x509.Certificate, key: _AnyPrivateKey) -> bool:
    form = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return certificate.public_key().public_bytes(*form) == key.public_key().public_bytes(*form)
