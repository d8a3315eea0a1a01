"""The transaction shapes ``Journal``'s methods are made of, over one open journal file.

Contract:
- One connection behind a mutex: a thread at a time, each call of the facade one transaction.
- ``write`` is ``BEGIN IMMEDIATE`` (``schema.write_transaction``); ``read`` is a snapshot that neither
  blocks nor is blocked by a writer.
- ``change`` is the shape of every change to a rotation: one write transaction, the lease fenced in it
  (``LockLost``), the rotation loaded for writing (``UnknownRotation``, ``RotationFinished``), then the
  change function called with both and one wall-clock instant. A change cannot skip a step of this:
  the functions of ``rotations`` and ``steps`` take the ``Fenced`` only ``locks.fenced`` makes.
- ``read_rotation`` is the shape of every read about one rotation: ``UnknownRotation`` when there is
  no such rotation, at any site.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Concatenate, ParamSpec, TypeVar

from reconciler.journal import locks, rotations
from reconciler.journal.errors import UnknownRotation
from reconciler.journal.locks import Fenced
from reconciler.journal.records import Lease, RotationRow
from reconciler.journal.schema import read_transaction, write_transaction

P = ParamSpec("P")
T = TypeVar("T")


class Transactions:
    """The journal's connection, its mutex, and ``now``: the wall clock (epoch seconds) of its rows."""

    def __init__(self, conn: sqlite3.Connection, *, clock: Callable[[], float]) -> None:
        self.now = clock
        self._conn = conn
        self._mutex = threading.Lock()

    def close(self) -> None:
        with self._mutex:
            self._conn.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        with self._mutex, write_transaction(self._conn) as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        with self._mutex, read_transaction(self._conn) as conn:
            yield conn

    @contextmanager
    def fenced(self, lease: Lease) -> Iterator[Fenced]:
        """A write transaction in which ``lease`` holds its site (``LockLost`` otherwise)."""
        with self.write() as conn:
            yield locks.fenced(conn, lease, now=self.now())

    def change(
        self,
        lease: Lease,
        rotation_id: str,
        change: Callable[Concatenate[Fenced, RotationRow, P], T],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Apply ``change`` to the lease's site's rotation in progress ``rotation_id`` (module contract)."""
        with self.fenced(lease) as w:
            return change(w, rotations.for_write(w, rotation_id), *args, **kwargs)

    @contextmanager
    def read_rotation(self, rotation_id: str) -> Iterator[tuple[sqlite3.Connection, RotationRow]]:
        """A snapshot in which the rotation ``rotation_id`` exists (``UnknownRotation`` otherwise)."""
        with self.read() as conn:
            rotation = rotations.get(conn, rotation_id)
            if rotation is None:
                raise UnknownRotation(rotation_id)
            yield conn, rotation
