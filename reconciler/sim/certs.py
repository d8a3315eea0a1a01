"""Server certificates like SEPM's own: 2048-bit RSA, self-signed, CN = the server's name.

Contract:
- ``generate_self_signed(cn)`` -> (certificate PEM, private key PEM, unencrypted PKCS#8).
- ``self_signed(key, cn, ...)`` is the one certificate builder: SEPM-like server certificates above,
  the control listener's EC certificate (``reconciler.sim.tls``) and the tests' deliberately weak ones.
- ``fingerprint(cert_pem)`` -> SHA-256 of the DER certificate, upper-case colon-separated pairs, the
  spelling SEPM's console and ``openssl x509 -fingerprint -sha256`` use.
- ``load_keystore(data, password)`` accepts a PEM bundle (certificate + key, the key optionally
  encrypted) or a PKCS#12 keystore, and returns PEM; errors never echo the password.
- ``validate_pair(cert_pem, key_pem)`` is what a certificate update checks: RSA of at least 2048 bits and
  a private key that belongs to the certificate.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

MIN_RSA_BITS = 2048


class CertificateError(ValueError):
    """A certificate or keystore cannot be used (unreadable, wrong key, too weak)."""


def generate_self_signed(common_name: str, *, not_after_days: int = 3650) -> tuple[bytes, bytes]:
    """A new 2048-bit RSA key and a self-signed certificate for it, both PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=MIN_RSA_BITS)
    # Back-date a little so that a client clock a few minutes behind still accepts the certificate.
    not_before = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    return self_signed(
        key,
        common_name,
        not_before=not_before,
        not_after=not_before + dt.timedelta(days=not_after_days),
        extensions=[
            (x509.BasicConstraints(ca=True, path_length=None), True),
            (x509.SubjectAlternativeName([x509.DNSName(common_name)]), False),
        ],
    )


def self_signed(
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    common_name: str,
    *,
    not_before: dt.datetime,
    not_after: dt.datetime,
    serial_number: int | None = None,
    extensions: Sequence[tuple[x509.ExtensionType, bool]] = (),
) -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM): a SHA-256 certificate that ``key`` signs for itself, subject and
    issuer ``CN=common_name``, a random serial unless given, ``extensions`` as (extension, critical)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number() if serial_number is None else serial_number)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    cert = builder.sign(key, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def fingerprint(cert_pem: bytes) -> str:
    """SHA-256 fingerprint of a PEM (or DER) certificate as ``AA:BB:...``."""
    cert = _load_cert(cert_pem)
    digest = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def load_keystore(data: bytes, password: bytes | None) -> tuple[bytes, bytes]:
    """(certificate PEM, unencrypted private key PEM) from a PEM bundle or a PKCS#12 keystore."""
    if b"-----BEGIN" in data:
        try:
            cert = x509.load_pem_x509_certificate(data)
        except ValueError as exc:
            raise CertificateError("the PEM data holds no readable certificate") from exc
        try:
            key = serialization.load_pem_private_key(data, password=password or None)
        except (ValueError, TypeError) as exc:
            # TypeError: a password was given for an unencrypted key, or is missing for an encrypted one.
            raise CertificateError(
                "the PEM data holds no private key readable with the given password"
            ) from exc
    else:
        try:
            loaded_key, loaded_cert, _chain = pkcs12.load_key_and_certificates(data, password or None)
        except (ValueError, TypeError) as exc:
            raise CertificateError("not a PKCS#12 keystore readable with the given password") from exc
        if loaded_key is None or loaded_cert is None:
            raise CertificateError("the PKCS#12 keystore lacks a certificate or a private key")
        cert, key = loaded_cert, loaded_key
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def validate_pair(cert_pem: bytes, key_pem: bytes) -> None:
    """Raise CertificateError unless the key is RSA >= 2048 bits and belongs to the certificate."""
    cert = _load_cert(cert_pem)
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise CertificateError("the private key is not an unencrypted PEM key") from exc
    public = cert.public_key()
    if not isinstance(key, rsa.RSAPrivateKey) or not isinstance(public, rsa.RSAPublicKey):
        raise CertificateError("SEPM server certificates must be RSA")
    if public.key_size < MIN_RSA_BITS:
        raise CertificateError(f"RSA key of {public.key_size} bits; at least {MIN_RSA_BITS} required")
    if key.public_key().public_numbers() != public.public_numbers():
        raise CertificateError("the private key does not belong to the certificate")


def common_name(cert_pem: bytes) -> str:
    """The certificate's subject CN, or '' when it has none."""
    attrs = _load_cert(cert_pem).subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else ""


def _key_pem(key: PrivateKeyTypes) -> bytes:
    """The key as unencrypted PKCS#8 PEM, the form the simulator keeps and hands out."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load_cert(data: bytes) -> x509.Certificate:
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise CertificateError("not a readable X.509 certificate") from exc
