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

``walk_pages`` returns every element or raises ``IncompleteObservation`` when
- a page still fails after the client's retries (the transient error is attached as the cause);
- an envelope lacks ``content`` or ``totalElements``, or says neither ``lastPage`` nor ``totalPages``;
- a page before the last is empty, or ``lastPage`` is still false past ``totalPages``;
- fewer elements arrived than ``totalElements`` promised (a short read), or more than it ended at.
A permanent error on a page (credentials, pin) is not disguised: it propagates as it is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from reconciler.sepm.errors import IncompleteObservation, TransientError

PageFetcher = Callable[[int, int], Awaitable[Any]]
"""Fetch one page by its 1-based index and page size and return the decoded JSON body."""

_MAX_PAGES = 1_000_000  # a server that never says "last page" must not keep us here forever


@dataclass(frozen=True)
class _Page:
    content: list[dict[str, Any]]
    total_elements: int
    last_page: bool


class _ListChanged(Exception):
    """The list changed during a walk in a way that may have hidden an element."""


def _read_envelope(body: Any, *, what: str, index: int) -> _Page:
    def incomplete(problem: str) -> IncompleteObservation:
        return IncompleteObservation(f"{what}: page {index} {problem}; no snapshot was taken")

    if not isinstance(body, dict):
        raise incomplete("is not a page object")
    content = body.get("content")
    if not isinstance(content, list) or not all(isinstance(item, dict) for item in content):
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


async def _walk_once(fetch: PageFetcher, *, what: str, key: str | None, size: int) -> list[dict[str, Any]]:
    items: dict[object, dict[str, Any]] = {}
    ordered: list[dict[str, Any]] = []
    first_total: int | None = None
    total = 0
    for index in range(1, _MAX_PAGES + 1):
        page = await _fetch(fetch, index, size, what=what)
        if first_total is None:
            first_total = total = page.total_elements
        elif page.total_elements < total or (key is None and page.total_elements != total):
            raise _ListChanged(f"totalElements went from {total} to {page.total_elements}")
        total = page.total_elements
        if key is None:
            ordered.extend(page.content)
        else:
            if index > 1:
                await _check_nothing_skipped(fetch, index, size, items, what=what, key=key)
            for element in page.content:
                identity = element.get(key)
                if identity is None:
                    raise IncompleteObservation(f"{what}: page {index} has an element without '{key}'")
                items[identity] = element  # a later copy is the newer one; the position stays the first
        if page.last_page:
            break
        if not page.content:
            raise IncompleteObservation(
                f"{what}: page {index} is empty but not the last page; no snapshot was taken"
            )
    else:
        raise IncompleteObservation(f"{what}: no last page after {_MAX_PAGES} pages")
    result = ordered if key is None else list(items.values())
    assert first_total is not None
    if not first_total <= len(result) <= total:
        raise IncompleteObservation(
            f"{what}: short read, {len(result)} elements where totalElements said {first_total}"
            + (f" to {total}" if total != first_total else "")
            + "; no snapshot was taken"
        )
    return result


async def _check_nothing_skipped(
    fetch: PageFetcher, index: int, size: int, collected: dict[object, Any], *, what: str, key: str
) -> None:
    """Re-read the element at the last position of page ``index - 1``; it must be one collected already."""
    position = (index - 1) * size  # 1-based pageIndex with pageSize 1 = 1-based position
    probe = await _fetch(fetch, position, 1, what=f"{what} (position {position})")
    if not probe.content or probe.content[0].get(key) not in collected:
        raise _ListChanged(f"the elements moved back past position {position} between two pages")


async def walk_pages(
    fetch: PageFetcher, *, what: str, size: int, key: str | None = None
) -> list[dict[str, Any]]:
    """Every element of a paged list, or ``IncompleteObservation`` (see the module docstring).

    ``size`` is the page size to ask for; ``key`` names the field that identifies an element
    (``uniqueId``, ``id``) and lets the walk tolerate insertions made while it runs.
    """
    if size < 1:
        raise ValueError("a page holds at least one element")
    try:
        return await _walk_once(fetch, what=what, key=key, size=size)
    except _ListChanged:
        pass
    try:
        return await _walk_once(fetch, what=what, key=key, size=size)
    except _ListChanged as again:
        raise IncompleteObservation(
            f"{what}: the list changed while it was being read ({again}), twice in a row; "
            "no snapshot was taken"
        ) from again
