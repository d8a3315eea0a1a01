"""Where the journal lives when nobody says.

Order, first match wins:
1. ``$SEPM_RECONCILER_STATE_DIR/journal.db``: the knob for containers and tests (mount a volume there).
2. Running as root (the usual container): ``/var/lib/sepm-reconciler/journal.db``, the FHS place for
   state a service keeps across restarts.
3. Otherwise ``$XDG_STATE_HOME/sepm-reconciler/journal.db``, ``$XDG_STATE_HOME`` defaulting to
   ``~/.local/state`` (XDG base directories: state that should survive restarts but is not config).

The journal must sit on a local filesystem: SQLite's WAL mode shares memory between the processes that
open it, so every controller and CLI using one journal runs on the same host (which also means they
share one wall clock for lease expiry).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

STATE_DIR_VARIABLE = "SEPM_RECONCILER_STATE_DIR"
FILE_NAME = "journal.db"
ROOT_STATE_DIR = Path("/var/lib/sepm-reconciler")


def default_journal_path(
    environ: Mapping[str, str] | None = None, *, is_root: bool | None = None, home: Path | None = None
) -> Path:
    """The journal file to use when none is configured (see the module docstring for the order)."""
    env = os.environ if environ is None else environ
    state_dir = env.get(STATE_DIR_VARIABLE, "").strip()
    if state_dir:
        return Path(state_dir).expanduser() / FILE_NAME
    if is_root is None:
        is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    if is_root:
        return ROOT_STATE_DIR / FILE_NAME
    xdg = env.get("XDG_STATE_HOME", "").strip()
    # XDG says a relative value is invalid and must be ignored.
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else (home or Path.home()) / ".local" / "state"
    return base / "sepm-reconciler" / FILE_NAME
