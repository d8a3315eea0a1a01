"""Pausing Python's cyclic garbage collector around bulk work that makes no reference cycles.

Contract:
- ``paused()`` is a context manager: automatic collection is off inside it and back as it was after,
  even on an exception. It nests (only the outermost one switches anything), so callers need not know
  of each other. It is for synchronous work only: code that awaits inside it lets every other task
  of the loop run without the collector.
- Memory is still freed by reference counting inside it; only cycles wait, and the work it wraps
  makes none.
- ``settle()`` runs a full collection now (nothing, inside a pause). For the end of work that leaves
  many new long-lived objects behind (the first read of a site: 100,000 clients): Python runs a full
  collection soon after such work anyway, walking every object, in whatever runs at that moment (a
  plan, a status request). Settling at the end of the work charges the walk to the work that caused
  it, at a moment of our choosing; it adds no work.
- ``settle_young()`` runs a collection of the young and middle generations now (nothing, inside a
  pause). For the end of work that leaves a few new containers of 100,000 references behind (a read
  that built a new tuple of every client): the collector walks such a container once while it is
  young and again in the middle generation, each walk a pass over 100,000 objects scattered in memory
  (some 6 and 8 ms, ``benchmarks/README.md``). Collecting both generations at once walks it once and
  moves it to the old generation, where only full collections look.

Why: the collector runs after every few hundred container allocations and each run walks the young
objects, and now and then every object. Bulk work over a site of 100,000 clients (a tuple per
client, say) would wake it a hundred times over objects that die at once or live for long, and the
full runs walk the whole snapshot. A pause keeps that work proportional to what is made.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_was_enabled = True


@contextmanager
def paused() -> Iterator[None]:
    global _depth, _was_enabled  # noqa: PLW0603 - one collector per process, so one switch
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()


def settle() -> None:
    """A full collection now, unless a pause is on (see the module docstring)."""
    _collect_unless_paused(2)


def settle_young() -> None:
    """A collection of the young and middle generations now, unless a pause is on (see the module
    docstring)."""
    _collect_unless_paused(1)


def _collect_unless_paused(generation: int) -> None:
    with _lock:
        if _depth:
            return
    gc.collect(generation)
