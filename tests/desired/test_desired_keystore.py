"""Reading keystores: PEM and PKCS#12, passwords by reference, the certificate that belongs to the key."""

# Expected messages are whole sentences, compared exactly.

from __future__ import annotations

import shutil

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from reconciler.desired.keystore import KeystoreError, read_keystore
from reconciler.desired.schema import Keystore, SecretRef
from reconciler.desired.secrets import SecretError
from reconciler.model.fingerprint import fingerprint_of_der
from tests.desired.conftest import P12_PASSWORD, PEM_KEY_PASSWORD, make_certificate

pytestmark = pytest.mark.usefixtures("secrets_beside_keystores")


def test_pem_keystore_reports_certificate_and_key(keystores):
    """A PEM file yields the certificate's fingerprint, subject, RSA size and dates, and its private key."""
    contents = read_keystore(Keystore(path="keystores/good.pem"), base=keystores.folder)
    assert contents.format == "pem"
    assert contents.fingerprint == keystores.fingerprints["good.pem"]
    assert fingerprint_of_der(contents.certificate_der) == contents.fingerprint
    assert (contents.key_type, contents.key_bits) == ("RSA", 2048)
    assert contents.subject == "CN=sepm01.test.example"
    assert contents.not_before < contents.not_after
    key = serialization.load_pem_private_key(contents.key_pem, None)
    certificate = x509.load_pem_x509_certificate(contents.certificate_pem)
    form = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    assert key.public_key().public_bytes(*form) == certificate.public_key().public_bytes(*form)


def test_pkcs12_keystore_opens_with_its_password_file(keystores):
    """A PKCS#12 file opens with the password read from a file relative to the desired-state folder."""
    declared = Keystore(path="keystores/good.p12", password=SecretRef(file="p12.pass"))
    contents = read_keystore(declared, base=keystores.folder)
    assert contents.format == "pkcs12"
    assert contents.fingerprint == keystores.fingerprints["good.p12"]


def test_pkcs12_password_from_the_environment(keystores, monkeypatch):
    """The keystore password may come from an environment variable."""
    monkeypatch.setenv("SEPM_RECONCILER_TEST_P12", P12_PASSWORD)
    declared = Keystore(path="keystores/good.p12", password=SecretRef(env="SEPM_RECONCILER_TEST_P12"))
    assert read_keystore(declared, base=keystores.folder).fingerprint == keystores.fingerprints["good.p12"]


def test_pkcs12_without_a_password_opens_without_one(tmp_path):
    """A PKCS#12 file written without encryption needs no password reference."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    certificate = make_certificate(key, "sepm03.test.example")
    data = pkcs12.serialize_key_and_certificates(b"x", key, certificate, None, serialization.NoEncryption())
    (tmp_path / "open.pfx").write_bytes(data)
    contents = read_keystore(Keystore(path="open.pfx"), base=tmp_path)
    assert contents.format == "pkcs12"
    assert contents.fingerprint == fingerprint_of_der(certificate.public_bytes(serialization.Encoding.DER))


def test_pem_chain_gives_the_certificate_of_the_key(keystores):
    """In a PEM file with a CA certificate first, the certificate returned is the one the key belongs to."""
    contents = read_keystore(Keystore(path="keystores/chain.pem"), base=keystores.folder)
    assert contents.fingerprint == keystores.fingerprints["chain.pem"]
    assert contents.subject == "CN=sepm02.test.example"


def test_encrypted_pem_key_opens_with_its_password(keystores):
    """A PEM file whose key is encrypted opens with the keystore's password reference."""
    declared = Keystore(path="keystores/encrypted.pem", password=SecretRef(file="pem.pass"))
    assert (
        read_keystore(declared, base=keystores.folder).fingerprint == keystores.fingerprints["encrypted.pem"]
    )


def test_non_rsa_key_is_described_not_refused(keystores):
    """read_keystore reports an EC key as such; refusing it is the loader's policy."""
    contents = read_keystore(Keystore(path="keystores/ec.pem"), base=keystores.folder)
    assert (contents.key_type, contents.key_bits) == ("EC", 256)


