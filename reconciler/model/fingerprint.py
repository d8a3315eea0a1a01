"""SHA-256 certificate fingerprints in one canonical spelling.

Everything that compares fingerprints (desired state, TLS observation, journal, simulator reports read
by tests) goes through `normalize_fingerprint`, so that ``9f3a...`` and ``9F:3A:...`` are the same
certificate. The canonical form is upper-case hex pairs joined by colons, as SEPM's console and
``openssl x509 -fingerprint -sha256`` print it.
"""

from __future__ import annotations

import hashlib
import re

_HEX_PAIRS = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){31}$")
_HEX_PLAIN = re.compile(r"^[0-9A-Fa-f]{64}$")


class FingerprintFormatError(ValueError):
    """A string is not a SHA-256 fingerprint (64 hex digits, optionally in colon-separated pairs)."""


def normalize_fingerprint(value: str) -> str:
    """Return the canonical ``AA:BB:...`` form of a SHA-256 fingerprint, or raise FingerprintFormatError."""
    text = value.strip()
    if _HEX_PAIRS.match(text):
        return text.upper()
    if _HEX_PLAIN.match(text):
        upper = text.upper()
        return ":".join(upper[i : i + 2] for i in range(0, 64, 2))
    raise FingerprintFormatError(
        "expected a SHA-256 fingerprint: 64 hex digits, optionally as 32 colon-separated pairs "
        f"(got {len(text)} characters)"
    )


def fingerprint_of_der(der: bytes) -> str:
    """The canonical SHA-256 fingerprint of a DER-encoded certificate."""
    return normalize_fingerprint(hashlib.sha256(der).hexdigest())
