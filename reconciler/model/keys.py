"""Naming a certificate's public key the same way everywhere: ("RSA", 2048), ("EC", 256), ...

The desired-state loader (keystores must be RSA, as SEPM requires) and the TLS observer (what a server
presents) both describe keys; one function keeps their words identical.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa


def describe_key(public_key: object) -> tuple[str, int]:
    """The algorithm name and size of a public key."""
    if isinstance(public_key, rsa.RSAPublicKey):
        return "RSA", public_key.key_size
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return "EC", public_key.curve.key_size
    if isinstance(public_key, dsa.DSAPublicKey):
        return "DSA", public_key.key_size
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256
    if isinstance(public_key, ed448.Ed448PublicKey):
        return "Ed448", 456
    return type(public_key).__name__, 0
