"""The client set over random churn: its columns always agree with its clients, and a record that says
nothing new keeps the very client object it repeats."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.model.observed import ObservedClient
from reconciler.sepm import adapter, decoding
from reconciler.sepm.client_set import ClientSet

GROUPS = ("G-ROOT", "G-SALES", "G-EMEA")
PATHS = {"my company": "G-ROOT", "my company\\sales": "G-SALES", "my company\\sales\\emea": "G-EMEA"}


def _record(n: int, *, group: int = 0, last: int = 1_000, serial: str = "s1", **extra: Any) -> dict[str, Any]:
    return {
        "uniqueId": f"U{n:03}",
        "computerName": f"pc{n}",
        "group": {"id": GROUPS[group]},
        "agentVersion": "14.3.9816.7000",
        "onlineStatus": 1,
        "lastUpdateTime": last,
        "profileSerialNo": serial,
        "lastServerName": "sepm01",
        **extra,
    }


def _merge(before: ClientSet, records: list[dict[str, Any]], *, full: bool) -> ClientSet:
    read = before.reader(PATHS)
    return before.merged([read(record) for record in records], full=full)


def _assert_consistent(clients: ClientSet) -> None:
    items = clients.clients
    assert [c.id for c in items] == sorted(c.id for c in items)
    columns = clients.columns
    assert columns.clients is items
    assert list(columns.group_id) == [c.group_id for c in items]
    assert list(columns.last_update_time) == [c.last_update_time for c in items]
    assert list(columns.profile_serial) == [c.profile_serial for c in items]
    assert list(columns.agent_version) == [c.agent_version for c in items]
    assert list(clients.ids) == [c.id for c in items]
    assert list(clients.names) == [c.name for c in items]
    assert [bool(b) for b in clients.online] == [c.online for c in items]
    assert list(clients.servers) == [c.last_server for c in items]
    assert dict(clients.index) == {c.id: i for i, c in enumerate(items)}
    by_group: dict[str, list[int]] = {}
    for i, c in enumerate(items):
        by_group.setdefault(c.group_id, []).append(i)
    assert {g: list(positions) for g, positions in clients.by_group.items()} == by_group
    assert columns.by_group is clients.by_group


def _churned(
    site: dict[int, dict[str, Any]], churn: list[tuple[int, str, int]], *, move_by_path: bool
) -> dict[int, dict[str, Any]]:
    """Applies ``churn`` to ``site`` (client number -> its record) and returns what an incremental read
    would send for it: each touched client's record, or a deletion marker. A move names the new group
    by its path (``move_by_path``, as SEPM may) or by its id."""
    sent: dict[int, dict[str, Any]] = {}
    for n, change, value in churn:
        record = dict(site.get(n) or _record(n))
        if change == "delete":
            site.pop(n, None)
            sent[n] = {"uniqueId": f"U{n:03}", "deleted": 1}
            continue
        if change == "check-in":
            record["lastUpdateTime"] += 1_000 + value
        elif change == "move":
            record["group"] = (
                {"id": "", "name": list(PATHS)[value].upper()} if move_by_path else {"id": GROUPS[value]}
            )
        elif change == "rename":
            record["computerName"] += "-renamed"
        elif change == "offline":
            record["onlineStatus"] = 0
        elif change == "policy":
            record["profileSerialNo"] = f"s{value + 2}"
        site[n] = record
        sent[n] = record
    return sent


# One change to one client: (client number 0-29, what happens, a value).
changes = st.lists(
    st.tuples(
        st.integers(0, 29),
        st.sampled_from(["check-in", "move", "rename", "offline", "policy", "delete", "unchanged"]),
        st.integers(0, 2),
    ),
    max_size=25,
)


@settings(max_examples=150, deadline=None)
@given(
    first=st.sets(st.integers(0, 29), max_size=20),
    rounds=st.lists(st.tuples(st.booleans(), changes), min_size=1, max_size=5),
)
def test_columns_agree_with_the_clients_after_any_churn(first, rounds):
    """After a cold read and any run of full and incremental reads (additions, deletions, moves between
    groups, check-ins, renames), the set equals the site, its columns agree with its clients, an
    unchanged client is the very object it was, and the previous set is left as it was."""
    site = {n: _record(n, group=n % 3) for n in first}
    clients = _merge(ClientSet(), list(site.values()), full=True)
    _assert_consistent(clients)
    for full, churn in rounds:
        sent = _churned(site, churn, move_by_path=True)
        # A full read sends every computer (a deletion marker then only repeats an absence).
        records = (
            [*site.values(), *(r for r in sent.values() if "deleted" in r)] if full else list(sent.values())
        )
        before = clients
        snapshot = (
            tuple(before.clients),
            list(before.columns.group_id),
            list(before.columns.last_update_time),
            {g: list(positions) for g, positions in before.by_group.items()},
        )
        clients = _merge(before, records, full=full)
        _assert_consistent(clients)
        assert (
            tuple(before.clients),
            list(before.columns.group_id),
            list(before.columns.last_update_time),
            {g: list(positions) for g, positions in before.by_group.items()},
        ) == snapshot
        expected = sorted(
            (adapter.parse_client(r, group_ids_by_path=PATHS) for r in site.values()), key=lambda c: c.id
        )
        assert list(clients.clients) == expected
        old = {c.id: c for c in before.clients}
        for client in clients.clients:
            if client.id in old and client == old[client.id]:
                assert client is old[client.id]


def test_a_record_that_says_nothing_new_reads_as_the_position_of_its_client():
    """The reader answers a repeated record with the client's position, a changed one with a new client."""
    clients = _merge(ClientSet(), [_record(1), _record(2), _record(3)], full=True)
    read = clients.reader(PATHS)
    assert read(_record(2)) == 1
    changed = read(_record(2, last=2_000))
    assert isinstance(changed, ObservedClient)
    assert changed.last_update_time == 2_000
    assert read({"uniqueId": "U002", "deleted": 1}) == adapter.Deleted("U002")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("computerName", "pc2-new", id="name"),
        pytest.param("onlineStatus", 0, id="online"),
        pytest.param("lastServerName", "sepm02", id="server"),
        pytest.param("agentVersion", "14.3.10000.0000", id="version"),
        pytest.param("profileSerialNo", "s9", id="serial"),
        pytest.param("group", {"id": "G-EMEA"}, id="group"),
    ],
)
def test_any_changed_field_makes_a_new_client(field, value):
    """A record that differs from the client in any one field is read as a new client, not a position."""
    clients = _merge(ClientSet(), [_record(1), _record(2)], full=True)
    read = clients.reader(PATHS)
    assert isinstance(read(_record(2) | {field: value}), ObservedClient)


