"""The fault switchboard: failures a test or a demo switches on and off while the simulator runs.

Request faults act on the SEPM REST API only (`/sepm/api/v1/...`, every server), never on the
console API, which is the test's control channel. They are checked in this order, first match wins:

1. ``delay``: every REST request waits this many *real* seconds before it is answered.
2. ``too-many-requests``: the next `count` REST requests answer 429 with ``Retry-After``.
3. ``throttle``: at most `perMinute` REST requests per *real* sliding minute; beyond that 429 with
   ``Retry-After`` = whole seconds until the window admits one more. Real time, not simulated time,
   because a rate limit protects the server from its callers and callers wait in real time; a sim
   running 1000x faster would otherwise never throttle anyone. Requests refused do not count.
4. ``page``: GET of one resource (``computers`` by default) with ``pageIndex`` = N answers 500 (or the
   given status) until cleared: a missing page must make an observation incomplete, never short.
5. ``errors``: a share (0..1] of REST requests answers 500 or 503, drawn from a seeded generator so a
   run with the same seed and the same request sequence fails the same requests.

Site faults call into the engine; the listeners follow through `server_changed(server)` for an outage
and through the engine's certificate-change callback (`Site.on_certificate_change`) for certificates:
- ``server-down``: `Site.set_server_down`; the listeners of that server reset new connections and drop
  the open ones (see `reconciler.sim.http`). ``down: false`` brings it back.
- ``corrupt-certificate``: `Site.corrupt_certificate(server, port)`: that port presents a different
  certificate from the other ports, until ``repair-certificate``, `clear()` or the server's next
  certificate update.
- ``expire-tokens``: every REST token issued so far is invalid from now on (401 at the next call).

`clear()` (console ``DELETE faults``) removes every request fault, brings every server back up and
repairs every corrupted certificate.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reconciler.sim.fault_kinds import FAULT_KINDS
from reconciler.sim.http import Request, Response, sepm_error
from reconciler.sim.views import TLS_PORT_KINDS

if TYPE_CHECKING:
    from reconciler.sim.engine import Site


@dataclass(frozen=True)
class _PageFault:
    resource: str
    page_index: int
    status: int


class Faults:
    """Thread-safe switchboard shared by every REST listener of one simulator."""

    def __init__(
        self,
        site: Site,
        *,
        seed: int = 0,
        expire_tokens: Callable[[], None] = lambda: None,
        server_changed: Callable[[str], None] = lambda _name: None,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._site = site
        self._expire_tokens = expire_tokens
        self._server_changed = server_changed
        self._monotonic = monotonic
        self._sleep = sleep
        self._lock = threading.Lock()
        self._random = random.Random(seed)  # noqa: S311 - fault injection, not cryptography
        self._servers = {view.name for view in site.servers()}
        self._down = {view.name for view in site.servers() if view.down}
        self._reset_request_faults()

    def _reset_request_faults(self) -> None:
        self._error_share = 0.0
        self._error_status = 500
        self._too_many_remaining = 0
        self._too_many_retry_after = 1
        self._delay_s = 0.0
        self._pages: list[_PageFault] = []
        self._throttle_per_minute: int | None = None
        self._admitted: deque[float] = deque()

    # -- request faults -------------------------------------------------------------------------

    def fail_share(self, share: float, *, status: int = 500) -> None:
        """Answer `status` (500 or 503) to a random `share` of REST requests; 0 switches it off."""
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"share must be between 0 and 1, got {share}")
        if status not in (500, 503):
            raise ValueError(f"errors fault status must be 500 or 503, got {status}")
        with self._lock:
            self._error_share, self._error_status = share, status

    def too_many_requests(self, count: int, *, retry_after_s: int = 1) -> None:
        """Answer 429 with ``Retry-After: retry_after_s`` to the next `count` REST requests."""
        if count < 0 or retry_after_s < 0:
            raise ValueError("too-many-requests needs count >= 0 and retryAfter >= 0")
        with self._lock:
            self._too_many_remaining, self._too_many_retry_after = count, retry_after_s

    def delay(self, seconds: float) -> None:
        """Hold every REST response for `seconds` of real time (0 switches it off)."""
        if not 0.0 <= seconds <= 300.0:
            raise ValueError(f"delay must be between 0 and 300 seconds, got {seconds}")
        with self._lock:
            self._delay_s = seconds

    def fail_page(self, page_index: int, *, resource: str = "computers", status: int = 500) -> None:
        """Answer `status` to every GET of `resource` with this 1-based ``pageIndex``."""
        if page_index < 1:
            raise ValueError(f"pageIndex is 1-based, got {page_index}")
        if not 400 <= status <= 599:
            raise ValueError(f"page fault status must be an HTTP error status, got {status}")
        with self._lock:
            self._pages.append(_PageFault(resource.strip("/"), page_index, status))

    def throttle(self, per_minute: int | None) -> None:
        """Admit at most `per_minute` REST requests per real minute (None switches throttling off)."""
        if per_minute is not None and per_minute < 1:
            raise ValueError(f"perMinute must be at least 1, got {per_minute}")
        with self._lock:
            self._throttle_per_minute = per_minute
            self._admitted.clear()

    # -- site faults ----------------------------------------------------------------------------

    def expire_tokens(self) -> None:
        """Invalidate every REST token issued so far."""
        self._expire_tokens()

    def server_down(self, server: str, down: bool = True) -> None:
        """Take `server` off the network (True) or bring it back (False)."""
        self._site.set_server_down(server, down)  # the engine refuses unknown servers
        with self._lock:
            if down:
                self._down.add(server)
            else:
                self._down.discard(server)
        self._server_changed(server)

    def corrupt_certificate(self, server: str, port_kind: str) -> None:
        """Make one TLS port of `server` present a different certificate from its other ports."""
        if port_kind not in TLS_PORT_KINDS:
            raise ValueError(f"port must be one of {', '.join(TLS_PORT_KINDS)}, got {port_kind!r}")
        self._site.corrupt_certificate(server, port_kind)  # the engine's certificate callback follows

    def is_down(self, server: str) -> bool:
        with self._lock:
            return server in self._down

    def repair_certificate(self, server: str) -> None:
        """Undo `corrupt_certificate`: every port of `server` presents its certificate again."""
        self._site.repair_certificate(server)  # the engine's certificate callback follows

    def clear(self) -> None:
        """Remove every request fault, bring every server back up and repair corrupted certificates."""
        with self._lock:
            self._reset_request_faults()
            down = sorted(self._down)
        for server in down:
            self.server_down(server, False)
        for server in sorted(self._servers):
            self._site.repair_certificate(server)  # a no-op (and no callback) when nothing is corrupted

    # -- the console form -----------------------------------------------------------------------

    def apply(self, spec: Mapping[str, Any]) -> None:
        """Switch on one fault from its console JSON form (see docs/simulator.md); ValueError if bad."""
        kind = spec.get("kind")
        if kind == "errors":
            self.fail_share(_number(spec, "share"), status=_integer(spec, "status", 500))
        elif kind == "too-many-requests":
            self.too_many_requests(_integer(spec, "count", 1), retry_after_s=_integer(spec, "retryAfter", 1))
        elif kind == "delay":
            self.delay(_number(spec, "seconds"))
        elif kind == "page":
            self.fail_page(
                _integer(spec, "pageIndex"),
                resource=_text(spec, "path", "computers"),
                status=_integer(spec, "status", 500),
            )
        elif kind == "throttle":
            per_minute = spec.get("perMinute")
            self.throttle(None if per_minute is None else _integer(spec, "perMinute"))
        elif kind == "expire-tokens":
            self.expire_tokens()
        elif kind == "server-down":
            down = spec.get("down", True)
            if not isinstance(down, bool):
                raise ValueError("server-down: 'down' must be true or false")
            self.server_down(_text(spec, "server"), down)
        elif kind == "corrupt-certificate":
            self.corrupt_certificate(_text(spec, "server"), _text(spec, "port"))
        elif kind == "repair-certificate":
            self.repair_certificate(_text(spec, "server"))
        else:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {', '.join(FAULT_KINDS)}")

    def describe(self) -> dict[str, Any]:
        """The faults in force, in the console's JSON form."""
        with self._lock:
            return {
                "errors": {"share": self._error_share, "status": self._error_status}
                if self._error_share
                else None,
                "tooManyRequests": {
                    "remaining": self._too_many_remaining,
                    "retryAfter": self._too_many_retry_after,
                }
                if self._too_many_remaining
                else None,
                "delaySeconds": self._delay_s,
                "pages": [
                    {"path": p.resource, "pageIndex": p.page_index, "status": p.status} for p in self._pages
                ],
                "throttle": {"perMinute": self._throttle_per_minute} if self._throttle_per_minute else None,
                "serversDown": sorted(self._down),
            }

    # -- the REST hook --------------------------------------------------------------------------

    def intercept(self, request: Request, *, resource: str) -> Response | None:
        """The injected answer for this REST request, or None to let it through (after any delay)."""
        with self._lock:
            delay_s = self._delay_s
        if delay_s:
            self._sleep(delay_s)
        with self._lock:
            if self._too_many_remaining > 0:
                self._too_many_remaining -= 1
                return _too_many(self._too_many_retry_after)
            if self._throttle_per_minute is not None:
                refused = self._throttled_locked()
                if refused is not None:
                    return refused
            if request.method == "GET":
                page_index = _page_index(request)
                for fault in self._pages:
                    if fault.resource == resource and fault.page_index == page_index:
                        return sepm_error(fault.status, f"simulated failure of page {page_index}")
            if self._error_share and self._random.random() < self._error_share:
                return sepm_error(self._error_status, "simulated server error")
        return None

    def _throttled_locked(self) -> Response | None:
        assert self._throttle_per_minute is not None
        now = self._monotonic()
        while self._admitted and now - self._admitted[0] >= 60.0:
            self._admitted.popleft()
        if len(self._admitted) >= self._throttle_per_minute:
            wait = 60.0 - (now - self._admitted[0])
            return _too_many(max(1, math.ceil(wait)))
        self._admitted.append(now)
        return None


def _too_many(retry_after_s: int) -> Response:
    return sepm_error(429, "too many requests", headers=[("Retry-After", str(retry_after_s))])


def _page_index(request: Request) -> int:
    values = request.query.get("pageIndex")
    try:
        return int(values[0]) if values else 1
    except ValueError:
        return 0


def _number(spec: Mapping[str, Any], key: str, default: float | None = None) -> float:
    value = spec.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{spec.get('kind')}: {key!r} must be a number")
    return float(value)


def _integer(spec: Mapping[str, Any], key: str, default: int | None = None) -> int:
    value = spec.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{spec.get('kind')}: {key!r} must be an integer")
    return value


def _text(spec: Mapping[str, Any], key: str, default: str | None = None) -> str:
    value = spec.get(key, default)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{spec.get('kind')}: {key!r} must be a non-empty string")
    return value
