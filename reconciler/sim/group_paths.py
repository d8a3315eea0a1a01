"""Group paths as SEPM spells them: ``My Company\\Sales\\EU``, the root group first.

Scenarios name groups by path, the topology derives each group's path from its parent's, and a group
rename must not smuggle a separator into a name; all three use these.
"""

from __future__ import annotations

ROOT_GROUP = "My Company"
PATH_SEPARATOR = "\\"


def parent_path(path: str) -> str:
    """``My Company\\Sales\\EU`` -> ``My Company\\Sales``; the root's parent is ''."""
    head, sep, _tail = path.rpartition(PATH_SEPARATOR)
    return head if sep else ""
