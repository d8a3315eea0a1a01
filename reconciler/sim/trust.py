"""The client trust model: what one check-in of one client does, and when a client is orphaned.

A client caches (``CachedPolicy``): its MSL (per server: priority, protocol, port and the fingerprint
of the certificate it was given for that server), the secure-communications flag, the heartbeat and
the policy serial. At a check-in (``attempt``) it walks its servers by priority, in a random order
within one priority (deterministic from seed, client and time, see ``order_key``):
- a server that is down is skipped;
- a server is reached only on the port it really listens on for the entry's protocol (its nominal
  HTTPS or HTTP port): an entry with another port cannot connect (``Failure.PORT``) and is skipped
  like a server that is down, except that it never comes back;
- over HTTPS the certificate that server's client port presents NOW must have the cached
  fingerprint, else certificate failure;
- with the cached secure flag on, the policy signature (made with the server's current certificate)
  must match the cached fingerprint too, else certificate failure; this holds over HTTP as well;
- after a certificate failure a client that does not fail over (``fails_over=False``: the scenario
  says so for its agent version; 14.2 agents) gives up the check-in; any other client tries the next
  server. Which clients fail over is the caller's input, never derived here from a version.
The first server that passes serves the check-in. All failing is a missed check-in.

``classify`` answers, for one cached policy against the current servers, whether a check-in ALWAYS
succeeds, NEVER does, or SOMETIMES (only a client that does not fail over whose first reachable priority
mixes servers that accept and servers that refuse it: it depends on the random order). The lazy engine
uses it to skip check-ins whose outcome is known.

Orphaned (``orphan_reason``), judged against the current certificates and ports and ignoring outages
(a server being down is temporary; a certificate mismatch or a wrong port is not):
- a client that fails over is orphaned when no server in its cached MSL accepts its cache;
- one that does not is orphaned when no server of its first priority that it can connect to accepts
  it: with every server up it always starts there and stops at the first certificate failure, so it
  can only ever get through if one of those servers accepts it. (It could slip through if all of them
  were down at once; that is a disaster, not a recovery path.)
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

ALWAYS_OK, NEVER_OK, SOMETIMES_OK = "always", "never", "sometimes"
_MASK = (1 << 64) - 1


class Failure(StrEnum):
    """Why one server did not serve a check-in."""

    DOWN = "server-down"
    PORT = "port-unreachable"
    TLS = "tls-certificate-mismatch"
    SIGNATURE = "policy-signature-mismatch"


# What a client that does not fail over stops at; connection failures send every client onwards.
CERTIFICATE_FAILURES = frozenset({Failure.TLS, Failure.SIGNATURE})
_UNREACHABLE = frozenset({Failure.DOWN, Failure.PORT})


@dataclass(frozen=True, slots=True)
class CachedServer:
    """One MSL entry as a client caches it."""

    server: str
    priority: int
    protocol: str
    port: int
    fingerprint: str


@dataclass(frozen=True, slots=True)
class CachedPolicy:
    """What a client took from its last successful check-in (or had at the start)."""

    msl_name: str
    servers: tuple[CachedServer, ...]
    secure_communications: bool
    heartbeat_ms: int
    serial: str


@dataclass(frozen=True, slots=True)
class ServerNow:
    """What a client meets at a server at check-in time."""

    name: str
    index: int
    down: bool
    https_fingerprint: str  # what the client port (443) presents
    signing_fingerprint: str  # the server's current certificate, which signs policies
    https_port: int  # the ports the server really listens on for clients (its nominal ports)
    http_port: int


@dataclass(frozen=True, slots=True)
class Outcome:
    """One check-in: the server that served it, or None and why each tried server failed."""

    server: str | None
    failures: tuple[tuple[str, Failure], ...]

    @property
    def reason(self) -> str:
        return "; ".join(f"{name}: {why.value}" for name, why in self.failures) or "no servers"


def check(entry: CachedServer, policy: CachedPolicy, now: ServerNow) -> Failure | None:
    """Whether one server accepts a client with this cache right now (None) or why not."""
    if now.down:
        return Failure.DOWN
    return trust_failure(entry, policy, now)


def trust_failure(entry: CachedServer, policy: CachedPolicy, now: ServerNow) -> Failure | None:
    """The lasting checks alone, ignoring outages: the port, then the certificates."""
    if entry.port != (now.https_port if entry.protocol == "https" else now.http_port):
        return Failure.PORT
    if entry.protocol == "https" and now.https_fingerprint != entry.fingerprint:
        return Failure.TLS
    if policy.secure_communications and now.signing_fingerprint != entry.fingerprint:
        return Failure.SIGNATURE
    return None


def order_key(seed: int, client: int, t: int, server: int) -> int:
    """A deterministic pseudo-random key; servers of one priority are tried by increasing key."""
    x = (seed * 0x9E3779B97F4A7C15 + client * 0xBF58476D1CE4E5B9 + t * 0x94D049BB133111EB + server) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def _levels(policy: CachedPolicy) -> list[list[CachedServer]]:
    levels: dict[int, list[CachedServer]] = {}
    for entry in policy.servers:
        levels.setdefault(entry.priority, []).append(entry)
    return [levels[p] for p in sorted(levels)]


def attempt(
    policy: CachedPolicy,
    servers: dict[str, ServerNow],
    *,
    fails_over: bool,
    seed: int,
    client: int,
    t: int,
) -> Outcome:
    """One check-in of one client at ``t`` against the servers as they are now."""
    failures: list[tuple[str, Failure]] = []
    for level in _levels(policy):
        ordered = sorted(level, key=lambda e: order_key(seed, client, t, servers[e.server].index))
        for entry in ordered:
            why = check(entry, policy, servers[entry.server])
            if why is None:
                return Outcome(entry.server, tuple(failures))
            failures.append((entry.server, why))
            if not fails_over and why in CERTIFICATE_FAILURES:
                return Outcome(None, tuple(failures))
    return Outcome(None, tuple(failures))


def classify(policy: CachedPolicy, servers: dict[str, ServerNow], *, fails_over: bool) -> str:
    """ALWAYS_OK, NEVER_OK or SOMETIMES_OK for a check-in with this cache against these servers."""
    verdicts = [[check(e, policy, servers[e.server]) for e in level] for level in _levels(policy)]
    if fails_over:
        return ALWAYS_OK if any(v is None for vs in verdicts for v in vs) else NEVER_OK
    for vs in verdicts:
        reachable = [v for v in vs if v not in _UNREACHABLE]
        if not reachable:
            continue  # no server of this priority can be connected to: the client moves on
        if all(v is None for v in reachable):
            return ALWAYS_OK
        return SOMETIMES_OK if any(v is None for v in reachable) else NEVER_OK
    return NEVER_OK


def winners(policy: CachedPolicy, servers: dict[str, ServerNow]) -> list[ServerNow]:
    """For an ALWAYS_OK cache: the servers that may serve a check-in (the first level with one that
    accepts; among them the one with the lowest ``order_key`` serves). Equivalent to ``attempt`` for
    clients that do not fail over too: for them ALWAYS_OK means every reachable server of that level
    accepts."""
    for level in _levels(policy):
        accepting = [servers[e.server] for e in level if check(e, policy, servers[e.server]) is None]
        if accepting:
            return accepting
    return []


def pick(candidates: list[ServerNow], *, seed: int, client: int, t: int) -> ServerNow:
    """The candidate with the lowest order key (the one a random walk of the level meets first)."""
    if len(candidates) == 1:
        return candidates[0]
    return min(candidates, key=lambda s: order_key(seed, client, t, s.index))


def orphan_reason(policy: CachedPolicy, servers: dict[str, ServerNow], *, fails_over: bool) -> str | None:
    """None when some server can still accept this client; otherwise why not (see module doc)."""
    judged = [
        [(e.server, trust_failure(e, policy, servers[e.server])) for e in level] for level in _levels(policy)
    ]
    if fails_over:
        considered = [pair for level in judged for pair in level]
        scope = "no server in its management server list accepts it"
    else:
        # Entries it cannot connect to send it onwards; the first level it can connect to is where it
        # stops at a certificate failure.
        considered = []
        for level in judged:
            considered += level
            if any(why is not Failure.PORT for _, why in level):
                break
        scope = (
            "every server of its first reachable priority refuses it "
            "(its agent does not fail over after a certificate failure)"
        )
    if any(why is None for _, why in considered):
        return None
    detail = "; ".join(f"{name}: {why.value}" for name, why in considered if why is not None)
    return f"{scope}: {detail}"