@pytest.mark.parametrize(
    ("copy_as", "declared_format", "expected"),
    [
        pytest.param("sepm01.bin", None, "pem", id="pem-sniffed-without-suffix"),
        pytest.param("sepm01.crt", None, "pem", id="crt-suffix"),
        pytest.param("sepm01.p12.txt", "pem", "pem", id="declared-format-wins"),
    ],
)
def test_format_comes_from_declaration_suffix_or_content(
    keystores, tmp_path, copy_as, declared_format, expected
):
    """The declared format wins; otherwise the suffix decides, and PEM text is recognised without one."""
    shutil.copy(keystores.folder / "keystores" / "good.pem", tmp_path / copy_as)
    contents = read_keystore(Keystore(path=copy_as, format=declared_format), base=tmp_path)
    assert contents.format == expected


def test_pkcs12_is_sniffed_without_a_suffix(keystores, tmp_path):
    """Binary content without a known suffix is read as PKCS#12 (an absolute path ignores ``base``)."""
    shutil.copy(keystores.folder / "keystores" / "good.p12", tmp_path / "store")
    declared = Keystore(path=str(tmp_path / "store"), password=SecretRef(file="p12.pass"))
    contents = read_keystore(declared, base=keystores.folder)
    assert contents.format == "pkcs12"
    assert contents.path == tmp_path / "store"


@pytest.mark.parametrize(
    ("path", "password", "message"),
    [
        pytest.param(
            "keystores/encrypted.pem",
            "wrong.pass",
            "cannot read the private key in {dir}/keystores/encrypted.pem: wrong password, or not a supported key",
            id="pem-wrong-password",
        ),
        pytest.param(
            "keystores/good.pem",
            "pem.pass",
            "the private key in {dir}/keystores/good.pem is not encrypted, but keystore.password is given",
            id="pem-password-for-plain-key",
        ),
        pytest.param(
            "keystores/good.p12",
            "wrong.pass",
            "cannot open PKCS#12 keystore {dir}/keystores/good.p12: wrong password, or the file is not PKCS#12",
            id="p12-wrong-password",
        ),
        pytest.param(
            "keystores/mismatch.pem",
            None,
            "the private key in {dir}/keystores/mismatch.pem does not belong to its certificate",
            id="key-of-another-certificate",
        ),
    ],
)
def test_unusable_keystore_raises_naming_the_file_not_the_password(keystores, path, password, message):
    """A keystore that cannot be used raises KeystoreError naming the file, with no password in it."""
    declared = Keystore(path=path, password=SecretRef(file=password) if password else None)
    with pytest.raises(KeystoreError) as caught:
        read_keystore(declared, base=keystores.folder)
    assert str(caught.value) == message.format(dir=keystores.folder)
    for secret in (P12_PASSWORD, PEM_KEY_PASSWORD, "not the password"):
        assert secret not in str(caught.value)


def test_two_keys_in_one_pem_file_are_refused(keystores, tmp_path):
    """A PEM file with two private keys is ambiguous and refused."""
    good = (keystores.folder / "keystores" / "good.pem").read_bytes()
    other = (keystores.folder / "keystores" / "mismatch.pem").read_bytes()
    (tmp_path / "two.pem").write_bytes(good + other)
    with pytest.raises(KeystoreError, match="holds 2 private keys; give it exactly one"):
        read_keystore(Keystore(path="two.pem"), base=tmp_path)


def test_unresolvable_password_raises_secret_error(keystores, monkeypatch):
    """A password reference that cannot be resolved is a SecretError, distinct from a bad keystore."""
    monkeypatch.delenv("SEPM_RECONCILER_TEST_UNSET_PASSWORD", raising=False)
    declared = Keystore(
        path="keystores/good.p12", password=SecretRef(env="SEPM_RECONCILER_TEST_UNSET_PASSWORD")
    )
    with pytest.raises(SecretError, match="SEPM_RECONCILER_TEST_UNSET_PASSWORD is not set"):
        read_keystore(declared, base=keystores.folder)


def test_private_key_stays_out_of_repr_and_str(keystores):
    """Neither repr nor str of the contents shows the private key."""
    contents = read_keystore(Keystore(path="keystores/good.pem"), base=keystores.folder)
    body = b"".join(contents.key_pem.splitlines()[1:-1]).decode()
    for text in (repr(contents), str(contents)):
        assert body[:40] not in text
        assert "PRIVATE KEY" not in text
    assert contents.fingerprint in str(contents)
