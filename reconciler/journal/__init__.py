"""The journal: what the controller has done, in one SQLite file, so a restart resumes safely.

Public surface (everything else in this package is private):

- ``Journal(path)``: locks with fencing tokens, rotations and their originals, step intents and
  outcomes, gate measurements, requests from people (ack, proceed, abort, suspend, resume), history.
- ``default_journal_path()``: where the file lives when nobody says.
- The row types (``TypedDict``) and ``Lease``; the errors, rooted at ``JournalError``.

See ``store`` for the contract of the whole and ``schema`` for the file's format and migrations.
"""

from reconciler.journal.errors import (
    JournalError,
    JournalUnreadable,
    LockLost,
    NoActiveRotation,
    OriginalsAlreadyRecorded,
    RotationActive,
    RotationFinished,
    SchemaTooNew,
    SiteLocked,
    StepAlreadyDone,
    UnknownRotation,
)
from reconciler.journal.hygiene import MAX_TEXT
from reconciler.journal.paths import STATE_DIR_VARIABLE, default_journal_path
from reconciler.journal.records import (
    AdoptionRow,
    GateRow,
    HistoryRow,
    Lease,
    LockRow,
    Outcome,
    RotationId,
    RotationRow,
    SiteStateRow,
    StepOutcome,
    StepRow,
)
from reconciler.journal.schema import SCHEMA_VERSION
from reconciler.journal.store import Journal

__all__ = [
    "MAX_TEXT",
    "SCHEMA_VERSION",
    "STATE_DIR_VARIABLE",
    "AdoptionRow",
    "GateRow",
    "HistoryRow",
    "Journal",
    "JournalError",
    "JournalUnreadable",
    "Lease",
    "LockLost",
    "LockRow",
    "NoActiveRotation",
    "OriginalsAlreadyRecorded",
    "Outcome",
    "RotationActive",
    "RotationFinished",
    "RotationId",
    "RotationRow",
    "SchemaTooNew",
    "SiteLocked",
    "SiteStateRow",
    "StepAlreadyDone",
    "StepOutcome",
    "StepRow",
    "UnknownRotation",
    "default_journal_path",
]
