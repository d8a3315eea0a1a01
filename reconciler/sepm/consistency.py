"""Whether one observation's groups form a tree and hold every client: the last check of a snapshot.

Contract:
- ``Consistency.check(site, groups, group_ids, clients)`` raises ``IncompleteObservation``, saying what
  and where, when the group list has no root group, when a group's parent is not in the list, or when
  a client's group is not among ``group_ids`` (the ids of ``groups``). Each is a list read while it was
  changing (a group created or deleted during the walk): observing again is the remedy.
- One ``Consistency`` per site. It remembers the paths of the last group list that passed: a list of
  the same paths in the same order (the usual case: 2,000 groups, a few of them re-read) is the same
  tree, so it is not walked again. The clients are checked every time, group by group
  (``ClientSet.outside``).
"""

from __future__ import annotations

from collections.abc import Sequence, Set
from operator import attrgetter

from reconciler.model.observed import ObservedGroup
from reconciler.sepm.client_set import ClientSet
from reconciler.sepm.errors import IncompleteObservation

_PATH = attrgetter("full_path")


class Consistency:
    """Checks the snapshots of one site (see the module docstring)."""

    def __init__(self) -> None:
        self._tree: list[str] | None = None
        """The paths of the last group list that passed, in its order."""

    def check(
        self, site: str, groups: Sequence[ObservedGroup], group_ids: Set[str], clients: ClientSet
    ) -> None:
        paths = list(map(_PATH, groups))
        if paths != self._tree:
            _check_tree(site, groups)
            self._tree = paths
        stray = clients.outside(group_ids)
        if stray is not None:
            raise IncompleteObservation(
                f"site {site}: computer {stray.name} ({stray.id}) is in group {stray.group_id}, "
                "which the group list does not have (a group created while reading?)"
            )


def _check_tree(site: str, groups: Sequence[ObservedGroup]) -> None:
    by_path = {group.full_path.casefold() for group in groups}
    if not any(group.parent_path is None for group in groups):
        raise IncompleteObservation(f"site {site}: the group list has no root group")
    for group in groups:
        parent = group.parent_path
        if parent is not None and parent.casefold() not in by_path:
            raise IncompleteObservation(
                f"site {site}: group {group.full_path} has no parent {parent} in the group list"
            )
