"""The Observer over a fake SEPM (MockTransport) and real TLS listeners: complete snapshots or errors."""

from __future__ import annotations

import httpx
import pytest
from sepm_fakes import START_MS, FakeSepm, TlsServer, error, make_certificate, settings_body

from reconciler.desired.schema import DesiredSite
from reconciler.sepm.errors import CredentialsRejected, IncompleteObservation, UnexpectedResponse
from reconciler.sepm.observer import Observer

CERT = make_certificate("sepm01")
ROOT, SALES, EMEA = "A" * 32, "B" * 32, "C" * 32


def _group(group_id: str, path: str, *, inherits: bool = False, default: str | None = None) -> dict:
    return {
        "id": group_id,
        "name": path.rsplit("\\", 1)[-1],
        "fullPathName": path,
        "policyInheritanceEnabled": inherits,
        "policySerialNumber": f"{group_id[:4]}-11/29/2025 18:20:00 001",
        "defaultLocationId": default or f"{group_id[:4]}-DEF",
    }


def _computer(n: int, group_id: str, *, last: int = START_MS - 60_000, **extra) -> dict:
    return {
        "uniqueId": f"U{n:04}",
        "computerName": f"pc{n}",
        "group": {"id": group_id, "name": "whatever"},
        "agentVersion": "14.3.9816.7000",
        "onlineStatus": 1,
        "lastUpdateTime": last,
        "profileSerialNo": "s",
        "lastServerName": "sepm01",
        **extra,
    }


def populate(fake: FakeSepm) -> None:
    """Three groups (one inheriting), a location with its own MSL, seven clients."""
    fake.groups = [
        _group(ROOT, "My Company"),
        _group(SALES, "My Company\\Sales"),
        _group(EMEA, "My Company\\Sales\\EMEA", inherits=True, default="BBBB-DEF"),
    ]
    fake.locations = {
        ROOT: ["Default:/x/AAAA-DEF"],
        SALES: ["Default:/x/BBBB-DEF", "VPN:/x/BBBB-VPN"],
        EMEA: ["Default:/x/CCCC-DEF"],
    }
    fake.settings = {
        (ROOT, "AAAA-DEF"): settings_body("Default Management Server List"),
        (SALES, "BBBB-DEF"): settings_body("Default Management Server List"),
        (SALES, "BBBB-VPN"): settings_body("Laptops"),
        (EMEA, "CCCC-DEF"): settings_body("Default Management Server List"),
    }
    fake.computers = [_computer(n, [ROOT, SALES, EMEA][n % 3]) for n in range(7)]


@pytest.fixture
async def tls():
    async with TlsServer(CERT) as server:
        yield server


def desired(tls: TlsServer, *, rest_port: int | None = None) -> DesiredSite:
    port = tls.port
    return DesiredSite.model_validate(
        {
            "site": "hq",
            "api": {"url": "https://sepm.test:8446", "username": "admin", "password": {"env": "X"}},
            "servers": [
                {
                    "name": "sepm01",
                    "address": "127.0.0.1",
                    "ports": {"https": port, "http": 8014, "console": port, "rest": rest_port or port},
                    "certificate": {"sha256": CERT.sha256},
                }
            ],
            "managementServerLists": [{"name": "Default Management Server List", "servers": ["sepm01"]}],
        }
    )


async def test_a_snapshot_holds_the_whole_site(fake, make_client, tls):
    """Groups, locations with settings, clients, certificates, version and SEPM's time are all there."""
    populate(fake)
    async with make_client() as client:
        observed = await Observer(desired(tls), client).observe()
    assert observed.site == "hq"
    assert observed.version == "14.3.9816.7000"
    assert observed.server_time == START_MS
    assert [g.full_path for g in observed.groups] == [
        "My Company",
        "My Company\\Sales",
        "My Company\\Sales\\EMEA",
    ]
    sales = observed.groups_by_id()[SALES]
    default, vpn = sales.locations
    assert (default.is_default, default.uses_group_settings) == (True, True)
    assert (vpn.is_default, vpn.uses_group_settings, vpn.management_server_list) == (False, False, "Laptops")
    assert observed.groups_by_id()[EMEA].inherits
    assert observed.groups_by_id()[EMEA].default_location().id == "CCCC-DEF"
    assert len(observed.clients) == 7
    assert {c.group_id for c in observed.clients} == {ROOT, SALES, EMEA}
    (server,) = observed.servers
    assert server.presented_fingerprints() == {CERT.sha256}
    assert set(server.certificates) == {"https", "console", "rest"}


async def test_clients_are_read_incrementally_then_in_full(fake, make_client, tls):
    """After a full read, only clients updated since (server time minus the margin) are asked for."""
    populate(fake)
    async with make_client() as client:
        observer = Observer(desired(tls), client, full_read_every=3, incremental_margin_ms=60_000)
        first = await observer.observe()
        fake.now_ms += 600_000
        fake.computers[2] = _computer(2, EMEA, last=fake.now_ms - 1_000) | {"profileSerialNo": "new"}
        second = await observer.observe()
        fake.now_ms += 600_000
        await observer.observe()
        fake.now_ms += 600_000
        await observer.observe()
    reads = [
        c.url.params.get("lastUpdate")
        for c in fake.calls("GET", "computers")
        if c.url.params["pageIndex"] == "1"
    ]
    assert reads == [None, str(first.server_time - 60_000), str(second.server_time - 60_000), None]
    assert len(second.clients) == 7
    changed = next(c for c in second.clients if c.id == "U0002")
    assert changed.profile_serial == "new"
    assert changed.group_id == EMEA


