"""Where a running controller leaves each site's status for other processes (`sepm-reconciler status`).

One JSON file per site in a folder beside the journal, replaced atomically (write, then rename), so a
reader never sees half a status. Status is a report, not a record: losing it loses nothing (the next
reconcile writes it again), which is why it is not in the journal.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from reconciler.telemetry.status import SiteStatus


def status_folder(journal_path: Path) -> Path:
    return journal_path.parent / "status"


def write_status(folder: Path, status: SiteStatus) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{status.site}.", suffix=".json")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(status.model_dump_json(indent=2))
        os.replace(temporary, folder / f"{status.site}.json")
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def read_statuses(folder: Path) -> list[SiteStatus]:
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob("*.json")):
        try:
            found.append(SiteStatus.model_validate_json(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue  # being replaced, or from another version: the next write mends it
    return found
