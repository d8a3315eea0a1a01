"""Certificates like SEPM's: generation, fingerprints, keystores, pair validation."""

from __future__ import annotations

import hashlib
import re

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from reconciler.sim.certs import (
    CertificateError,
    common_name,
    fingerprint,
    load_keystore,
    validate_pair,
)
from tests.sim.helpers import certificate, pkcs12_of

PASSWORD = b"keystore-secret-123"


def pair(name: str = "sepm01") -> tuple[bytes, bytes]:
    return certificate(name)


def test_generated_certificate_is_rsa_2048_self_signed_with_the_server_name():
    """generate_self_signed gives a 2048-bit RSA self-signed certificate, CN = server name, ~10 years."""
    cert_pem, key_pem = pair()
    cert = x509.load_pem_x509_certificate(cert_pem)
    public = cert.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    assert public.key_size == 2048
    assert cert.issuer == cert.subject
    assert common_name(cert_pem) == "sepm01"
    assert 3640 <= (cert.not_valid_after_utc - cert.not_valid_before_utc).days <= 3660
    validate_pair(cert_pem, key_pem)


def test_fingerprint_is_sha256_of_der_in_upper_colon_pairs():
    """fingerprint() is SHA-256 over the DER certificate, spelled AA:BB:... (PEM or DER input)."""
    cert_pem, _key = pair()
    der = x509.load_pem_x509_certificate(cert_pem).public_bytes(serialization.Encoding.DER)
    fp = fingerprint(cert_pem)
    assert re.fullmatch(r"([0-9A-F]{2}:){31}[0-9A-F]{2}", fp)
    assert fp.replace(":", "").lower() == hashlib.sha256(der).hexdigest()
    assert fingerprint(der) == fp
    assert fingerprint(pair("other")[0]) != fp


def _encrypted_pem() -> bytes:
    cert_pem, key_pem = pair()
    key = serialization.load_pem_private_key(key_pem, password=None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(PASSWORD),
    )
    return cert_pem + encrypted


def _pkcs12() -> bytes:
    return pkcs12_of(*pair(), PASSWORD)


@pytest.mark.parametrize(
    ("data", "password"),
    [
        pytest.param(lambda: pair()[0] + pair()[1], None, id="pem-bundle"),
        pytest.param(_encrypted_pem, PASSWORD, id="pem-encrypted-key"),
        pytest.param(_pkcs12, PASSWORD, id="pkcs12"),
    ],
)
def test_load_keystore_reads_pem_and_pkcs12(data, password):
    """PEM bundles (plain or encrypted key) and PKCS#12 keystores give back the same pair as PEM."""
    cert_pem, key_pem = load_keystore(data(), password)
    assert fingerprint(cert_pem) == fingerprint(pair()[0])
    validate_pair(cert_pem, key_pem)
    assert b"ENCRYPTED" not in key_pem


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(_encrypted_pem, id="pem"),
        pytest.param(_pkcs12, id="pkcs12"),
    ],
)
def test_wrong_keystore_password_fails_without_echoing_it(data):
    """A wrong password is a CertificateError whose message and cause chain never show the password."""
    wrong = b"not-the-password-456"
    with pytest.raises(CertificateError) as caught:
        load_keystore(data(), wrong)
    assert "not-the-password" not in str(caught.value)
    assert "keystore-secret" not in str(caught.value)


def test_validate_pair_rejects_a_foreign_key():
    """A key that belongs to another certificate is refused."""
    with pytest.raises(CertificateError, match="does not belong"):
        validate_pair(pair("a")[0], pair("b")[1])
