"""Fixtures the simulator's tests share: the module's scenario served on loopback, and REST sessions.

A module that asks for ``sim`` (or ``session`` / ``rest``) names its site with a ``scenario``
fixture, and overrides ``seed`` when its tests depend on one (0 otherwise, the Simulator's default).
Each test gets a fresh simulator. Builders and plain helpers are in ``tests.sim.helpers``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from reconciler.sim.app import Simulator
from reconciler.sim.scenario import Scenario
from reconciler.sim.testing import SepmSession
from tests.sim.helpers import logged_on


@pytest.fixture
def seed() -> int:
    """The simulator's seed."""
    return 0


@pytest.fixture
def sim(scenario: Scenario, seed: int) -> Iterator[Simulator]:
    """The module's scenario, served on loopback for one test."""
    with Simulator(scenario, seed=seed) as running:
        yield running


@pytest.fixture
def session(sim: Simulator) -> Iterator[SepmSession]:
    """A REST session on the first server, not logged on."""
    with SepmSession(sim.endpoints["restUrl"]) as opened:
        yield opened


@pytest.fixture
def rest(sim: Simulator) -> Iterator[SepmSession]:
    """A REST session on the first server, logged on as the site's admin."""
    with logged_on(sim) as opened:
        yield opened
