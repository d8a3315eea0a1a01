"""Walking SEPM's paged lists, completely or not at all.

SEPM pages are 1-based (``pageIndex=1`` is the first page) and come in a Spring-style envelope:
``content[]``, ``firstPage``, ``lastPage``, ``number``, ``numberOfElements``, ``size``, ``sort``,
``totalElements``, ``totalPages``.

A walk is not a snapshot: the list can change between two pages, and nothing but the pages says so.
- **Insertions** (a client registers; with a ``lastUpdate`` filter, a client checks in and starts to
  match) push later elements forward: one can come twice, none goes missing. A new element landing
  behind the cursor is missed, but it is newer than the walk, so the next incremental read (from the
  snapshot's time, taken before the walk) brings it. So a growing ``totalElements`` is accepted, the
  latest copy of each element is kept, and at least as many distinct elements as the first page
  promised must arrive.
- **Removals** (a client deleted) pull later elements back: one can be skipped. A shrinking
  ``totalElements`` shows it, unless an insertion elsewhere made up for it. So after each page ``k+1``
  the walk reads the single element at the last position of page ``k`` again (``pageSize=1``): if it is
  one already collected, elements moved forward or not at all and nothing was skipped; otherwise they
  moved back and the walk starts over. Twice in a row is an incomplete observation. One small request
  per page is the price. The limit: a removal *and* a compensating insertion both landing in the few
  milliseconds between a page and its re-read would go unseen; no sequence of reads of a list that
  changes under them can exclude that, and SEPM's computer list changes a few times a day.
- Without a ``key`` elements cannot be told apart: nothing may change, ``totalElements`` must hold and
  the count must match it.

Bounds (``reconciler.sepm.limits``), all taken from the first page, so that neither a server that
pages without end nor one that repeats itself can make a walk cost more than the list it announced:
- a first page announcing more than ``max_elements`` is ``ResponseTooLarge``;
- at most ``walk_allowance(totalElements)`` distinct elements (the total plus slack for elements
  inserted during the walk), and ``totalElements`` may not grow past that either;
- an id may repeat across pages only as often as ``totalElements`` grew since the first page (each
  insertion before the cursor pushes one element onto the next page; nothing else repeats one), and
  never within one page;
- at most as many pages as those elements, repeats included, fill at the first page's length, plus one.
Breaking one is ``PagingInconsistent``, except repeats across pages: a removal and an insertion at
once can cause one without growth, so the walk starts over first, like for a shrinking list.

``walk_pages`` returns every element, each passed through ``parse`` as its page arrives (the raw page
is dropped then, so a walk holds one page of raw JSON at a time), or raises ``IncompleteObservation``
(``PagingInconsistent`` where a bound was broken) when
- a page still fails after the client's retries (the transient error is attached as the cause);
- an envelope lacks ``content`` or ``totalElements``, or says neither ``lastPage`` nor ``totalPages``;
- an element lacks its key, or its key is not a string or a number;
- a page before the last is empty, or ``lastPage`` is still false past ``totalPages``;
- fewer elements arrived than ``totalElements`` promised (a short read), or more than it ended at.
A permanent error on a page (credentials, pin, a body over the size limit, an element ``parse``
refuses) is not disguised: it propagates as it is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from itertools import repeat
from operator import attrgetter, methodcaller
from typing import Any, TypeVar, overload

from reconciler import collector
from reconciler.sepm.decoding import Element, WireComputer
from reconciler.sepm.errors import (
    IncompleteObservation,
    PagingInconsistent,
    ResponseTooLarge,
    TransientError,
)
from reconciler.sepm.limits import ResponseLimits

T = TypeVar("T")
PageFetcher = Callable[[int, int], Awaitable[Any]]
"""Fetch one page by its 1-based index and page size and return the decoded JSON body."""
Parse = Callable[[Any], T]
"""Turn one element of a page (an ``Element``: a dict, or for computers a ``WireComputer``) into what
the caller keeps (it may raise ``UnexpectedResponse``)."""
_ELEMENT_TYPES = (dict, WireComputer)

_DEFAULT_LIMITS = ResponseLimits()


@dataclass(frozen=True)
class _Page:
    content: list[Element]
    total_elements: int
    last_page: bool


class _ListChanged(Exception):
    """The list changed during a walk in a way that may have hidden an element."""

    def __init__(self, reason: str, *, repeats: bool = False) -> None:
        super().__init__(reason)
        self.repeats = repeats


def _read_envelope(body: Any, *, what: str, index: int) -> _Page:
    def incomplete(problem: str) -> IncompleteObservation:
        return IncompleteObservation(f"{what}: page {index} {problem}; no snapshot was taken")

    if not isinstance(body, dict):
        raise incomplete("is not a page object")
    content = body.get("content")
    if not isinstance(content, list) or not all(map(isinstance, content, repeat(_ELEMENT_TYPES))):
        raise incomplete("has no list of objects in 'content'")
    total = body.get("totalElements")
    if not isinstance(total, int) or isinstance(total, bool) or total < 0:
        raise incomplete("has no 'totalElements'")
    last = body.get("lastPage")
    total_pages = body.get("totalPages")
    if isinstance(last, bool):
        is_last = last
    elif isinstance(total_pages, int) and not isinstance(total_pages, bool):
        is_last = index >= total_pages
    else:
        raise incomplete("says neither 'lastPage' nor 'totalPages'")
    if not is_last and isinstance(total_pages, int) and index >= total_pages:
        raise incomplete(f"is not the last page although 'totalPages' is {total_pages}")
    return _Page(content=content, total_elements=total, last_page=is_last)


async def _fetch(fetch: PageFetcher, index: int, size: int, *, what: str) -> _Page:
    try:
        body = await fetch(index, size)
    except TransientError as exc:
        raise IncompleteObservation.from_error(
            f"{what}: page {index} could not be read ({exc}); no snapshot was taken", exc
        ) from exc
    return _read_envelope(body, what=what, index=index)


@dataclass(frozen=True)
class _Bounds:
    """What the first page allows a walk (see the module docstring)."""

    first_total: int
    allowed: int
    pages: int

    @classmethod
    def from_first(cls, page: _Page, *, size: int, limits: ResponseLimits, what: str) -> _Bounds:
        first_total = page.total_elements
        if first_total > limits.max_elements:
            raise ResponseTooLarge(
                f"{what}: SEPM announces {first_total:,} elements, more than the {limits.max_elements:,} "
                "allowed (max_elements), five times a very large site; check what answers at that address"
            )
        allowed = limits.walk_allowance(first_total)
        per_page = len(page.content) if page.content and not page.last_page else size
        sightings = allowed + (allowed - first_total)  # every distinct element, and repeats growth explains
        return cls(first_total=first_total, allowed=allowed, pages=-(-sightings // per_page) + 1)

    def overrun(self, what: str, problem: str) -> PagingInconsistent:
        return PagingInconsistent(
            f"{what}: {problem}, past what the first page's totalElements ({self.first_total:,}) allows "
            f"with slack ({self.allowed:,} elements, {self.pages:,} pages); SEPM pages without end or "
            "the list grew beyond the slack; no snapshot was taken"
        )


def _identity(element: Element, key: str, *, what: str, index: int) -> str | int:
    identity = element.get(key)
    if identity is None:
        raise IncompleteObservation(f"{what}: page {index} has an element without '{key}'")
    if not isinstance(identity, str | int) or isinstance(identity, bool):
        raise IncompleteObservation(f"{what}: page {index} has an element whose '{key}' is not an id")
    return identity


async def _walk_once(
    fetch: PageFetcher, *, what: str, key: str | None, size: int, parse: Parse[T], limits: ResponseLimits
) -> list[T]:
    items: dict[str | int, T] = {}
    ordered: list[T] = []
    page = await _fetch(fetch, 1, size, what=what)
    bounds = _Bounds.from_first(page, size=size, limits=limits, what=what)
    total = bounds.first_total
    repeats = 0
    index = 1
    while True:
        if page.total_elements < total or (key is None and page.total_elements != total):
            raise _ListChanged(f"totalElements went from {total} to {page.total_elements}")
        total = page.total_elements
        if total > bounds.allowed:
            raise bounds.overrun(what, f"totalElements grew to {total:,} during the walk")
        count = len(page.content)
        # A page is read in one go: its elements are parsed, then released before the next await, so
        # that a walk holds one page of raw JSON and the page's records die young, never promoted by
        # the collector (`reconciler.collector`: parsing makes no reference cycles).
        with collector.paused():
            if key is None:
                ordered.extend(parse(element) for element in page.content)
            else:
                repeats += _collect(page.content, items, key=key, parse=parse, what=what, index=index)
        page = replace(page, content=[])  # the raw elements go now (unless the fetcher keeps them)
        if key is not None and index > 1:
            # After the page, not before: the probe finds the same element either way (one collected
            # from an earlier page unless elements moved back), and the page's records are gone by then.
            await _check_nothing_skipped(fetch, index, size, items, what=what, key=key)
        if max(len(items), len(ordered)) > bounds.allowed:
            raise bounds.overrun(
                what, f"page {index} brings the walk to {max(len(items), len(ordered)):,} elements"
            )
        if page.last_page:
            break
        if not count:
            raise IncompleteObservation(
                f"{what}: page {index} is empty but not the last page; no snapshot was taken"
            )
        if repeats > total - bounds.first_total:
            raise _ListChanged(
                f"page {index} repeats elements already read ({repeats} so far) while totalElements grew "
                f"by {total - bounds.first_total}",
                repeats=True,
            )
        index += 1
        if index > bounds.pages:
            raise bounds.overrun(what, f"page {index} is still not the last")
        page = await _fetch(fetch, index, size, what=what)
    result = ordered if key is None else list(items.values())
    if not bounds.first_total <= len(result) <= total:
        raise IncompleteObservation(
            f"{what}: short read, {len(result)} elements where totalElements said {bounds.first_total}"
            + (f" to {total}" if total != bounds.first_total else "")
            + "; no snapshot was taken"
        )
    if repeats > total - bounds.first_total:
        raise _ListChanged(
            f"the last page repeats elements already read ({repeats} in all) while totalElements grew by "
            f"{total - bounds.first_total}",
            repeats=True,
        )
    return result


def _collect(
    content: list[Element], items: dict[str | int, T], *, key: str, parse: Parse[T], what: str, index: int
) -> int:
    """Parse a page's elements into ``items`` by their ``key`` (a later copy is the newer one; the
    position stays); returns how many were collected from an earlier page already.

    A page whose ids are all distinct texts (every page SEPM sends) is checked and collected with
    C-level passes; any other goes element by element, refusing the first bad one as it comes.
    """
    # A typed page's ids are attributes, read in C; a dict's are read with its ``get``.
    typed = set(map(type, content)) == {WireComputer}
    ids = list(map(attrgetter(key) if typed else methodcaller("get", key), content))
    if set(map(type, ids)) <= {str} and len(set(ids)) == len(ids):
        repeats = len(items.keys() & ids)
        items.update(zip(ids, map(parse, content), strict=True))
        return repeats
    repeats = 0
    on_page: set[str | int] = set()
    for element in content:
        identity = _identity(element, key, what=what, index=index)
        if identity in on_page:
            raise PagingInconsistent(
                f"{what}: page {index} lists {key} {str(identity)[:80]!r} twice; no snapshot was taken"
            )
        on_page.add(identity)
        repeats += identity in items
        items[identity] = parse(element)
    return repeats


async def _check_nothing_skipped(
    fetch: PageFetcher, index: int, size: int, collected: dict[str | int, Any], *, what: str, key: str
) -> None:
    """Re-read the element at the last position of page ``index - 1``; it must be one collected already."""
    position = (index - 1) * size  # 1-based pageIndex with pageSize 1 = 1-based position
    probe = await _fetch(fetch, position, 1, what=f"{what} (position {position})")
    found = probe.content[0].get(key) if probe.content else None
    if not isinstance(found, str | int) or found not in collected:
        raise _ListChanged(f"the elements moved back past position {position} between two pages")


def _as_is(element: Element) -> Element:
    return element


@overload
async def walk_pages(
    fetch: PageFetcher, *, what: str, size: int, key: str | None = None, limits: ResponseLimits = ...
) -> list[dict[str, Any]]: ...


@overload
async def walk_pages(
    fetch: PageFetcher,
    *,
    what: str,
    size: int,
    key: str | None = None,
    parse: Parse[T],
    limits: ResponseLimits = ...,
) -> list[T]: ...


async def walk_pages(
    fetch: PageFetcher,
    *,
    what: str,
    size: int,
    key: str | None = None,
    parse: Parse[Any] = _as_is,
    limits: ResponseLimits = _DEFAULT_LIMITS,
) -> list[Any]:
    """Every element of a paged list, parsed, or ``IncompleteObservation`` (see the module docstring).

    ``size`` is the page size to ask for; ``key`` names the field that identifies an element
    (``uniqueId``, ``id``) and lets the walk tolerate insertions made while it runs; ``parse`` turns
    each element into what is kept (by default the element itself).
    """
    if size < 1:
        raise ValueError("a page holds at least one element")
    try:
        return await _walk_once(fetch, what=what, key=key, size=size, parse=parse, limits=limits)
    except _ListChanged:
        pass
    try:
        return await _walk_once(fetch, what=what, key=key, size=size, parse=parse, limits=limits)
    except _ListChanged as again:
        if again.repeats:
            raise PagingInconsistent(
                f"{what}: elements came twice, in two walks in a row ({again}); SEPM pages "
                "inconsistently; no snapshot was taken"
            ) from again
        raise IncompleteObservation(
            f"{what}: the list changed while it was being read ({again}), twice in a row; "
            "no snapshot was taken"
        ) from again
