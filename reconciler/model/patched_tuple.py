"""``PatchedTuple``: an immutable sequence that is a tuple with a few of its positions replaced.

Why: an incremental observation of 100,000 clients changes about a thousand of them. A new tuple of
all 100,000 costs far more than the thousand: copying it touches every client's reference count, and
the collector walks the new container once while it is young, each walk a pass over 100,000 objects
scattered in memory (together some 25 ms, ``benchmarks/README.md``). A ``PatchedTuple`` keeps the
previous snapshot's tuple as its base, already settled in the collector's oldest generation, and
holds only the replaced positions beside it.

Contract:
- It reads as the tuple it stands for: ``len``, indexing (negative too; a slice gives a tuple),
  iteration in order, ``in``, ``index``, ``count``. It equals a tuple or another ``PatchedTuple`` of
  equal items, in order, and nothing else (not a list, as a tuple does not); its hash is that tuple's.
  ``+`` and ``*`` give tuples, and it orders against tuples, as that tuple would. It is not a
  ``tuple`` instance: ``as_tuple()`` gives the tuple itself.
- It is never changed: ``patched(changes)`` gives a new one on the same base, with this one's
  replacements and ``changes`` (position -> item; a later one wins). Once the replacements outnumber
  ``len // COMPACT_DIVISOR`` it gives a plain one instead (``compacted``): reads stay close to a
  tuple's, and a base held only for a handful of its items is let go.
- ``as_tuple()`` is the tuple it stands for: the base itself when nothing is replaced, else a copy.
- As a pydantic field (``PatchedTuple[Item]``), it validates any sequence of ``Item`` (an array in
  JSON) and dumps as the tuple would (an array in JSON; ``include`` and ``exclude`` reach the items).
  An instance is validated item by item too, and kept as it is (with its base) when every item
  passes as itself, as model instances do.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any, TypeVar, get_args, overload

from pydantic import GetCoreSchemaHandler
from pydantic_core import CoreSchema, core_schema

T = TypeVar("T")
R = TypeVar("R")

COMPACT_DIVISOR = 8
"""A ``PatchedTuple`` whose replacements pass one item in this many is compacted into a plain one."""

_NO_PATCHES: Mapping[int, Any] = MappingProxyType({})


class PatchedTuple(Sequence[T]):
    """A tuple with some positions replaced (see the module docstring)."""

    __slots__ = ("_base", "_patches")

    def __init__(self, items: Iterable[T] = ()) -> None:
        """The items of ``items`` (a tuple is taken as it is), nothing replaced."""
        self._base: tuple[T, ...] = items if type(items) is tuple else tuple(items)
        self._patches: Mapping[int, T] = _NO_PATCHES

    @property
    def patch_count(self) -> int:
        """How many positions are replaced."""
        return len(self._patches)

    def shares_base(self, other: PatchedTuple[T]) -> bool:
        """Whether both stand on the same tuple (neither was built anew from the other)."""
        return self._base is other._base

    def patched(self, changes: Mapping[int, T]) -> PatchedTuple[T]:
        """This sequence with ``changes`` (position -> item) in place (see the module docstring); a
        position outside it is an ``IndexError``."""
        if not changes:
            return self
        size = len(self._base)
        for position in changes:
            if not 0 <= operator.index(position) < size or type(position) is not int:
                raise IndexError(f"position {position!r} of a sequence of {size} items")
        result = PatchedTuple(self._base)
        result._patches = {**self._patches, **changes}
        if len(result._patches) * COMPACT_DIVISOR > size:
            return result.compacted()
        return result

    def compacted(self) -> PatchedTuple[T]:
        """The same items on a base of their own, with nothing replaced."""
        return self if not self._patches else PatchedTuple(self.as_tuple())

    def as_tuple(self) -> tuple[T, ...]:
        patches = self._patches
        if not patches:
            return self._base
        return tuple(map(patches.get, range(len(self._base)), self._base))

    def __len__(self) -> int:
        return len(self._base)

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[T, ...]: ...

    def __getitem__(self, index: int | slice) -> T | tuple[T, ...]:
        if isinstance(index, slice):
            return tuple(self[i] for i in range(*index.indices(len(self._base))))
        item = self._base[index]  # raises as a tuple would
        if self._patches:
            position = operator.index(index)
            return self._patches.get(position if position >= 0 else position + len(self._base), item)
        return item

    def __iter__(self) -> Iterator[T]:
        patches = self._patches
        if not patches:
            return iter(self._base)
        # dict.get(position, base item) for each position, in C: the replaced item, else the base's.
        return map(patches.get, range(len(self._base)), self._base)

    def __reversed__(self) -> Iterator[T]:
        return reversed(self.as_tuple())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PatchedTuple):
            if self._base is other._base and self._patches == other._patches:
                return True
            return self.as_tuple() == other.as_tuple()
        if isinstance(other, tuple):
            return self.as_tuple() == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.as_tuple())

    def __lt__(self, other: object) -> bool:
        return self._with_tuple(other, lambda mine, theirs: mine < theirs)

    def __le__(self, other: object) -> bool:
        return self._with_tuple(other, lambda mine, theirs: mine <= theirs)

    def __gt__(self, other: object) -> bool:
        return self._with_tuple(other, lambda mine, theirs: mine > theirs)

    def __ge__(self, other: object) -> bool:
        return self._with_tuple(other, lambda mine, theirs: mine >= theirs)

    def __add__(self, other: object) -> tuple[Any, ...]:
        return self._with_tuple(other, lambda mine, theirs: mine + theirs)

    def __radd__(self, other: object) -> tuple[Any, ...]:
        return self._with_tuple(other, lambda mine, theirs: theirs + mine)

    def _with_tuple(self, other: object, combine: Callable[[tuple[Any, ...], tuple[Any, ...]], R]) -> R:
        """``combine`` of the tuple this stands for and ``other``'s, when ``other`` is a tuple or a
        ``PatchedTuple`` (what a tuple combines with and orders against); NotImplemented otherwise."""
        if isinstance(other, PatchedTuple):
            return combine(self.as_tuple(), other.as_tuple())
        if isinstance(other, tuple):
            return combine(self.as_tuple(), other)
        return NotImplemented  # type: ignore[no-any-return]  # the protocol's answer, not a value of R

    def __mul__(self, times: int) -> tuple[T, ...]:
        return self.as_tuple() * times

    __rmul__ = __mul__

    def __repr__(self) -> str:
        return f"PatchedTuple({self.as_tuple()!r})"

    def __reduce__(self) -> tuple[type[PatchedTuple[T]], tuple[tuple[T, ...]]]:
        return PatchedTuple, (self.as_tuple(),)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        (item,) = get_args(source) or (Any,)
        items = handler.generate_schema(tuple[item, ...])  # type: ignore[valid-type]
        from_items = core_schema.no_info_after_validator_function(cls, items)
        return core_schema.json_or_python_schema(
            json_schema=from_items,
            python_schema=core_schema.no_info_wrap_validator_function(_instance_or_items, from_items),
            serialization=core_schema.wrap_serializer_function_ser_schema(_dump, schema=items),
        )


def _dump(items: Iterable[Any], dump_items: core_schema.SerializerFunctionWrapHandler) -> Any:
    # The tuple, dumped as a tuple field is (so include/exclude reach the items); also a plain sequence
    # that ``model_copy(update=...)`` put in, unvalidated.
    return dump_items(items.as_tuple() if isinstance(items, PatchedTuple) else tuple(items))


def _instance_or_items(value: Any, validate_items: core_schema.ValidatorFunctionWrapHandler) -> Any:
    # Errors name the item, as a tuple field's would. An instance whose items all pass as themselves
    # is kept, so a snapshot built from the observer's clients shares their base.
    if not isinstance(value, PatchedTuple):
        return validate_items(value)
    validated = validate_items(value.as_tuple())
    return value if all(map(operator.is_, validated, value)) else validated
