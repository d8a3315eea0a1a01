"""docs/runbook.md's anchors, as GitHub makes them from headings (what alerts' runbook_url point at)."""

from __future__ import annotations

import re
from pathlib import Path

RUNBOOK = Path(__file__).resolve().parents[2] / "docs" / "runbook.md"


def runbook_anchors(text: str | None = None) -> set[str]:
    """The anchors of every heading: lower case, spaces to hyphens, punctuation dropped (GitHub's rule)."""
    if text is None:
        text = RUNBOOK.read_text(encoding="utf-8")
    anchors = set()
    for match in re.finditer(r"^#{1,6}\s+(.+?)\s*$", text, flags=re.MULTILINE):
        heading = match.group(1).strip().lower()
        anchors.add(re.sub(r"[^\w\- ]", "", heading).replace(" ", "-"))
    return anchors
