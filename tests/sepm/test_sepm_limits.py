"""Every answer is bounded: body size, a deadline per exchange, the length of a walk, repeated ids.

Each test uses small limits so that what would be gigabytes or minutes against the defaults takes a
moment; each counts what the server had to produce, proving the client stopped reading.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator

import httpx
import pytest
from sepm_fakes import page

from reconciler.backoff import RetryPolicy
from reconciler.sepm import errors
from reconciler.sepm.limits import ResponseLimits
from reconciler.sepm.paging import walk_pages

SMALL = ResponseLimits(max_body_bytes=64 * 1024, request_deadline=0.3, max_elements=1000, walk_slack=5)
ONE_TRY = RetryPolicy(attempts=1)


class Served:
    """Counts the chunks a streamed body has handed out."""

    def __init__(self) -> None:
        self.chunks = 0

    async def endless(self) -> AsyncIterator[bytes]:
        while True:
            self.chunks += 1
            yield b'{"content": [' if self.chunks == 1 else b'{"uniqueId": "x"},' * 1000

    async def once(self, body: bytes) -> AsyncIterator[bytes]:
        self.chunks += 1
        yield body

    async def drip(self, total: int) -> AsyncIterator[bytes]:
        for _ in range(total):
            await asyncio.sleep(0.05)
            self.chunks += 1
            yield b" "


async def test_a_body_that_never_ends_stops_at_the_size_limit(fake, make_client):
    """A streamed body without end is cut at max_body_bytes: ResponseTooLarge, after a few chunks."""
    served = Served()
    fake.add_script("GET", "version", lambda request: httpx.Response(200, content=served.endless()))
    async with make_client(limits=SMALL, retry=ONE_TRY) as client:
        with pytest.raises(errors.ResponseTooLarge, match=r"GET https://sepm\.test:8446/sepm/api/v1/version"):
            await client.version()
    assert served.chunks <= 5  # 18 KB a chunk: the client stopped just past 64 KiB


async def test_an_error_with_a_body_without_end_keeps_its_status(fake, make_client, sleeps):
    """A 503 whose body never ends is read only in part and still retried as a 503, then ServerError."""
    served = [Served() for _ in range(4)]
    fake.add_script(
        "GET", "version", *[lambda request, s=s: httpx.Response(503, content=s.endless()) for s in served]
    )
    async with make_client(limits=SMALL) as client:
        with pytest.raises(errors.ServerError, match="503"):
            await client.version()
    assert len(sleeps) == 3
    assert all(s.chunks <= 5 for s in served)


async def test_a_declared_length_over_the_limit_is_refused_before_reading(fake, make_client):
    """A Content-Length above max_body_bytes is refused without reading a byte of the body."""
    served = Served()

    def huge(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, headers={"Content-Length": str(200 * 1024 * 1024)}, content=served.endless()
        )

    fake.add_script("GET", "version", huge)
    async with make_client(limits=SMALL, retry=ONE_TRY) as client:
        with pytest.raises(errors.ResponseTooLarge, match="Content-Length 209715200"):
            await client.version()
    assert served.chunks == 0


async def test_a_compressed_bomb_is_measured_after_decompression(fake, make_client):
    """A small gzip body that inflates past max_body_bytes is ResponseTooLarge, not a memory spike."""
    bomb = gzip.compress(b"[" + b" " * (10 * 1024 * 1024) + b"]")
    assert len(bomb) < SMALL.max_body_bytes
    gzipped = {"Content-Encoding": "gzip"}
    fake.add_script(
        "GET", "version", lambda r: httpx.Response(200, headers=gzipped, content=Served().once(bomb))
    )
    async with make_client(limits=SMALL, retry=ONE_TRY) as client:
        with pytest.raises(errors.ResponseTooLarge):
            await client.version()


async def test_a_body_that_drips_ends_at_the_deadline_and_is_retried_as_a_timeout(fake, make_client, sleeps):
    """A byte every 50 ms for ten minutes ends at the request deadline each try: DeadlineExceeded."""
    drips = [Served() for _ in range(4)]
    fake.add_script(
        "GET", "version", *[lambda request, s=s: httpx.Response(200, content=s.drip(12_000)) for s in drips]
    )
    async with make_client(limits=SMALL) as client:
        with pytest.raises(errors.DeadlineExceeded, match=r"within 0\.3 s") as caught:
            await client.version()
    assert isinstance(caught.value, errors.RequestTimeout)  # transient: retried like any timeout
    assert len(sleeps) == 3
    assert all(0 < drip.chunks < 20 for drip in drips)


def _endless_pages(*, same_ids: bool, growing: bool = False):
    """A server whose pages never end: each claims totalElements 10 (or more and more) and lastPage false."""
    served = {"pages": 0}

    def answer(request: httpx.Request) -> httpx.Response:
        index = int(request.url.params["pageIndex"])
        size = int(request.url.params["pageSize"])
        served["pages"] += 1
        first = 0 if same_ids else (index - 1) * size
        content = [{"uniqueId": f"C{first + i}"} for i in range(size)]
        total = 10 + (served["pages"] * 100 if growing else 0)
        body = {"content": content, "totalElements": total, "lastPage": False}
        return httpx.Response(200, json=body)

    return answer, served


@pytest.mark.parametrize(
    ("same_ids", "growing", "expected", "message"),
    [
        pytest.param(False, False, errors.PagingInconsistent, "past what the first page", id="fresh-ids"),
        pytest.param(True, False, errors.PagingInconsistent, "elements came twice", id="same-page-again"),
        pytest.param(False, True, errors.PagingInconsistent, "grew to", id="total-keeps-growing"),
    ],
)
async def test_an_endless_paging_ends_at_its_bound(fake, make_client, same_ids, growing, expected, message):
    """A walk that never reaches its last page stops where the first page's total (plus slack) allows."""
    answer, served = _endless_pages(same_ids=same_ids, growing=growing)
    fake.add_script("GET", "computers", *[answer] * 1000)
    async with make_client(limits=SMALL) as client:
        with pytest.raises(expected, match=message) as caught:
            await client.computers()
    assert isinstance(caught.value, errors.IncompleteObservation)  # transient: no snapshot, try later
    assert "computers" in str(caught.value)
    # 10 announced + slack 5, at 3 a page: 15 distinct and 5 repeats make 7 pages (+1), with re-reads
    assert served["pages"] <= 2 * (8 + 8)


