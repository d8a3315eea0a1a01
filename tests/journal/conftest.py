"""Fixtures for the journal tests: a fake wall clock, a fresh journal file, a lease, a rotation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from journal_helpers import CERT_A, SITE, FakeClock, original, originals_of, start

from reconciler.journal import Journal, Lease, RotationId


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def journal_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "journal.db"


@pytest.fixture
def journal(journal_path: Path, clock: FakeClock) -> Iterator[Journal]:
    with Journal(journal_path, clock=clock) as j:
        yield j


@pytest.fixture
def lease(journal: Journal) -> Lease:
    return journal.acquire_lock(SITE, owner="controller-1", ttl_seconds=30)


@pytest.fixture
def rotation(journal: Journal, lease: Lease) -> RotationId:
    return start(
        journal,
        lease,
        originals=originals_of(original("g1", "l1"), original("g2", "l2", msl="Branch MSL", secure=False)),
        original_certificates={"sepm01": CERT_A},
    )
