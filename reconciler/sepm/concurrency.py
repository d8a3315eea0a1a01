"""Run a batch of SEPM reads concurrently and fail like one read would.

Contract: ``run_all`` (and ``task_group``, for tasks of different types) awaits every awaitable
and returns their results in order. If any fails, the others are cancelled and ONE exception is raised,
chosen by what the caller must do about it: a permanent SEPM error (bad credentials, pin mismatch)
wins over a programming error, which wins over a transient error, so a retry loop never hides a
locked account behind a timeout. The full group stays attached as the exception's cause for the
traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine, Iterable
from typing import Any, TypeVar

from reconciler.sepm.errors import PermanentError, TransientError

T = TypeVar("T")


@contextlib.asynccontextmanager
async def task_group() -> AsyncIterator[asyncio.TaskGroup]:
    """An ``asyncio.TaskGroup`` that fails with one exception, the most significant, not a group."""
    try:
        async with asyncio.TaskGroup() as group:
            yield group
    except BaseExceptionGroup as failures:
        raise most_significant(failures) from failures


async def run_all(coroutines: Iterable[Coroutine[Any, Any, T]]) -> list[T]:
    """Await all concurrently; on failure cancel the rest and raise the most significant error."""
    pending = list(coroutines)
    async with task_group() as group:
        tasks = [group.create_task(coroutine) for coroutine in pending]
    return [task.result() for task in tasks]


def most_significant(failures: BaseExceptionGroup[BaseException]) -> BaseException:
    """The leaf of an exception group a caller must act on first (see the module docstring)."""
    leaves = list(_leaves(failures))

    def rank(error: BaseException) -> int:
        if isinstance(error, PermanentError):
            return 0
        if not isinstance(error, TransientError):
            return 1
        return 2

    return min(leaves, key=rank)


def _leaves(error: BaseException) -> Iterable[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            yield from _leaves(inner)
    else:
        yield error
