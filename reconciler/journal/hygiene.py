"""The journal's last line of defence against storing secrets.

Contract: callers redact free text before they hand it to the journal (a command actuator's output, an
HTTP error body). The journal cannot know every secret, but one kind is unmistakable and the most
damaging to leak into a file on a volume: a PEM private key, which a failing certificate-update command
may well print. ``scrub`` cuts such blocks out, even a block whose END line was truncated away, and
``contains_private_key`` lets the journal refuse a desired state that embeds one (desired state holds
references to keystores, never keys).

``clean`` is what every free text goes through on its way in: private keys cut out, then the text capped
at ``MAX_TEXT`` characters (a command's whole output does not belong in the journal either).
"""

from __future__ import annotations

import re

_PRIVATE_KEY_BLOCK = re.compile(
    r"-----BEGIN (?P<label>[A-Z0-9 ]*PRIVATE KEY)-----.*?(?:-----END (?P=label)-----|\Z)",
    re.DOTALL,
)
_PRIVATE_KEY_MARK = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")

REMOVED = "[private key removed]"

MAX_TEXT = 4000
"""Longest free text kept (messages, notes, reasons); a command's whole output does not belong here."""


def scrub(text: str) -> str:
    """``text`` with every PEM private-key block (complete or truncated) replaced by a marker."""
    return _PRIVATE_KEY_BLOCK.sub(REMOVED, text)


def contains_private_key(text: str) -> bool:
    """True when ``text`` holds the start of a PEM private-key block."""
    return _PRIVATE_KEY_MARK.search(text) is not None


def clean(text: str) -> str:
    """``text`` scrubbed, and cut to ``MAX_TEXT`` characters (the last one an ellipsis) when longer."""
    cleaned = scrub(text)
    return cleaned if len(cleaned) <= MAX_TEXT else cleaned[: MAX_TEXT - 1] + "…"
