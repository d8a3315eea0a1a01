"""``PatchedTuple`` reads as the tuple it stands for, is never changed, compacts, and is a pydantic field."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from reconciler.model import patched_tuple
from reconciler.model.patched_tuple import PatchedTuple


@st.composite
def patched_and_reference(draw: st.DrawFn) -> tuple[PatchedTuple[int], tuple[int, ...]]:
    """A PatchedTuple built by a few rounds of patches, and the tuple it must stand for."""
    base = tuple(draw(st.lists(st.integers(-5, 5), max_size=40)))
    result, reference = PatchedTuple(base), list(base)
    for _ in range(draw(st.integers(0, 4))):
        if not base:
            break
        positions = st.integers(0, len(base) - 1)
        changes = draw(st.dictionaries(positions, st.integers(-5, 5), max_size=len(base)))
        result = result.patched(changes)
        for position, item in changes.items():
            reference[position] = item
    return result, tuple(reference)


@given(patched_and_reference())
def test_it_reads_as_the_tuple_it_stands_for(case: tuple[PatchedTuple[int], tuple[int, ...]]) -> None:
    patched, reference = case
    assert len(patched) == len(reference)
    assert list(patched) == list(reference)
    assert list(reversed(patched)) == list(reversed(reference))
    assert patched.as_tuple() == reference
    for index in range(-len(reference), len(reference)):
        assert patched[index] == reference[index]
    for index in (len(reference), -len(reference) - 1):
        with pytest.raises(IndexError):
            patched[index]
    for piece in (slice(None), slice(1, -1), slice(None, None, -2), slice(3, 1)):
        assert patched[piece] == reference[piece]
        assert type(patched[piece]) is tuple
    for item in range(-6, 7):
        assert (item in patched) == (item in reference)
        assert patched.count(item) == reference.count(item)
        if item in reference:
            assert patched.index(item) == reference.index(item)


@given(patched_and_reference(), patched_and_reference())
def test_it_equals_and_hashes_as_its_tuple(
    one: tuple[PatchedTuple[int], tuple[int, ...]], other: tuple[PatchedTuple[int], tuple[int, ...]]
) -> None:
    (patched, reference), (other_patched, other_reference) = one, other
    assert patched == reference
    assert reference == patched
    assert hash(patched) == hash(reference)
    assert (patched == other_patched) == (reference == other_reference)
    assert (patched != other_reference) == (reference != other_reference)
    assert patched != list(reference)  # a tuple equals no list either
    assert (patched < other_patched) == (reference < other_reference)
    assert (patched <= other_reference) == (reference <= other_reference)
    assert (reference > other_patched) == (reference > other_reference)
    assert (patched >= other_patched) == (reference >= other_reference)
    assert patched + other_patched == reference + other_reference
    assert reference + other_patched == reference + other_reference
    assert type(patched + other_reference) is tuple
    assert patched * 2 == reference * 2 == 2 * patched
    assert pickle.loads(pickle.dumps(patched)) == reference


def test_patching_makes_a_new_one_on_the_same_base_and_leaves_the_old_one_as_it_was() -> None:
    base = PatchedTuple(range(100))
    once = base.patched({3: -3})
    twice = once.patched({3: -33, 5: -5})
    assert base.as_tuple() == tuple(range(100))
    assert once[3] == -3
    assert once[5] == 5
    assert twice[3] == -33
    assert twice[5] == -5
    assert twice.shares_base(base)
    assert once.shares_base(base)
    assert twice.patch_count == 2
    assert base.patched({}) is base


def test_it_combines_and_orders_only_with_what_a_tuple_does() -> None:
    items = PatchedTuple((1, 2))
    for other in ([3], "ab", None):
        with pytest.raises(TypeError):
            items + other  # type: ignore[operator]
        with pytest.raises(TypeError):
            other + items  # type: ignore[operator]
        with pytest.raises(TypeError):
            _ = items < other  # type: ignore[operator]


def test_a_patch_outside_the_sequence_is_refused() -> None:
    items = PatchedTuple("abc")
    for position in (3, -1):
        with pytest.raises(IndexError, match=f"position {position} of a sequence of 3"):
            items.patched({position: "x"})


def test_too_many_replacements_compact_into_a_base_of_their_own() -> None:
    size = 10 * patched_tuple.COMPACT_DIVISOR
    items = PatchedTuple(range(size))
    limit = size // patched_tuple.COMPACT_DIVISOR
    kept = items.patched({i: -i for i in range(limit)})
    assert kept.shares_base(items)
    assert kept.patch_count == limit
    compacted = kept.patched({limit: -limit})
    assert not compacted.shares_base(items)
    assert compacted.patch_count == 0
    assert compacted == tuple(-i if i <= limit else i for i in range(size))


class _Holder(BaseModel):
    items: PatchedTuple[int]


def test_as_a_pydantic_field_it_validates_items_and_dumps_as_the_tuple() -> None:
    held = _Holder(items=[1, 2, 3])  # type: ignore[arg-type]
    assert type(held.items) is PatchedTuple
    assert held.items == (1, 2, 3)
    patched = PatchedTuple((1, 2, 3)).patched({1: 20})
    assert _Holder(items=patched).items is patched
    assert _Holder(items=patched).model_dump() == {"items": (1, 20, 3)}
    assert _Holder(items=patched).model_dump_json() == '{"items":[1,20,3]}'
    assert _Holder.model_validate_json('{"items":[4,5]}').items == (4, 5)
    assert _Holder(items=patched).model_copy(update={"items": (7,)}).model_dump() == {"items": (7,)}
    with pytest.raises(ValidationError, match=r"items\.1"):
        _Holder(items=[1, "two", 3])  # type: ignore[list-item]
    assert _Holder.model_json_schema()["properties"]["items"]["type"] == "array"


class _Item(BaseModel):
    id: str
    size: int = 0


class _Items(BaseModel):
    items: PatchedTuple[_Item]


class _TupleItems(BaseModel):
    items: tuple[_Item, ...]


def test_dump_reaches_the_items_as_a_tuple_fields_does() -> None:
    items = PatchedTuple(_Item(id=f"i{n}", size=n) for n in range(3)).patched({1: _Item(id="x", size=9)})
    tuple_field = _TupleItems(items=items.as_tuple())
    for include in ({"items": {1: {"id"}}}, {"items": {"__all__": {"size"}}}):
        assert _Items(items=items).model_dump(include=include) == tuple_field.model_dump(include=include)
        assert _Items(items=items).model_dump_json(include=include) == tuple_field.model_dump_json(
            include=include
        )
    exclude = {"items": {0: True}}
    assert _Items(items=items).model_dump(exclude=exclude) == tuple_field.model_dump(exclude=exclude)


def test_an_instance_is_validated_item_by_item_and_kept_when_its_items_pass_as_themselves() -> None:
    items = PatchedTuple([_Item(id="a"), _Item(id="b")]).patched({0: _Item(id="c")})
    assert _Items(items=items).items is items
    converted = _Items(items=PatchedTuple([{"id": "d", "size": "4"}])).items  # type: ignore[list-item]
    assert converted == (_Item(id="d", size=4),)
    with pytest.raises(ValidationError, match=r"items\.1"):
        _Items(items=PatchedTuple([_Item(id="a"), 7]))  # type: ignore[list-item]


class _Position:
    def __index__(self) -> int:
        return 1


def test_positions_are_integers_as_a_tuples_are() -> None:
    items = PatchedTuple(range(10)).patched({1: -1})
    assert items[_Position()] == -1
    for position in (1.5, "1"):
        with pytest.raises(TypeError):
            items.patched({position: 0})  # type: ignore[dict-item]
    with pytest.raises(IndexError, match="position True of a sequence of 10"):
        items.patched({True: 0})
    assert items.patch_count == 1
