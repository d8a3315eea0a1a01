"""Decoding SEPM's pages of computers and groups into just the fields the adapter reads.

A SEPM ``Computer`` has 147 fields and a site 100,000 computers; the adapter reads nine of them
(``COMPUTER_FIELDS``; adapter facts 8, 9), and five of a ``Group`` (``GROUP_FIELDS``; facts 5, 8).

Contract:
- A decoder turns one page's body into what ``json.loads`` would give, except that each element is cut
  to those fields (``computer_record``, ``group_record``): same keys, same values, others absent, and
  a computer's group, when it is an object, is a ``GroupRef`` (untracked by the collector).
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
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypedDict, TypeVar

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


_COMPUTER_PAGE = msgspec.json.Decoder(_WirePage[_WireComputer])
_GROUP_PAGE = msgspec.json.Decoder(_WirePage[_WireGroup])


def computer_page_decoder() -> PageDecoder:
    """A decoder for the pages of ``GET computers``."""
    return lambda body: _decode_page(body, fast=_COMPUTER_PAGE, cut=computer_record)


def group_page_decoder() -> PageDecoder:
    """A decoder for the pages of ``GET groups``."""
    return lambda body: _decode_page(body, fast=_GROUP_PAGE, cut=group_record)


def _decode_page(
    body: bytes,
    *,
    fast: msgspec.json.Decoder[Any],
    cut: Callable[[Mapping[str, Any]], dict[str, Any]],
) -> Any:
    """A page as ``json.loads`` would give it, each element ``cut`` (see the module docstring)."""
    try:
        page = fast.decode(body)
    except (msgspec.MsgspecError, RecursionError):
        decoded = json.loads(body)  # raises what the pipeline reports as "not JSON"
        content = decoded.get("content") if isinstance(decoded, dict) else None
        if isinstance(content, list):
            decoded["content"] = [cut(item) if isinstance(item, dict) else item for item in content]
        return decoded
    return {
        "content": page.content,
        "totalElements": page.totalElements,
        "lastPage": page.lastPage,
        "totalPages": page.totalPages,
    }
