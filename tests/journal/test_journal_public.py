"""The journal's public surface, and its use from the controller's event loop through threads."""

from __future__ import annotations

import asyncio
import inspect

import reconciler.journal as journal_package
from reconciler.journal import Journal, JournalError, Lease, RotationId

PUBLIC = {
    "AdoptionRow",
    "JournalUnreadable",
    "MAX_TEXT",
    "SCHEMA_VERSION",
    "STATE_DIR_VARIABLE",
    "GateRow",
    "HistoryRow",
    "Journal",
    "JournalError",
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
}


def test_public_names_stay_as_declared() -> None:
    """The package exports exactly the declared names, each of them importable."""
    assert set(journal_package.__all__) == PUBLIC
    for name in PUBLIC:
        assert getattr(journal_package, name) is not None


def test_every_journal_error_shares_one_root() -> None:
    """Each exception class the package exports derives from JournalError."""
    errors = [
        obj
        for name in journal_package.__all__
        if inspect.isclass(obj := getattr(journal_package, name)) and issubclass(obj, BaseException)
    ]
    assert len(errors) == 11
    assert all(issubclass(error, JournalError) for error in errors)


async def test_concurrent_calls_from_threads(journal: Journal, lease: Lease, rotation: RotationId) -> None:
    """Calls made through asyncio.to_thread at the same time are serialised, none lost or corrupted."""

    def measure(i: int) -> None:
        journal.record_gate(
            lease, rotation_id=rotation, gate_id=f"gate-{i % 3}", at=i, passed=i, in_scope=50, dormant=0
        )

    await asyncio.gather(*(asyncio.to_thread(measure, i) for i in range(50)))
    await asyncio.gather(*(asyncio.to_thread(journal.progress, rotation) for _ in range(10)))
    rows = journal.gate_measurements(rotation, limit=1000)
    assert sorted(r["at"] for r in rows) == list(range(50))