# Each field of ObservedClient, and a record that changes only it (the id is the key, not a field to
# compare). A field added to ObservedClient without a line here fails the first test below, so that the
# reader's comparison cannot silently miss it.
_ONE_FIELD_CHANGED: dict[str, dict[str, Any]] = {
    "name": {"computerName": "renamed"},
    "group_id": {"group": {"id": GROUPS[1]}},
    "agent_version": {"agentVersion": "14.3.9999.1000"},
    "last_update_time": {"lastUpdateTime": 2_000},
    "profile_serial": {"profileSerialNo": "s2"},
    "online": {"onlineStatus": 0},
    "last_server": {"lastServerName": "sepm02"},
}


def test_every_client_field_is_compared_by_the_reader() -> None:
    assert set(ObservedClient.model_fields) - {"id"} == set(_ONE_FIELD_CHANGED)


@pytest.mark.parametrize("field", sorted(_ONE_FIELD_CHANGED))
def test_a_record_that_changes_one_field_is_read_as_a_new_client(field: str) -> None:
    """An unchanged record becomes the position of the client it repeats; one that differs in any single
    field becomes a new client with that field's new value."""
    before = _merge(ClientSet(), [_record(1), _record(2)], full=True)
    read = before.reader(PATHS)
    assert read(_record(1)) == 0

    changed = read({**_record(1), **_ONE_FIELD_CHANGED[field]})

    assert isinstance(changed, ObservedClient)
    assert getattr(changed, field) != getattr(before.clients[0], field)
    after = before.merged([changed], full=False)
    _assert_consistent(after)
    assert after.clients[0] is changed


