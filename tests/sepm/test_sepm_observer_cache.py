"""What an observation reads again, and what it keeps: groups by policy serial, clients by record."""

from __future__ import annotations

import gc
from typing import Any

import pytest
from sepm_fakes import START_MS, FakeSepm, TlsServer, error
from test_sepm_observer import CERT, EMEA, ROOT, SALES, _computer, desired, populate

from reconciler import collector
from reconciler.sepm import adapter
from reconciler.sepm.errors import IncompleteObservation, UnexpectedResponse
from reconciler.sepm.observer import Observer


@pytest.fixture
async def tls():
    async with TlsServer(CERT) as server:
        yield server


def _settings_reads(fake: FakeSepm) -> list[str]:
    """The groups whose locations were listed, in order."""
    return [r.url.path.split("/")[-2] for r in fake.log if r.url.path.endswith("/locations")]


def _bump(fake: FakeSepm, group_id: str, serial: str) -> None:
    next(g for g in fake.groups if g["id"] == group_id)["policySerialNumber"] = serial


async def test_groups_are_read_again_only_when_their_policy_serial_moved(fake, make_client, tls):
    """A second observation lists no locations; after a serial moves, only that group is read again."""
    populate(fake)
    async with make_client() as client:
        observer = Observer(desired(tls), client)
        await observer.observe()
        assert sorted(_settings_reads(fake)) == sorted([ROOT, SALES, EMEA])
        fake.log.clear()
        await observer.observe()
        assert _settings_reads(fake) == []
        assert observer.groups_read == 0
        fake.settings[(SALES, "BBBB-VPN")]["configuration"]["communication_settings"]["sem_server"][
            "name"
        ] = "Laptops (HTTP)"
        _bump(fake, SALES, "BBBB-11/29/2025 19:00:00 002")
        third = await observer.observe()
    assert _settings_reads(fake) == [SALES]
    sales = third.groups_by_id()[SALES]
    assert [loc.management_server_list for loc in sales.locations][1] == "Laptops (HTTP)"
    assert sales.policy_serial == "BBBB-11/29/2025 19:00:00 002"


async def test_a_settings_change_without_a_serial_is_not_seen_until_the_serial_moves(fake, make_client, tls):
    """The cache trusts SEPM's serial (adapter fact 12): the serial, not the settings, decides a re-read."""
    populate(fake)
    async with make_client() as client:
        observer = Observer(desired(tls), client)
        await observer.observe()
        fake.settings[(ROOT, "AAAA-DEF")]["configuration"]["general_settings"]["security_settings"][
            "secure_communications"
        ] = False
        kept = await observer.observe()
        _bump(fake, ROOT, "AAAA-11/29/2025 19:00:00 003")
        seen = await observer.observe()
    assert kept.groups_by_id()[ROOT].locations[0].secure_communications is True
    assert seen.groups_by_id()[ROOT].locations[0].secure_communications is False


async def test_a_renamed_group_keeps_its_locations_under_its_new_path(fake, make_client, tls):
    """A new fullPathName with the same serial is taken without reading the group's settings again."""
    populate(fake)
    async with make_client() as client:
        observer = Observer(desired(tls), client)
        first = await observer.observe()
        fake.groups[1]["fullPathName"] = "My Company\\Sales and Marketing"
        fake.groups[2]["fullPathName"] = "My Company\\Sales and Marketing\\EMEA"
        fake.log.clear()
        second = await observer.observe()
    assert _settings_reads(fake) == []
    assert second.groups_by_id()[SALES].full_path == "My Company\\Sales and Marketing"
    assert second.groups_by_id()[SALES].locations == first.groups_by_id()[SALES].locations


async def test_a_group_record_that_says_nothing_new_is_not_parsed_again(fake, make_client, tls, monkeypatch):
    """The second walk of an unchanged group list parses no record; a changed record is parsed afresh,
    and an inheritance flag of 1 (equal to true in Python, not in SEPM's JSON) is refused, not taken
    for the true read before."""
    populate(fake)
    parsed: list[str] = []
    parse_group = adapter.parse_group

    def counting(raw: Any) -> adapter.WireGroup:
        parsed.append(raw.get("id"))
        return parse_group(raw)

    monkeypatch.setattr(adapter, "parse_group", counting)
    async with make_client() as client:
        observer = Observer(desired(tls), client)
        await observer.observe()
        assert sorted(parsed) == sorted([ROOT, SALES, EMEA])
        parsed.clear()
        await observer.observe()
        assert parsed == []
        _bump(fake, SALES, "BBBB-11/29/2025 19:00:00 002")
        third = await observer.observe()
        assert parsed == [SALES]
        assert third.groups_by_id()[SALES].policy_serial == "BBBB-11/29/2025 19:00:00 002"
        emea = next(g for g in fake.groups if g["id"] == EMEA)
        assert emea["policyInheritanceEnabled"] is True
        emea["policyInheritanceEnabled"] = 1
        with pytest.raises(UnexpectedResponse, match="policyInheritanceEnabled"):
            await observer.observe()


