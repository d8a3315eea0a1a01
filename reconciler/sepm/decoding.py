"""Decoding SEPM's pages of computers and groups into just the fields the adapter reads.

A SEPM ``Computer`` has 147 fields and a site 100,000 computers; the adapter reads nine of them
(``COMPUTER_FIELDS``; adapter facts 8, 9), and five of a ``Group`` (``GROUP_FIELDS``; facts 5, 8).

Contract:
- A decoder turns one page's body into what ``json.loads`` would give, except that each element is cut
  to those fields (``computer_record``, ``group_record``): same keys, same values, others absent, and
  a computer's group, when it is an object, is a ``GroupRef`` (untracked by the collector).
- A page of computers whose every record has the types the adapter accepts (``WireComputer``: texts
  no longer than ``MAX_TEXT``, a check-in time that is a Java ``long`` of epoch ms, a group object)
  decodes into ``WireComputer`` records instead: the same fields (``get``, ``[]``: an absent field and
  a JSON null both read as absent, as the adapter reads them), with their types checked by msgspec in
  C as the page is decoded, so the adapter does not check them again record by record. Any other page
  decodes as above, and the adapter judges it field by field (a property test holds the two ways to
  the same clients and the same refusals).
- The fast way decodes only those fields, straight into small dicts: msgspec skips the others without
  building them. Whatever it does not take (a page of another shape, a group that is not an object,
  JSON it refuses, such as NaN) goes the ordinary way, ``json.loads`` then the cut, so that the paging,
  the adapter and the pipeline judge it exactly as any other body. Both ways give the same page for
  the same body (a property test holds them to it).
- A page of computers gives the collector nothing to track: each record holds only texts, numbers and
  a ``GroupRef``. (As dicts holding a dict, 100,000 records per full read were tracked, promoted
  while alive and then walked by full collections: 0.4 to 0.8 s of a full read.) Texts many
  computers repeat are shared by whoever keeps them (``reconciler.sepm.adapter.read_computer``), not
  here: the records of a page die with it.
- Errors are the decoder's own (``ValueError``, ``RecursionError``): the pipeline reports them as
  ``UnexpectedResponse``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Generic, TypedDict, TypeVar

import msgspec

E = TypeVar("E")
PageDecoder = Callable[[bytes], Any]

COMPUTER_FIELDS = (
    "uniqueId",
    "computerName",
    "group",
    "agentVersion",
    "onlineStatus",
    "lastUpdateTime",
    "profileSerialNo",
    "lastServerName",
    "deleted",
)
"""The fields of a ``Computer`` this project reads (facts 8, 9), of the 147 Broadcom documents."""
_COMPUTER_GROUP_FIELDS = ("id", "name", "fullPathName")
MAX_TEXT = 4096
"""The longest name, id, path or serial accepted: SEPM's longest (a full group path) stays well below."""
MAX_EPOCH_MS = 2**63 - 1
"""The latest check-in time accepted: a Java ``long``, SEPM's own type for it."""
GROUP_FIELDS = ("id", "fullPathName", "policyInheritanceEnabled", "policySerialNumber", "defaultLocationId")
"""The fields of a ``Group`` this project reads (facts 5, 8)."""


class GroupRef(msgspec.Struct, frozen=True, gc=False):
    """A computer's reference to its group (adapter fact 8), cut to id, name and path (absent: None).

    Not a dict, and never tracked by the collector (``gc=False``: values decoded from JSON form no
    cycles): a record holding only texts, numbers and this is not tracked either, so the records of
    a page of computers stay out of the collector's way altogether.
    """

    id: Any = None
    name: Any = None
    fullPathName: Any = None  # SEPM's own name: the decoder matches it


_Text = Annotated[str, msgspec.Meta(max_length=MAX_TEXT)]


