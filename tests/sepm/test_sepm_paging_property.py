"""Property: a page walk never silently loses an element, whatever insertions and removals happen mid-walk."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st
from sepm_fakes import page

from reconciler.sepm.errors import IncompleteObservation
from reconciler.sepm.paging import walk_pages

# One change to the list: insert a new element at a position, or remove the element at a position.
change = st.tuples(st.sampled_from(["insert", "remove"]), st.integers(min_value=0, max_value=60))


@settings(max_examples=150, deadline=None)
@given(
    initial=st.integers(min_value=0, max_value=30),
    size=st.integers(min_value=2, max_value=7),
    # changes[k] happen just before the k-th page request of the whole test (both walks); none happen
    # in the instant between a page and the single-element re-read that follows it (the documented
    # limit: no sequence of reads can see changes timed adversarially between them)
    changes=st.lists(st.lists(change, max_size=3), max_size=12),
)
def test_a_walk_returns_everything_that_stayed_or_fails(initial, size, changes):
    """Every element present throughout the walk is returned once, or the walk raises; never a short list."""
    current = [{"uniqueId": f"E{i:03}", "version": 0} for i in range(initial)]
    ever = {item["uniqueId"] for item in current}
    removed: set[str] = set()
    requests = 0
    fresh = 0

    async def fetch(index: int, page_size: int) -> dict:
        nonlocal requests, fresh
        if page_size == 1:  # the re-read of one position right after a page
            return page(current, index, page_size)
        for kind, position in changes[requests] if requests < len(changes) else []:
            if kind == "insert":
                fresh += 1
                item = {"uniqueId": f"N{fresh:03}", "version": 0}
                current.insert(position % (len(current) + 1), item)
                ever.add(item["uniqueId"])
            elif current:
                removed.add(current.pop(position % len(current))["uniqueId"])
        requests += 1
        return page(current, index, page_size)

    try:
        result = asyncio.run(walk_pages(fetch, what="GET computers", size=size, key="uniqueId"))
    except IncompleteObservation:
        return  # refusing is always allowed; returning a short list never is
    ids = [item["uniqueId"] for item in result]
    assert len(ids) == len(set(ids))
    stayed = {f"E{i:03}" for i in range(initial)} - removed
    assert stayed <= set(ids)
    assert set(ids) <= ever