async def test_a_read_that_made_most_clients_anew_settles_the_collector(fake, make_client, tls, monkeypatch):
    """The first read (every client a new object, and at least ``settle_after`` of them) runs the full
    collection itself; a read that keeps the clients it had does not, nor does a small site's."""
    populate(fake)
    settled: list[int] = []
    monkeypatch.setattr(collector, "settle", lambda: settled.append(1))
    async with make_client() as client:
        small = Observer(desired(tls), client)
        await small.observe()
        assert settled == []
        observer = Observer(desired(tls), client, settle_after=2)
        await observer.observe()
        assert settled == [1]
        await observer.observe()
        assert settled == [1]


async def test_an_incremental_read_patches_the_clients_and_only_a_new_tuple_settles_the_young_generations(
    fake, make_client, tls, monkeypatch
):
    """An incremental read that changed a few clients keeps the last snapshot's tuple and puts the
    changed clients beside it: no new tuple of every client, so no collection. Once the changes pass an
    eighth of the clients, or a client comes, a new tuple is built, and the read ends with a collection
    of the young and middle generations, which leaves that tuple in the old one."""
    populate(fake)
    fake.computers += [_computer(n, ROOT) for n in range(7, 20)]
    young: list[int] = []
    real = collector.settle_young
    monkeypatch.setattr(collector, "settle_young", lambda: (young.append(1), real()))

    def change(n: int, serial: str) -> None:
        fake.computers[n] = _computer(n, [ROOT, SALES, EMEA][n % 3] if n < 7 else ROOT, last=fake.now_ms) | {
            "profileSerialNo": serial
        }

    def settled(items: tuple[object, ...]) -> bool:
        return not any(o is items for o in gc.get_objects(generation=0) + gc.get_objects(generation=1))

    async with make_client() as client:
        observer = Observer(desired(tls), client, settle_after=2)
        first = await observer.observe()
        second = await observer.observe()
        assert young == []
        change(3, "changed")
        third = await observer.observe()
        assert young == []
        assert third.clients.shares_base(second.clients)
        assert third.clients.shares_base(first.clients)
        assert [c.id for c in third.clients if c.profile_serial == "changed"] == ["U0003"]
        assert second.clients[3].profile_serial != "changed"  # the last snapshot is as it was
        for n in (4, 5):
            change(n, "changed")
        fourth = await observer.observe()
        assert young == [1]
        assert not fourth.clients.shares_base(first.clients)
        assert fourth.clients.patch_count == 0
        assert [c.id for c in fourth.clients if c.profile_serial == "changed"] == ["U0003", "U0004", "U0005"]
        assert settled(fourth.clients.as_tuple())
        fake.computers.append(_computer(20, ROOT, last=fake.now_ms))
        fifth = await observer.observe()
        assert young == [1, 1]
        assert len(fifth.clients) == 21
        assert not fifth.clients.shares_base(fourth.clients)
        assert settled(fifth.clients.as_tuple())


async def test_a_full_read_puts_the_patched_clients_on_a_tuple_of_their_own(
    fake, make_client, tls, monkeypatch
):
    """The changes an incremental read put beside the last tuple are folded into a new one by the next
    full read, which reads every client anyway; that read then settles the young generations."""
    populate(fake)
    fake.computers += [_computer(n, ROOT) for n in range(7, 20)]
    young: list[int] = []
    monkeypatch.setattr(collector, "settle_young", lambda: young.append(1))
    async with make_client() as client:
        observer = Observer(desired(tls), client, full_read_every=2, settle_after=2)
        first = await observer.observe()
        fake.computers[9] = _computer(9, ROOT, last=fake.now_ms)
        second = await observer.observe()
        assert second.clients.patch_count == 1
        assert second.clients.shares_base(first.clients)
        assert young == []
        assert observer.next_read_is_full
        third = await observer.observe()
    assert third.clients.patch_count == 0
    assert not third.clients.shares_base(first.clients)
    assert third.clients == second.clients
    assert young == [1]


async def test_a_failed_observation_keeps_the_groups_of_the_last_good_one(fake, make_client, tls):
    """Groups read during a failed observation are not kept: the next one reads them again."""
    populate(fake)
    async with make_client() as client:
        observer = Observer(desired(tls), client)
        await observer.observe()
        _bump(fake, EMEA, "CCCC-11/29/2025 19:00:00 004")
        fake.add_script("GET", "computers", *[error(503, "busy")] * 10)
        with pytest.raises(IncompleteObservation):
            await observer.observe()
        fake.script.clear()
        fake.log.clear()
        await observer.observe()
    assert _settings_reads(fake) == [EMEA]


