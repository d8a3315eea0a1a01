"""Fixtures for the SEPM client tests: a fake SEPM behind MockTransport and a client factory.

The client is always the real ``SepmClient``; only the server side is faked here. Sleeps are
recorded instead of slept, jitter is seeded and our monotonic clock stands still (SEPM's clock moves
only with the fake's headers), so retry and clock tests are exact and instant.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
from sepm_fakes import BASE_URL, PASSWORD, USERNAME, FakeSepm, make_certificate

from reconciler.backoff import RetryPolicy
from reconciler.sepm.client import SepmClient

ALLOWED = frozenset({make_certificate("sepm-test").sha256})


class Sleeps(list[float]):
    """An injectable async sleep that records each requested delay."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def fake() -> FakeSepm:
    return FakeSepm()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def make_client(fake: FakeSepm, sleeps: Sleeps) -> Callable[..., SepmClient]:
    def build(**options: Any) -> SepmClient:
        settings: dict[str, Any] = {
            "base_url": BASE_URL,
            "username": USERNAME,
            "password": PASSWORD,
            "allowed_fingerprints": ALLOWED,
            "transport": fake.transport,
            "retry": RetryPolicy(attempts=4, base_delay=1.0, max_delay=8.0, max_retry_after=30.0),
            "sleep": sleeps,
            "rng": random.Random(1234),
            "page_size": 3,
            "monotonic": lambda: 0.0,
        }
        settings.update(options)
        return SepmClient(**settings)

    return build