async def test_deletion_markers_remove_clients_and_full_reads_drop_the_missing(fake, make_client, tls):
    """An incremental deletion marker removes a client; a full read forgets clients SEPM no longer lists."""
    populate(fake)
    async with make_client() as client:
        observer = Observer(desired(tls), client, full_read_every=2)
        await observer.observe()
        fake.now_ms += 60_000
        fake.computers[0] = _computer(0, ROOT, last=fake.now_ms, deleted=1)
        second = await observer.observe()
        del fake.computers[1]
        fake.now_ms += 60_000
        third = await observer.observe()
    assert "U0000" not in {c.id for c in second.clients}
    assert len(second.clients) == 6
    assert "U0001" not in {c.id for c in third.clients}


async def test_an_incremental_read_that_does_not_fit_becomes_a_full_read(fake, make_client, tls):
    """A client left in a group that no longer exists makes the observer read every client at once."""
    populate(fake)
    for computer in fake.computers:
        computer["lastUpdateTime"] = START_MS - 3_600_000  # long before the first snapshot
    async with make_client() as client:
        observer = Observer(desired(tls), client)
        await observer.observe()
        # EMEA disappears; its clients moved to Sales without checking in (no lastUpdate change).
        fake.groups.pop()
        for computer in fake.computers:
            if computer["group"]["id"] == EMEA:
                computer["group"] = {"id": SALES, "name": "My Company\\Sales"}
        second = await observer.observe()
    assert {c.group_id for c in second.clients} == {ROOT, SALES}
    first_pages = [c for c in fake.calls("GET", "computers") if c.url.params["pageIndex"] == "1"]
    assert [c.url.params.get("lastUpdate") is None for c in first_pages] == [True, False, True]


async def test_a_failed_observation_keeps_the_previous_client_set(fake, make_client, tls):
    """A failing page raises IncompleteObservation; the next read still builds on the last good snapshot."""
    populate(fake)
    async with make_client() as client:
        # The margin is given (it was this test's default) so that the window is told apart from the page.
        observer = Observer(desired(tls), client, incremental_margin_ms=300_000)
        first = await observer.observe()
        fake.now_ms += 60_000
        fake.add_script("GET", "computers", *[error(500, "db")] * 10)
        with pytest.raises(IncompleteObservation, match="page 1"):
            await observer.observe()
        fake.script.clear()
        third = await observer.observe()
    assert len(third.clients) == 7
    last_read = [c for c in fake.calls("GET", "computers") if c.url.params["pageIndex"] == "1"][-1]
    assert last_read.url.params["lastUpdate"] == str(first.server_time - 300_000)


def _no_clock(fake: FakeSepm) -> None:
    """No Date header and a logon answer without serverTime: SEPM's clock cannot be known."""

    def logon(request: httpx.Request) -> httpx.Response:
        fake.tokens["clockless-token"] = START_MS + 3_600_000
        return httpx.Response(200, json={"token": "clockless-token", "tokenExpiration": 3600})

    fake.send_date = False
    fake.add_script("POST", "identity/authenticate", logon)


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        pytest.param(
            lambda f: f.add_script("GET", f"groups/{SALES}/locations", error(410, "gone")),
            "changed while",
            id="group-deleted-mid-read",
        ),
        pytest.param(lambda f: f.groups.pop(1), "no parent", id="missing-parent"),
        pytest.param(lambda f: f.groups.pop(0), "no parent|no root", id="missing-root"),
        pytest.param(
            lambda f: f.computers.append(_computer(99, "D" * 32)),
            "does not have",
            id="client-in-unknown-group",
        ),
        pytest.param(
            lambda f: f.add_script("GET", "groups", *[error(503, "busy")] * 10),
            "observation failed|page 1",
            id="groups-unavailable",
        ),
        pytest.param(_no_clock, "clock is unknown", id="no-sepm-clock"),
    ],
)
async def test_anything_missing_is_an_incomplete_observation(fake, make_client, tls, breakage, message):
    """Races, gaps and failures raise IncompleteObservation instead of a partial snapshot."""
    populate(fake)
    breakage(fake)
    async with make_client() as client:
        with pytest.raises(IncompleteObservation, match=message):
            await Observer(desired(tls), client).observe()


async def test_an_unreachable_server_port_is_an_incomplete_observation(fake, make_client, tls):
    """A server whose REST port does not answer TLS makes the observation incomplete."""
    populate(fake)
    async with make_client() as client:
        observer = Observer(desired(tls, rest_port=1), client, tls_timeout=1)
        with pytest.raises(IncompleteObservation, match="sepm01"):
            await observer.observe()


async def test_permanent_errors_are_not_disguised(fake, make_client, tls):
    """Rejected credentials and unreadable payloads propagate as themselves, never as transient."""
    populate(fake)
    fake.add_script("POST", "identity/authenticate", error(400, "locked"))
    async with make_client() as client:
        with pytest.raises(CredentialsRejected):
            await Observer(desired(tls), client).observe()
    fake2 = FakeSepm()
    populate(fake2)
    fake2.settings[(SALES, "BBBB-VPN")] = {"configuration": {}}
    async with make_client(transport=fake2.transport) as client:
        with pytest.raises(UnexpectedResponse, match="sem_server"):
            await Observer(desired(tls), client).observe()


async def test_throttling_beyond_patience_keeps_sepms_wait(fake, make_client, tls):
    """A long Retry-After on a page becomes an IncompleteObservation that still carries the wait."""
    populate(fake)
    fake.add_script("GET", "computers", error(429, "slow down", **{"Retry-After": "600"}))
    async with make_client() as client:
        with pytest.raises(IncompleteObservation) as caught:
            await Observer(desired(tls), client).observe()
    assert caught.value.retry_after == 600.0
