"""How much the SEPM client reads, and for how long: every answer is bounded, whoever sends it.

A SEPM, or whatever answers in its place, can send a body without end, a 200 MB field, a paged list
that never reaches its last page, or a body that drips a byte every few seconds. Unbounded, each one
grows the controller's memory into gigabytes or holds a worker forever. So:

- **Body size** (``max_body_bytes``, default 16 MiB). The body is streamed and reading stops as soon
  as it passes the limit; a ``Content-Length`` above it is refused before reading. Bytes are counted
  after decompression, so a compressed bomb is caught as well. The largest answer a real site sends is
  a page of computers: SEPM's ``Computer`` has 147 fields, some 3 to 5 KB a record, so 3 to 5 MB for
  the client's 1,000 per page; 16 MiB leaves three times that. ``ResponseTooLarge`` (permanent: the
  same request brings the same body; no SEPM answers that, so the site stalls for a person to look at
  what answers at that address). An error answer (not
  2xx) is only read for its first 64 KiB, which hold SEPM's ``errorMessage``: it keeps its status,
  so a 503 with a huge page is still retried as a 503.
- **Deadline** (``request_deadline``, default 120 s). One exchange, from taking a connection to the
  last byte of the body, ends within it. httpx's own timeout applies to each read separately, so a
  body that trickles in a byte every few seconds never trips it. A page of 1,000 computers takes a
  second or two on a LAN and some more over a slow WAN; two minutes is ample and still frees the
  worker. ``DeadlineExceeded`` (transient: a loaded SEPM may answer in time later). Retries are
  counted by the retry policy, so a request costs at most ``attempts`` deadlines.
- **Walks** (``max_elements``, default 500,000; ``walk_slack``, default 10,000). A paged list may hold
  at most the first page's ``totalElements`` plus slack (``walk_slack`` or a tenth of the total,
  whichever is larger: clients that register or check in while a ``lastUpdate`` walk runs join the
  list), and take at most as many pages as that needs at the first page's length, plus one. Past that
  the walk is ``PagingInconsistent`` (transient). A first page announcing more than ``max_elements``
  is ``ResponseTooLarge``: five times a site of 100,000 clients, so only a mistake or a much larger
  site reaches it. Enforced by ``reconciler.sepm.paging``.

Together they bound one observation: at most (pages) x (max_body_bytes) read, each in bounded time.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx

from reconciler.sepm.errors import DeadlineExceeded, ResponseTooLarge

MIB = 1024 * 1024
ERROR_BODY_BYTES = 64 * 1024
"""How much of an error answer is read: SEPM's error body is a few hundred bytes of JSON."""


@dataclass(frozen=True)
class ResponseLimits:
    """The bounds on what one client reads (see the module docstring for each default's reason)."""

    max_body_bytes: int = 16 * MIB
    request_deadline: float = 120.0
    max_elements: int = 500_000
    walk_slack: int = 10_000

    def __post_init__(self) -> None:
        if min(self.max_body_bytes, self.max_elements) < 1 or self.walk_slack < 0:
            raise ValueError("body and element limits must be positive, the slack not negative")
        if not self.request_deadline > 0:
            raise ValueError("the request deadline must be a positive number of seconds")

    def walk_allowance(self, first_total: int) -> int:
        """How many distinct elements a walk whose first page announced ``first_total`` may return."""
        return min(self.max_elements, first_total + max(self.walk_slack, first_total // 10))


@dataclass(frozen=True)
class Reply:
    """A response read in full within the limits: what the pipeline looks at."""

    method: str
    url: str
    status: int
    headers: httpx.Headers
    body: bytes

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300


async def exchange(
    http: httpx.AsyncClient, request: httpx.Request, *, url: str, limits: ResponseLimits
) -> Reply:
    """Send ``request`` and read its answer within ``limits`` (``url`` names it in errors).

    httpx's own errors pass through for the caller to classify; ``DeadlineExceeded`` and
    ``ResponseTooLarge`` are raised here.
    """
    where = f"{request.method} {url}"
    try:
        async with asyncio.timeout(limits.request_deadline):
            response = await http.send(request, stream=True)
            try:
                body = await _read_body(response, limit=limits.max_body_bytes, where=where, url=url)
            finally:
                await response.aclose()
    except TimeoutError as exc:
        raise DeadlineExceeded(
            f"{where} did not complete within {limits.request_deadline:g} s, body included; "
            "SEPM is overloaded or something on the way trickles the answer",
            url=url,
        ) from exc
    return Reply(
        method=request.method, url=url, status=response.status_code, headers=response.headers, body=body
    )


async def _read_body(response: httpx.Response, *, limit: int, where: str, url: str) -> bytes:
    def too_large(detail: str = "") -> ResponseTooLarge:
        return ResponseTooLarge(
            f"{where} answered {response.status_code} with a body larger than the {limit:,} bytes "
            f"allowed (max_body_bytes){detail}; no SEPM answer is that large: check what answers at "
            "that address (a proxy, another service)",
            url=url,
            status=response.status_code,
        )

    if not response.is_success:
        return await _read_error_body(response)
    declared = response.headers.get("content-length", "").strip()
    # A header of thousands of digits must not reach int() (Python refuses over 4,300 digits).
    if declared.isascii() and declared.isdigit() and (len(declared) > 18 or int(declared) > limit):
        raise too_large(f": Content-Length {declared[:24]}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise too_large()
        chunks.append(chunk)
    return b"".join(chunks)


async def _read_error_body(response: httpx.Response) -> bytes:
    """The start of an error's body: enough for SEPM's ``errorMessage``; the rest is not read.

    Cut rather than refused, so that a 503 with a huge page is still a 503 (retried), not a
    ``ResponseTooLarge``.
    """
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk[: ERROR_BODY_BYTES - size])
        size += len(chunks[-1])
        if size >= ERROR_BODY_BYTES:
            break
    return b"".join(chunks)
