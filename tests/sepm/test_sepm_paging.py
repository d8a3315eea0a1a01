"""Paging: 1-based walks that return everything or raise IncompleteObservation."""

from __future__ import annotations

import httpx
import pytest
from sepm_fakes import error, page

from reconciler.sepm import errors
from reconciler.sepm.paging import walk_pages


def computers(n: int) -> list[dict]:
    return [{"uniqueId": f"C{i:03}", "computerName": f"pc{i}", "lastUpdateTime": 1000 + i} for i in range(n)]


@pytest.mark.parametrize(
    ("count", "requests"),
    [
        pytest.param(0, 1, id="empty"),
        pytest.param(1, 1, id="one"),
        pytest.param(3, 1, id="exactly-one-page"),
        pytest.param(4, 2, id="one-more"),
        pytest.param(10, 4, id="many"),
    ],
)
async def test_walk_returns_every_element_in_order(fake, make_client, count, requests):
    """Pages are walked from pageIndex 1 until lastPage, and every element comes back once, in order."""
    fake.computers = computers(count)
    async with make_client() as client:
        got = await client.computers()
    assert [c["uniqueId"] for c in got] == [c["uniqueId"] for c in fake.computers]
    calls = [c for c in fake.calls("GET", "computers") if c.url.params["pageSize"] == "3"]
    assert [int(c.url.params["pageIndex"]) for c in calls] == list(range(1, requests + 1))
    probes = [c for c in fake.calls("GET", "computers") if c.url.params["pageSize"] == "1"]
    # after each page but the first, the last position of the page before is read again
    assert [int(c.url.params["pageIndex"]) for c in probes] == [3 * k for k in range(1, requests)]


async def test_last_update_filter_is_sent(fake, make_client):
    """computers(updated_since_ms=...) sends lastUpdate and returns only what SEPM returned."""
    fake.computers = computers(5)
    async with make_client() as client:
        got = await client.computers(updated_since_ms=1002)
    assert [c["uniqueId"] for c in got] == ["C003", "C004"]
    assert fake.calls("GET", "computers")[0].url.params["lastUpdate"] == "1002"


async def test_a_page_failing_after_retries_is_an_incomplete_observation(fake, make_client):
    """When page 2 keeps failing, the walk raises IncompleteObservation with the 5xx as its cause."""
    fake.computers = computers(9)

    def page_two_fails(request: httpx.Request) -> httpx.Response:
        if request.url.params["pageIndex"] == "2":
            return error(500, "page 2 lost")
        return fake._route(request)

    fake.add_script("GET", "computers", *[page_two_fails] * 10)
    async with make_client() as client:
        with pytest.raises(errors.IncompleteObservation, match="page 2") as caught:
            await client.computers()
    assert isinstance(caught.value.__cause__, errors.ServerError)


async def test_a_page_failing_once_is_retried_and_the_walk_completes(fake, make_client):
    """A transient page failure is retried by the client; the walk still returns everything."""
    fake.computers = computers(9)
    fake.add_script("GET", "computers", fake._route, error(503, "busy"))
    async with make_client() as client:
        assert len(await client.computers()) == 9


def _scripted(*bodies: dict):
    return [httpx.Response(200, json=body) for body in bodies]


def served(items: list[dict], *, without: tuple[str, ...] = ()):
    """An answer computed from ``items`` for whatever page (and page size) the request asks for."""

    def answer(request: httpx.Request) -> httpx.Response:
        index = int(request.url.params["pageIndex"])
        size = int(request.url.params["pageSize"])
        body = {k: v for k, v in page(items, index, size).items() if k not in without}
        return httpx.Response(200, json=body)

    return answer


@pytest.mark.parametrize(
    ("bodies", "message"),
    [
        pytest.param(
            [page(computers(3), 1, 3, total=5) | {"lastPage": True}],
            "short read",
            id="short-read",
        ),
        pytest.param([{"content": computers(2), "lastPage": True}], "totalElements", id="no-total"),
        pytest.param([{"totalElements": 2, "lastPage": True}], "content", id="no-content"),
        pytest.param([{"content": computers(2), "totalElements": 2}], "lastPage", id="no-last-page"),
        pytest.param(
            [page(computers(6), 1, 3) | {"content": []}], "empty but not the last", id="empty-middle-page"
        ),
        pytest.param(
            [page(computers(3), 1, 3, total=3) | {"lastPage": False, "totalPages": 1}],
            "totalPages",
            id="last-page-never-comes",
        ),
        pytest.param([["not", "a", "page"]], "not a page object", id="not-an-object"),
    ],
)
async def test_malformed_or_short_pages_are_incomplete(fake, make_client, bodies, message):
    """Envelopes that cannot prove completeness raise IncompleteObservation, never a short list."""
    fake.add_script("GET", "computers", *_scripted(*bodies))
    async with make_client() as client:
        with pytest.raises(errors.IncompleteObservation, match=message):
            await client.computers()