async def test_a_list_announcing_more_than_max_elements_is_refused_at_once(fake, make_client):
    """A first page announcing more elements than max_elements is ResponseTooLarge after one request."""
    body = page([{"uniqueId": "C1"}], 1, 3, total=2_000_000)
    fake.add_script("GET", "computers", httpx.Response(200, json=body))
    async with make_client(limits=SMALL) as client:
        with pytest.raises(errors.ResponseTooLarge, match="2,000,000 elements"):
            await client.computers()
    assert len(fake.calls("GET", "computers")) == 1


async def test_an_id_twice_on_one_page_is_refused(fake, make_client):
    """No change of the list puts one element twice on a page: PagingInconsistent, naming the id."""
    twice = [{"uniqueId": "C1"}, {"uniqueId": "C2"}, {"uniqueId": "C1"}]
    fake.add_script("GET", "computers", httpx.Response(200, json=page(twice, 1, 3)))
    async with make_client() as client:
        with pytest.raises(errors.PagingInconsistent, match="'C1' twice"):
            await client.computers()


@pytest.mark.parametrize(
    "identity",
    [
        pytest.param({"nested": ["id"]}, id="object"),
        pytest.param(["C1"], id="list"),
        pytest.param(True, id="boolean"),
    ],
)
async def test_an_id_that_is_not_a_name_is_an_incomplete_observation(fake, make_client, identity):
    """An element whose key is a container or a boolean is refused, not a crash on hashing it."""
    fake.add_script("GET", "computers", httpx.Response(200, json=page([{"uniqueId": identity}], 1, 3)))
    async with make_client() as client:
        with pytest.raises(errors.IncompleteObservation, match="not an id"):
            await client.computers()


async def test_repeats_beyond_growth_start_the_walk_over_and_then_fail():
    """Pages that repeat ids while totalElements stays put are read once more, then refused."""
    calls = []

    async def fetch(index: int, size: int) -> dict:
        calls.append((index, size))
        if size == 1:  # the re-read of the last position of the page before
            return {"content": [{"uniqueId": "A"}], "totalElements": 6, "lastPage": False}
        content = [{"uniqueId": "A"}, {"uniqueId": "B"}, {"uniqueId": f"C{index}"}]
        return {"content": content, "totalElements": 6, "lastPage": False}

    with pytest.raises(errors.PagingInconsistent, match="twice, in two walks"):
        await walk_pages(fetch, what="GET computers", size=3, key="uniqueId")
    assert calls == [(1, 3), (2, 3), (3, 1)] * 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(b"[" * 100_000, "nested too deeply", id="deep-nesting"),
        pytest.param(b'{"version": ' + b"9" * 5000 + b"}", "not JSON", id="5000-digit-number"),
        pytest.param(b'{"version": "\xff\xfe"}', "not JSON", id="not-utf8"),
    ],
)
async def test_json_the_decoder_cannot_hold_is_unexpected(fake, make_client, body, message):
    """Nesting, numbers or bytes the JSON decoder refuses become UnexpectedResponse, never another error."""
    fake.add_script("GET", "version", httpx.Response(200, content=body))
    async with make_client() as client:
        with pytest.raises(errors.UnexpectedResponse, match=message):
            await client.version()


async def test_a_body_that_does_not_decompress_is_unexpected(fake, make_client):
    """A body declared gzip that is not is UnexpectedResponse, not an httpx exception."""
    gzipped = {"Content-Encoding": "gzip"}
    fake.add_script(
        "GET",
        "version",
        lambda r: httpx.Response(200, headers=gzipped, content=Served().once(b"not gzip at all")),
    )
    async with make_client() as client:
        with pytest.raises(errors.UnexpectedResponse, match="could not be decoded"):
            await client.version()


async def test_a_retry_after_of_unicode_digits_falls_back_to_backoff(fake, make_client, sleeps):
    """A Retry-After of digits float() cannot read ("²") is ignored, not a crash."""
    answer = httpx.Response(429, headers=[(b"Retry-After", b"\xb2")])
    fake.add_script("GET", "version", answer)
    async with make_client() as client:
        await client.version()
    assert len(sleeps) == 1


def test_the_defaults_fit_a_site_of_100000_clients():
    """The default limits admit a full walk of a 100,000-client site with room for growth."""
    limits = ResponseLimits()
    assert limits.walk_allowance(100_000) == 110_000
    assert limits.walk_allowance(10) == 10_010
    assert limits.max_elements >= 5 * 100_000
    assert limits.max_body_bytes >= 3 * 5 * 1000 * 1024  # three pages of 1,000 computers at 5 KB


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"max_body_bytes": 0}, id="no-body"),
        pytest.param({"request_deadline": 0}, id="no-time"),
        pytest.param({"request_deadline": float("nan")}, id="nan-deadline"),
        pytest.param({"walk_slack": -1}, id="negative-slack"),
    ],
)
def test_limits_that_would_refuse_everything_are_refused(options):
    """A limit of zero, a NaN deadline or a negative slack is a ValueError at construction."""
    with pytest.raises(ValueError, match=r"limit|deadline"):
        ResponseLimits(**options)