class WireComputer(msgspec.Struct, frozen=True, gc=False):
    """A computer record of a page whose every record has the types the adapter accepts (see the module
    docstring). Read like the cut dict it stands for: ``get`` and ``[]`` see a JSON null as absent."""

    uniqueId: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_TEXT)]
    computerName: _Text | None = None
    group: GroupRef | None = None
    agentVersion: _Text | None = None
    onlineStatus: Any = None
    lastUpdateTime: Annotated[int, msgspec.Meta(ge=0, le=MAX_EPOCH_MS)] | None = None
    profileSerialNo: _Text | None = None
    lastServerName: _Text | None = None
    deleted: Any = None

    def get(self, field: str, default: Any = None) -> Any:
        value = getattr(self, field) if field in COMPUTER_FIELDS else None
        return default if value is None else value

    def __getitem__(self, field: str) -> Any:
        value = self.get(field)
        if value is None:
            raise KeyError(field)
        return value

    def as_dict(self) -> dict[str, Any]:
        """The cut dict this record stands for (``computer_record`` of SEPM's record, nulls left out)."""
        return {field: value for field in COMPUTER_FIELDS if (value := getattr(self, field)) is not None}


Element = dict[str, Any] | WireComputer
"""One element of a decoded page."""


def computer_record(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A computer record cut down to ``COMPUTER_FIELDS``, its group (an object) to a ``GroupRef``."""
    record = {field: raw[field] for field in COMPUTER_FIELDS if field in raw}
    group = record.get("group")
    if isinstance(group, dict):
        record["group"] = GroupRef(
            **{field: group[field] for field in _COMPUTER_GROUP_FIELDS if field in group}
        )
    return record


def group_record(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A group record cut down to ``GROUP_FIELDS``."""
    return {field: raw[field] for field in GROUP_FIELDS if field in raw}


# The same cuts as msgspec types: decoding into them skips every other field without building it.
class _WireComputer(TypedDict, total=False):
    uniqueId: Any
    computerName: Any
    group: GroupRef
    agentVersion: Any
    onlineStatus: Any
    lastUpdateTime: Any
    profileSerialNo: Any
    lastServerName: Any
    deleted: Any


class _WireGroup(TypedDict, total=False):
    id: Any
    fullPathName: Any
    policyInheritanceEnabled: Any
    policySerialNumber: Any
    defaultLocationId: Any


class _WirePage(msgspec.Struct, Generic[E]):
    content: list[E] | None = None
    totalElements: Any = None  # SEPM's own names: the decoder matches them
    lastPage: Any = None
    totalPages: Any = None


_TYPED_COMPUTER_PAGE = msgspec.json.Decoder(_WirePage[WireComputer])
_COMPUTER_PAGE = msgspec.json.Decoder(_WirePage[_WireComputer])
_GROUP_PAGE = msgspec.json.Decoder(_WirePage[_WireGroup])


def computer_page_decoder() -> PageDecoder:
    """A decoder for the pages of ``GET computers``."""
    return lambda body: _decode_page(body, fast=(_TYPED_COMPUTER_PAGE, _COMPUTER_PAGE), cut=computer_record)


def group_page_decoder() -> PageDecoder:
    """A decoder for the pages of ``GET groups``."""
    return lambda body: _decode_page(body, fast=(_GROUP_PAGE,), cut=group_record)


def _decode_page(
    body: bytes,
    *,
    fast: Sequence[msgspec.json.Decoder[Any]],
    cut: Callable[[Mapping[str, Any]], dict[str, Any]],
) -> Any:
    """A page as ``json.loads`` would give it, each element ``cut`` or typed (see the module docstring):
    the first of the ``fast`` decoders that takes the body decodes it."""
    for decoder in fast:
        try:
            page = decoder.decode(body)
        except (msgspec.MsgspecError, RecursionError):
            continue
        return {
            "content": page.content,
            "totalElements": page.totalElements,
            "lastPage": page.lastPage,
            "totalPages": page.totalPages,
        }
    decoded = json.loads(body)  # raises what the pipeline reports as "not JSON"
    content = decoded.get("content") if isinstance(decoded, dict) else None
    if isinstance(content, list):
        decoded["content"] = [cut(item) if isinstance(item, dict) else item for item in content]
    return decoded
