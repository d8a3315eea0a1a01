"""Fuzz: whatever a broken or hostile SEPM answers, the client and the adapter end in a snapshot or a
SepmError, at a bounded cost, and nothing is changed on SEPM.

Three properties, each a few seconds of examples:
- the Observer over a fake site where one answer (version, groups, locations, settings, computers) is
  truncated, retyped, stripped of a field, swollen or replaced by junk;
- the client over raw HTTP answers with junk statuses, headers and bodies;
- the fast page decoder and the ordinary one give the same page for any JSON page.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import tracemalloc
from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sepm_fakes import BASE_URL, PASSWORD, USERNAME, FakeSepm, TlsServer
from test_sepm_observer import CERT, desired, populate

from reconciler.backoff import RetryPolicy
from reconciler.sepm import decoding
from reconciler.sepm.client import SepmClient
from reconciler.sepm.errors import SepmError
from reconciler.sepm.limits import ResponseLimits
from reconciler.sepm.observer import Observer

LIMITS = ResponseLimits(max_body_bytes=256 * 1024, request_deadline=2.0, max_elements=5_000, walk_slack=50)
MAX_REQUESTS = 200
MAX_PEAK_BYTES = 48 * 1024 * 1024

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["x" * 5_000, 2**63, -(2**70), 10**300, "", "PULL", "\x00\udfff"])
)
junk = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=16,
)
ENDPOINTS = ["version", "groups", "locations", "settings", "computers"]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path to a value inside a JSON document, the document itself first."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


def _mutated(body: bytes, mutation: tuple[str, int, Any]) -> bytes:
    kind, seed, replacement = mutation
    if kind == "truncate":
        return body[: seed % max(1, len(body))]
    if kind == "bytes":
        return random.Random(seed).randbytes(seed % 300)
    if kind == "deep":
        return b"[" * (1000 + seed % 100_000)
    document = json.loads(body)
    paths = list(_paths(document))
    path = paths[seed % len(paths)]
    if not path:
        return json.dumps(replacement).encode()
    *parent_path, last = path
    parent = document
    for step in parent_path:
        parent = parent[step]
    if kind == "drop" and isinstance(parent, dict):
        del parent[last]
    else:
        parent[last] = replacement
    return json.dumps(document).encode()


mutations = st.tuples(
    st.sampled_from(["truncate", "bytes", "deep", "drop", "replace", "replace"]),
    st.integers(min_value=0, max_value=10**6),
    junk,
)


def _endpoint(request: httpx.Request) -> str:
    path = request.url.path.removeprefix("/sepm/api/v1/")
    if path.endswith("/settings"):
        return "settings"
    if path.endswith("/locations"):
        return "locations"
    return path


@pytest.fixture(scope="module")
def loop_and_tls() -> Iterator[tuple[asyncio.AbstractEventLoop, TlsServer]]:
    """One event loop and one TLS listener for every example (starting them is the slow part)."""
    loop = asyncio.new_event_loop()
    server = TlsServer(CERT)
    loop.run_until_complete(server.start())
    yield loop, server
    loop.run_until_complete(server.stop())
    loop.close()


def _client(transport: httpx.AsyncBaseTransport) -> SepmClient:
    async def no_sleep(seconds: float) -> None:
        return None

    return SepmClient(
        base_url=BASE_URL,
        username=USERNAME,
        password=PASSWORD,
        allowed_fingerprints=frozenset({CERT.sha256}),
        transport=transport,
        retry=RetryPolicy(attempts=2, base_delay=0.0, max_delay=0.0),
        sleep=no_sleep,
        rng=random.Random(0),
        page_size=3,
        monotonic=lambda: 0.0,
        limits=LIMITS,
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(endpoint=st.sampled_from(ENDPOINTS), mutation=mutations)
def test_one_broken_answer_ends_in_a_snapshot_or_a_sepm_error(loop_and_tls, endpoint, mutation):
    """Any one answer broken: a snapshot or a SepmError, bounded requests and memory, and no change sent."""
    loop, tls = loop_and_tls
    fake = FakeSepm()
    populate(fake)

    def handle(request: httpx.Request) -> httpx.Response:
        response = fake.handle(request)
        if _endpoint(request) != endpoint or not response.is_success:
            return response
        return httpx.Response(
            response.status_code, headers=response.headers, content=_mutated(response.content, mutation)
        )

    async def observe() -> None:
        async with _client(httpx.MockTransport(handle)) as client:
            observer = Observer(desired(tls), client, tls_timeout=2)
            with contextlib.suppress(SepmError):
                await asyncio.wait_for(observer.observe(), timeout=60)  # a hang fails the test, not CI

    tracemalloc.start()
    try:
        loop.run_until_complete(observe())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < MAX_PEAK_BYTES
    assert len(fake.log) <= MAX_REQUESTS
    changes = [r for r in fake.log if r.method != "GET" and not r.url.path.endswith("identity/authenticate")]
    assert changes == []


statuses = st.sampled_from([200, 200, 200, 201, 204, 301, 400, 401, 403, 404, 410, 429, 500, 503, 599])
header_values = st.sampled_from(
    [
        "",
        "0",
        "-1",
        "abc",
        "99999999999999999999999999",
        "\u00b2",
        "gzip",
        "br",
        "Thu, 01 Jan 1970 00:00:00 GMT",
    ]
)
headers = st.dictionaries(
    st.sampled_from(["Content-Length", "Retry-After", "Date", "Content-Encoding", "Content-Type"]),
    header_values,
    max_size=3,
)
bodies = st.one_of(st.binary(max_size=200), junk.map(lambda value: json.dumps(value).encode()))


@settings(max_examples=100, deadline=None)
@given(
    answers=st.lists(st.tuples(statuses, headers, bodies), min_size=1, max_size=6),
    call=st.sampled_from(["version", "computers", "settings"]),
)
def test_junk_http_answers_end_in_a_result_or_a_sepm_error(answers, call):
    """Junk statuses, headers and bodies, logon included: a result or a SepmError, never another exception."""
    served = iter(answers)

    def handle(request: httpx.Request) -> httpx.Response:
        status, head, body = next(served, (503, {}, b""))
        raw = [(name.encode(), value.encode("latin-1", "replace")) for name, value in head.items()]
        if status == 200 and request.url.path.endswith("identity/authenticate") and body[:1] != b"{":
            body = json.dumps({"token": "t", "tokenExpiration": 3600, "serverTime": 1}).encode()
        return httpx.Response(status, headers=raw, content=_stream(body))

    async def run() -> None:
        async with _client(httpx.MockTransport(handle)) as client:
            try:
                if call == "version":
                    await client.version()
                elif call == "computers":
                    await client.computers()
                else:
                    await client.location_settings("G1", "L1")
            except SepmError:
                pass

    asyncio.run(run())


async def _stream(body: bytes) -> Any:
    yield body


pages = st.fixed_dictionaries(
    {
        "content": st.lists(
            st.dictionaries(st.sampled_from([*decoding.COMPUTER_FIELDS, "other"]), junk, max_size=6) | junk,
            max_size=5,
        )
    },
    optional={"totalElements": junk, "lastPage": junk, "totalPages": junk, "more": junk},
)


@settings(max_examples=200, deadline=None)
@given(page=pages | junk)
@example(page={"content": [], "totalElements": float("nan")})  # json.loads takes NaN, msgspec does not
def test_the_fast_page_decoder_agrees_with_the_ordinary_one(page):
    """For any JSON page, decoding only the adapter's fields gives what json.loads and a cut give."""
    body = json.dumps(page).encode()
    fast = decoding.computer_page_decoder()(body)
    ordinary = json.loads(body)
    content = ordinary.get("content") if isinstance(ordinary, dict) else None
    if isinstance(content, list):
        ordinary["content"] = [decoding.computer_record(i) if isinstance(i, dict) else i for i in content]
    for key in ("content", "totalElements", "lastPage", "totalPages"):
        got = fast.get(key) if isinstance(fast, dict) else fast
        want = ordinary.get(key) if isinstance(ordinary, dict) else ordinary
        assert _canonical(got) == _canonical(want)


def _canonical(value: Any) -> str:
    """A decoded value as text, keys sorted: NaN (which json.loads gives and equals nothing) compares
    equal to itself, a ``GroupRef`` to its fields, and a record (a ``WireComputer`` or a cut dict) to
    the fields it holds that are not null (the adapter reads a null as an absent field)."""

    def plain(item: Any) -> Any:
        if isinstance(item, decoding.WireComputer):
            return item.as_dict()
        return msgspec.structs.asdict(item)

    if isinstance(value, list):
        value = [
            {k: v for k, v in item.items() if v is not None} if isinstance(item, dict) else item
            for item in value
        ]
    return json.dumps(value, sort_keys=True, default=plain)