def test_a_column_no_changed_client_differs_in_is_shared_not_copied():
    """Check-ins alone copy the check-in times (and the clients) but share the names, versions, groups,
    serials and servers with the previous set; a rename copies the names only."""
    before = _merge(ClientSet(), [_record(n, group=n % 3) for n in range(6)], full=True)
    checked_in = _merge(
        before, [_record(1, group=1, last=5_000), _record(4, group=1, last=5_000)], full=False
    )
    assert list(checked_in.columns.last_update_time) == [1_000, 5_000, 1_000, 1_000, 5_000, 1_000]
    assert checked_in.names is before.names
    assert checked_in.servers is before.servers
    assert checked_in.columns.group_id is before.columns.group_id
    assert checked_in.columns.profile_serial is before.columns.profile_serial
    assert checked_in.columns.agent_version is before.columns.agent_version
    assert checked_in.by_group is before.by_group
    renamed = _merge(checked_in, [_record(2, group=2, computerName="pc2-new")], full=False)
    assert list(renamed.names) == ["pc0", "pc1", "pc2-new", "pc3", "pc4", "pc5"]
    assert list(checked_in.names) == ["pc0", "pc1", "pc2", "pc3", "pc4", "pc5"]
    assert renamed.columns.group_id is before.columns.group_id


def test_typed_records_read_as_their_dicts_do():
    """Records of a typed page (decoded as SEPM sends them, deleted: 0 included) read against the set
    as the same positions, changed clients and deletions as the dicts they stand for."""
    before = _merge(ClientSet(), [_record(n, group=n % 3) for n in range(4)], full=True)
    records = [
        _record(0, group=0, deleted=0),  # says nothing new
        _record(1, group=1, last=9_000, deleted=0),  # checked in
        _record(2, group=2, computerName=None),  # a null name reads as ""
        {"uniqueId": "U003", "deleted": 1},
        _record(7, group=1),  # new
    ]
    body = json.dumps({"content": records, "totalElements": len(records), "lastPage": True}).encode()
    typed = decoding.computer_page_decoder()(body)["content"]
    assert {type(item) for item in typed} == {decoding.WireComputer}
    read_typed, read_dict = before.reader(PATHS), before.reader(PATHS)
    assert [read_typed(item) for item in typed] == [read_dict(record) for record in records]
    assert read_typed(typed[0]) == 0


PATCHED_SITE = 64  # enough clients that a few changes stay beside the tuple, round after round

small_churn = st.lists(
    st.tuples(
        st.integers(0, PATCHED_SITE + 3),
        st.sampled_from(["check-in", "move", "rename", "policy", "unchanged", "delete"]),
        st.integers(0, 2),
    ),
    max_size=6,
)


@settings(max_examples=150, deadline=None)
@given(rounds=st.lists(st.tuples(st.integers(0, 9), small_churn), min_size=1, max_size=10))
def test_patched_clients_stay_the_site_across_rounds_and_a_full_read_folds_them(rounds):
    """With few changes per read, changed clients pile up beside the same tuple for several rounds
    (a patch on a patched set), until an eighth of the clients or a full read folds them into a new
    tuple: through all of it the set equals the site and its columns agree with its clients."""
    site = {n: _record(n, group=n % 3) for n in range(PATCHED_SITE)}
    clients = _merge(ClientSet(), list(site.values()), full=True)
    for kind, churn in rounds:
        full = kind == 0
        rarer_deletions = [
            (n, change, value) for n, change, value in churn if change != "delete" or value == 0
        ]
        sent = _churned(site, rarer_deletions, move_by_path=False)
        clients = _merge(clients, list(site.values()) if full else list(sent.values()), full=full)
        _assert_consistent(clients)
        expected = tuple(
            sorted(
                (adapter.parse_client(r, group_ids_by_path=PATHS) for r in site.values()), key=lambda c: c.id
            )
        )
        assert clients.clients == expected
        assert clients.clients.patch_count * 8 <= len(clients.clients)
        if full:
            assert clients.clients.patch_count == 0
