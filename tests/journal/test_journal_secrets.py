"""Secrets stay out of the journal file, its errors and its reprs.

The API's contract is that callers pass already-redacted text; these tests pin the last line of
defence (PEM private keys are cut out of everything stored) and that nothing the journal raises or
prints carries the caller's free text.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from journal_helpers import SITE, FakeClock

from reconciler.journal import Journal, Lease, LockLost, RotationId
from reconciler.journal.hygiene import REMOVED, contains_private_key, scrub

KEY_BODY = base64.b64encode(os.urandom(96)).decode()


def _pem(label: str, *, complete: bool = True) -> str:
    end = f"\n-----END {label}-----" if complete else ""
    return f"-----BEGIN {label}-----\n{KEY_BODY}{end}"


def _file_bytes(path: Path) -> bytes:
    """The database with its WAL and shared-memory files: everything on disk."""
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


@pytest.mark.parametrize(
    "label",
    ["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "OPENSSH PRIVATE KEY"],
)
@pytest.mark.parametrize("complete", [pytest.param(True, id="whole"), pytest.param(False, id="truncated")])
def test_scrub_cuts_private_key_blocks(label: str, complete: bool) -> None:
    """Every PEM private-key block, even one cut off before its END line, is replaced by a marker."""
    suffix = "\nexit 1" if complete else ""
    text = f"openssl failed:\n{_pem(label, complete=complete)}{suffix}"
    assert contains_private_key(text)
    cleaned = scrub(text)
    assert cleaned == f"openssl failed:\n{REMOVED}{suffix}"
    assert not contains_private_key(cleaned)


def test_scrub_keeps_certificates_and_plain_text() -> None:
    """Certificates are public and ordinary text is untouched."""
    text = f"presented:\n-----BEGIN CERTIFICATE-----\n{KEY_BODY}\n-----END CERTIFICATE-----\nok"
    assert scrub(text) == text


def test_private_keys_never_reach_the_file(
    journal: Journal, lease: Lease, rotation: RotationId, journal_path: Path
) -> None:
    """A key pasted into any free text of the API is cut out before it is written to disk."""
    key = _pem("PRIVATE KEY")
    journal.record_intent(
        lease, rotation_id=rotation, step_id="s", kind="update_certificate", target="sepm01"
    )
    journal.record_failed(lease, rotation_id=rotation, step_id="s", message=f"stderr: {key}")
    journal.record_done(lease, rotation_id=rotation, step_id="t", applied_at=1, message=key)
    journal.request_ack(SITE, "u", who="ops", note=key)
    journal.request_proceed(SITE, "g", reason=key, who="ops")
    journal.request_abort(SITE, who="ops", reason=key)
    journal.set_suspended(SITE, True, who="ops", reason=key)
    assert KEY_BODY.encode() not in _file_bytes(journal_path)
    assert REMOVED in journal.steps(rotation)[0]["message"]


def test_errors_and_reprs_carry_no_free_text(
    journal: Journal, lease: Lease, rotation: RotationId, clock: FakeClock
) -> None:
    """Exceptions and reprs name sites, tokens and ids, never the message the caller passed."""
    secret_like = "password=hunter2-not-redacted"
    clock.advance(31)
    journal.acquire_lock(SITE, owner="controller-2", ttl_seconds=30)
    with pytest.raises(LockLost) as caught:
        journal.record_failed(lease, rotation_id=rotation, step_id="s", message=secret_like)
    assert secret_like not in str(caught.value)
    assert secret_like not in repr(caught.value)
    assert repr(journal) == f"Journal({str(journal.path)!r})"
    assert "hunter2" not in repr(lease)
