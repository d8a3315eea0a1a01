"""The facts the planner counts about a snapshot's clients, as columns the observer hands over.

Contract:
- ``ClientColumns`` holds, for each client of one ``Observed.clients`` sequence and in its order, the
  group id, the last check-in time, the policy serial it holds and its agent version. ``by_group`` maps
  each group id that holds clients to their positions, ascending (the observer keeps it up to date as
  clients come, go and move, so no plan groups 100,000 positions again). ``clients`` is
  that very sequence: columns describe one sequence, and ``Observed.client_columns()`` hands them out
  only for the one they were built for (a copy of a snapshot with other clients gets none).
- Check-in times are unboxed (``array('q')``): SEPM's are Java longs.
- Immutable by convention: nobody writes to a column once it is built (an ``array`` cannot say so).

Why: after a real observation the 100,000 client objects lie scattered in memory, so any pass over
them costs about a tenth of a second per field read, while the observer sees each of these values
while its record is hot and keeps them up to date change by change. The planner reads these columns
when they are there and the objects otherwise (hand-built and loaded snapshots).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reconciler.model.observed import ObservedClient


@dataclass(frozen=True, eq=False)
class ClientColumns:
    """The clients of one snapshot as columns (see the module docstring)."""

    clients: Sequence[ObservedClient]
    group_id: Sequence[str]
    last_update_time: Sequence[int]
    profile_serial: Sequence[str]
    agent_version: Sequence[str]
    by_group: Mapping[str, Sequence[int]] | None = None
    """group id -> the positions of its clients, ascending; None when not built (the planner groups them)."""

    def __post_init__(self) -> None:
        size = len(self.clients)
        lengths = {
            len(column)
            for column in (self.group_id, self.last_update_time, self.profile_serial, self.agent_version)
        }
        if lengths - {size}:
            raise ValueError(f"client columns of lengths {sorted(lengths)} for {size} clients")


def positions_by_group(group_ids: Sequence[str]) -> dict[str, Sequence[int]]:
    """Group id -> the positions holding it, ascending: ``ClientColumns.by_group`` for ``group_ids``."""
    positions: defaultdict[str, list[int]] = defaultdict(list)
    for position, group_id in enumerate(group_ids):
        positions[group_id].append(position)
    return dict(positions)
