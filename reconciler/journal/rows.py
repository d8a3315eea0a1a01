"""Reading rows back as the records of ``records``, the same way for every table.

Contract: a record's fields are named after the columns they come from, so the SELECT list is the
record's own field list (a field added to a record is read without a second list to keep in step) and a
row becomes its record by name. A field with no column of its name is given an SQL expression instead.
Values are taken as SQLite returns them: the tables are STRICT and CHECK every enumeration, so a value
of the wrong type, or outside its ``Literal``, was refused when it was written. What SQL cannot express
(a bool) the caller converts.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any, TypeVar, cast

R = TypeVar("R")

Parameter = str | int | float | None


def select(
    conn: sqlite3.Connection,
    record: type[R],
    sql: str,
    params: Sequence[Parameter] = (),
    **expressions: str,
) -> list[R]:
    """``SELECT <the record's fields> {sql}`` (``sql`` starts at FROM), each row as a ``record``.

    ``expressions`` gives the SQL of a field that is not a column of the same name.
    """
    fields = ", ".join(
        f"{expressions[name]} AS {name}" if name in expressions else name for name in _fields(record)
    )
    return [cast(R, dict(row)) for row in conn.execute(f"SELECT {fields} {sql}", params)]


def first(found: list[R]) -> R | None:
    """The first of the rows ``select`` found (a lookup by key finds one or none)."""
    return found[0] if found else None


def _fields(record: type[Any]) -> list[str]:
    # A TypedDict's annotations are its keys, in declaration order (inherited ones first).
    return list(record.__annotations__)
