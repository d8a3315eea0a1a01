"""Trust exactly the certificates the desired state allows, and nothing else, on SEPM's REST port.

The REST port presents SEPM's own self-signed certificate: the very certificate being rotated. There
is no CA to ask, so trust is a pin: the SHA-256 fingerprints in the desired state
(``certificate.sha256`` and ``previousSha256`` of every server).

How credentials are kept from an unverified peer:
1. Before the first request, ``fetch_certificate`` reads what the port presents (nothing sent). If its
   fingerprint is not allowed: ``PinMismatch``, and no connection that could carry a password is made.
2. The HTTP client's ``SSLContext`` has a trust store holding exactly the allowed certificates seen so
   far, and ``CERT_REQUIRED``: OpenSSL refuses any other peer during the handshake, before a byte of
   HTTP (so before the password or the token) is written. ``VERIFY_X509_PARTIAL_CHAIN`` lets a
   certificate in the store be its own anchor; ``check_hostname`` is off because SEPM certificates
   rarely name the address they are reached by; time checks are off (``X509_V_FLAG_NO_CHECK_TIME``)
   because a pin is exact and rotating an expired certificate is exactly the job.
3. On top of the store, the handshake itself compares the leaf's fingerprint with the pins
   (``_PinnedSSLObject.do_handshake``): a store alone would also accept a leaf *issued by* a pinned
   certificate, which is not "exactly the allowed certificates".
4. When the server moves to another certificate, the handshake fails verification; the client reads
   the new certificate (step 1) and, if it is allowed, rebuilds the context with it.

Only a ``TrustStore`` built from allowed certificates can produce a context: ``admit`` refuses
anything else with ``PinMismatch``.
"""

from __future__ import annotations

import ssl
from typing import Any

from reconciler.model.fingerprint import fingerprint_of_der, normalize_fingerprint
from reconciler.model.observed import PresentedCertificate
from reconciler.sepm.errors import PinMismatch

# OpenSSL's X509_V_FLAG_NO_CHECK_TIME (1.1.0+); Python's ssl module has no name for it.
_NO_CHECK_TIME = 0x200000


class _PinnedContext(ssl.SSLContext):
    pins: frozenset[str] = frozenset()


def _check_pin(context: ssl.SSLContext, der: bytes | None) -> None:
    pins = getattr(context, "pins", None)
    if pins is None:
        return
    presented = fingerprint_of_der(der) if der else "(none)"
    if presented not in pins:
        raise ssl.SSLCertVerificationError(
            f"certificate pinning: the peer presented {presented}, which is not pinned"
        )


class _PinnedSSLObject(ssl.SSLObject):
    """Used by asyncio/anyio TLS streams (the async HTTP client)."""

    def do_handshake(self) -> None:
        super().do_handshake()
        _check_pin(self.context, self.getpeercert(binary_form=True))


class _PinnedSSLSocket(ssl.SSLSocket):
    """Used by blocking sockets, so a context handed to a synchronous client is just as strict."""

    def do_handshake(self, block: bool = False) -> None:
        super().do_handshake(block)
        _check_pin(self.context, self.getpeercert(binary_form=True))


class TrustStore:
    """The allowed fingerprints and the allowed certificates seen so far (their PEM)."""

    def __init__(self, allowed_fingerprints: frozenset[str]) -> None:
        if not allowed_fingerprints:
            raise ValueError("at least one allowed fingerprint is needed to trust a SEPM")
        self.allowed = frozenset(normalize_fingerprint(f) for f in allowed_fingerprints)
        self._pems: dict[str, str] = {}

    @property
    def pinned(self) -> frozenset[str]:
        """Fingerprints of the certificates currently in the trust store."""
        return frozenset(self._pems)

    def admit(self, presented: PresentedCertificate, *, where: str) -> bool:
        """Add a presented certificate if allowed; True if it was new. ``PinMismatch`` if not allowed."""
        if presented.sha256 not in self.allowed:
            raise PinMismatch(
                f"{where} presented certificate {presented.sha256} ({presented.subject}), which the "
                "desired state does not allow; no credentials were sent. If this is the intended "
                "certificate, add its sha256 to the server's certificate.sha256 or previousSha256",
                url=where,
                presented=presented.sha256,
            )
        if not presented.pem:
            raise ValueError("a certificate without its PEM cannot be put in a trust store")
        is_new = presented.sha256 not in self._pems
        self._pems[presented.sha256] = presented.pem
        return is_new

    def context(self) -> ssl.SSLContext:
        """A client context that completes a handshake only with a pinned certificate."""
        if not self._pems:
            raise ValueError("no allowed certificate has been admitted yet")
        context = _PinnedContext(ssl.PROTOCOL_TLS_CLIENT)
        context.sslobject_class = _PinnedSSLObject
        context.sslsocket_class = _PinnedSSLSocket
        context.pins = frozenset(self._pems)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_REQUIRED
        context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN | _NO_CHECK_TIME
        context.load_verify_locations(cadata="".join(self._pems.values()))
        return context


def is_verification_failure(error: BaseException) -> bool:
    """True if a (wrapped) transport error was caused by the peer's certificate failing verification."""
    seen: set[int] = set()
    current: Any = error
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLCertVerificationError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False