async def test_clients_whose_records_say_nothing_new_stay_the_same_objects(fake, make_client, tls):
    """A full read of an unchanged site builds no new client; a changed record builds exactly one."""
    populate(fake)
    async with make_client() as client:
        observer = Observer(desired(tls), client, full_read_every=1)
        first = await observer.observe()
        fake.computers[3] = _computer(3, ROOT, last=START_MS)
        second = await observer.observe()
    same = [a is b for a, b in zip(first.clients, second.clients, strict=True)]
    assert same == [c.id != "U0003" for c in first.clients]
    assert second.clients == tuple(sorted(second.clients, key=lambda c: c.id))


async def test_the_incremental_window_has_a_margin_of_seconds(fake, make_client, tls):
    """By default an incremental read asks for clients updated in the last snapshot's time less 5 s."""
    populate(fake)
    async with make_client() as client:
        observer = Observer(desired(tls), client)
        first = await observer.observe()
        fake.now_ms += 60_000
        await observer.observe()
    first_pages = [c for c in fake.calls("GET", "computers") if c.url.params["pageIndex"] == "1"]
    assert first_pages[-1].url.params["lastUpdate"] == str(first.server_time - 5_000)


async def test_a_client_moved_then_its_old_group_deleted_is_consistent(fake, make_client, tls):
    """Moving a client out of a group, then deleting the group, is no inconsistency (counts follow)."""
    populate(fake)
    async with make_client() as client:
        observer = Observer(desired(tls), client)
        await observer.observe()
        for n, computer in enumerate(fake.computers):
            if computer["group"]["id"] == EMEA:
                fake.computers[n] = _computer(n, SALES, last=fake.now_ms + 1_000)
        fake.now_ms += 60_000
        await observer.observe()
        fake.groups.pop()  # EMEA, now empty
        fake.now_ms += 60_000
        third = await observer.observe()
    assert {c.group_id for c in third.clients} == {ROOT, SALES}
    first_pages = [c for c in fake.calls("GET", "computers") if c.url.params["pageIndex"] == "1"]
    incremental = [c.url.params.get("lastUpdate") is not None for c in first_pages]
    assert incremental == [False, True, True]  # the third read stayed incremental: nothing out of place


def _assert_columns_agree(observed) -> None:
    columns = observed.client_columns()
    assert columns is not None
    clients = observed.clients
    assert list(columns.group_id) == [c.group_id for c in clients]
    assert list(columns.last_update_time) == [c.last_update_time for c in clients]
    assert list(columns.profile_serial) == [c.profile_serial for c in clients]
    assert list(columns.agent_version) == [c.agent_version for c in clients]


async def test_every_snapshot_carries_columns_that_agree_with_its_clients(fake, make_client, tls):
    """After a cold read, incremental reads with additions, deletions and moves between groups, and a
    full read, each snapshot's columns agree with its clients, which equal a fresh observer's."""
    populate(fake)
    async with make_client() as client:
        observer = Observer(desired(tls), client, full_read_every=3)
        _assert_columns_agree(await observer.observe())
        fake.now_ms += 60_000
        fake.computers[1] = _computer(1, EMEA, last=fake.now_ms - 1_000, profileSerialNo="s2")  # moved
        fake.computers.append(_computer(20, SALES, last=fake.now_ms - 1_000))  # added
        fake.computers.append(_computer(4, ROOT, last=fake.now_ms - 1_000, deleted=1))  # deleted
        del fake.computers[4]
        incremental = await observer.observe()
        _assert_columns_agree(incremental)
        assert "U0004" not in {c.id for c in incremental.clients}
        fake.now_ms += 60_000
        fake.computers = [c for c in fake.computers if not c.get("deleted")]
        fake.computers[2] = _computer(2, ROOT, last=fake.now_ms - 1_000, onlineStatus=0)
        del fake.computers[0]  # gone without a marker: only the full read sees it
        second = await observer.observe()
        _assert_columns_agree(second)
        fake.now_ms += 60_000
        full = await observer.observe()
        _assert_columns_agree(full)
    async with make_client() as other:
        fresh = await Observer(desired(tls), other).observe()
    assert "U0000" in {c.id for c in second.clients}
    assert full.clients == fresh.clients
    assert "U0000" not in {c.id for c in full.clients}
    assert {c.id: c.group_id for c in full.clients}["U0001"] == EMEA
