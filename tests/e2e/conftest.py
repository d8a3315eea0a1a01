from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.cli.rehearsal import Rehearsal, prepare
from reconciler.sim.app import Simulator

SPEED = 600.0


@pytest.fixture
def rehearse(tmp_path: Path) -> Iterator[object]:
    """Start a shipped scenario's simulator and prepare a desired state for it: rehearse(name, **options)."""
    started: list[Simulator] = []

    def start(scenario: str, *, speed: float = SPEED, seed: int = 3, **options: object) -> Rehearsal:
        sim = Simulator(scenario, speed=speed, seed=seed)
        sim.start()
        started.append(sim)
        return prepare(sim, tmp_path / scenario, **options)  # type: ignore[arg-type]

    yield start
    for sim in started:
        sim.stop()


@pytest.fixture
def journal_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "journal.db"