async def test_last_page_may_come_from_total_pages(fake, make_client):
    """Without lastPage, totalPages ends the walk."""
    fake.add_script("GET", "computers", *[served(computers(5), without=("lastPage",))] * 3)
    async with make_client() as client:
        assert len(await client.computers()) == 5
    assert len(fake.calls("GET", "computers")) == 3  # two pages and one re-read of position 3


async def test_insertions_during_a_walk_are_tolerated(fake, make_client):
    """A computer inserted mid-walk shifts later ones forward: duplicates are merged, nobody is missed."""
    fake.computers = computers(6)
    newcomer = {"uniqueId": "A-NEW", "computerName": "aaa", "lastUpdateTime": 5000}
    shifted = [newcomer, *computers(6)]
    # page 1 before the insertion (C000..C002), then page 2 (C002..C004), position 3, page 3, position 6
    fake.add_script("GET", "computers", fake._route, *[served(shifted)] * 4)
    async with make_client() as client:
        got = await client.computers()
    assert [c["uniqueId"] for c in got] == [f"C{i:03}" for i in range(6)]
    assert len(fake.calls("GET", "computers")) == 5


async def test_a_removal_during_a_walk_restarts_it(fake, make_client):
    """A shrinking list (a computer deleted) may hide one: the walk starts over and completes."""
    fake.computers = computers(6)
    fake.add_script("GET", "computers", fake._route, httpx.Response(200, json=page(computers(5), 2, 3)))
    async with make_client() as client:
        assert len(await client.computers()) == 6
    pages = [(c.url.params["pageIndex"], c.url.params["pageSize"]) for c in fake.calls("GET", "computers")]
    assert pages == [("1", "3"), ("2", "3"), ("1", "3"), ("2", "3"), ("3", "1")]


async def test_a_removal_hidden_by_an_insertion_is_caught(fake, make_client):
    """One computer deleted and one added between two pages keep totalElements; the re-read catches it."""
    before = computers(6)
    after = [*computers(6)[1:], {"uniqueId": "Z-NEW", "computerName": "zzz", "lastUpdateTime": 9000}]
    fake.computers = after
    # page 1 before (C000..C002); page 2 after (C004, C005, Z-NEW): C003 slipped back onto page 1
    fake.add_script("GET", "computers", served(before))
    async with make_client() as client:
        got = await client.computers()
    assert "C003" in {c["uniqueId"] for c in got}
    assert len(got) == 6
    assert [c.url.params["pageIndex"] for c in fake.calls("GET", "computers")][:4] == ["1", "2", "3", "1"]


async def test_a_list_that_keeps_shrinking_is_incomplete(fake, make_client):
    """If the list shrinks during two walks in a row, the read is incomplete."""
    fake.computers = computers(6)
    smaller = httpx.Response(200, json=page(computers(5), 2, 3))
    fake.add_script("GET", "computers", fake._route, smaller, fake._route, smaller)
    async with make_client() as client:
        with pytest.raises(errors.IncompleteObservation, match="changed while it was being read"):
            await client.computers()


async def test_without_a_key_the_list_must_not_move():
    """A walk without an identifying key refuses any change of totalElements (it cannot merge copies)."""
    items = computers(6)
    bodies = iter([page(items, 1, 3), page([*items, *computers(1)], 2, 3)] * 2)

    async def fetch(index: int, size: int) -> dict:
        return next(bodies)

    with pytest.raises(errors.IncompleteObservation, match="twice in a row"):
        await walk_pages(fetch, what="GET things", size=3)


async def test_duplicates_without_growth_cannot_hide_a_missing_element(fake, make_client):
    """Copies of one element do not make up for a missing one: too few distinct elements is a short read."""
    items = computers(6)
    fake.add_script(
        "GET",
        "computers",
        httpx.Response(200, json=page(items, 1, 3)),
        httpx.Response(200, json=page(items, 1, 3) | {"firstPage": False, "lastPage": True}),
        served(items),
    )
    async with make_client() as client:
        with pytest.raises(errors.IncompleteObservation, match="short read"):
            await client.computers()


async def test_a_permanent_error_on_a_page_is_not_disguised(fake, make_client):
    """A 404 on a page is raised as NotFound, not as a retryable incomplete observation."""
    fake.add_script("GET", "groups", error(404, "gone"))
    async with make_client() as client:
        with pytest.raises(errors.NotFound):
            await client.groups()
