"""A snapshot carries its clients' columns as a derived cache: only for its own clients, never saved,
never part of equality."""

from __future__ import annotations

from array import array

import pytest

from reconciler.model.client_columns import ClientColumns
from reconciler.model.observed import Observed, ObservedClient


def _client(n: int) -> ObservedClient:
    return ObservedClient(
        id=f"U{n}",
        name=f"pc{n}",
        group_id="G1",
        agent_version="14.3",
        last_update_time=1_000 + n,
        profile_serial="s",
        online=True,
    )


def _snapshot() -> Observed:
    return Observed(site="hq", server_time=5_000, servers=(), groups=(), clients=(_client(1), _client(2)))


def _columns(observed: Observed) -> ClientColumns:
    clients = observed.clients
    return ClientColumns(
        clients=clients,
        group_id=[c.group_id for c in clients],
        last_update_time=array("q", [c.last_update_time for c in clients]),
        profile_serial=[c.profile_serial for c in clients],
        agent_version=[c.agent_version for c in clients],
    )


def test_columns_are_handed_out_only_for_the_clients_they_were_built_for():
    """A copy of the snapshot with other clients has no columns; one with the same clients keeps them."""
    observed = _snapshot()
    columns = _columns(observed)
    assert observed.with_client_columns(columns).client_columns() is columns
    assert observed.model_copy(update={"version": "14.3"}).client_columns() is columns
    assert observed.model_copy(update={"clients": (_client(1),)}).client_columns() is None
    with pytest.raises(ValueError, match="other clients"):
        _snapshot().with_client_columns(columns)


def test_columns_are_neither_saved_nor_part_of_equality():
    """A snapshot with columns equals, hashes and saves as the same snapshot without them."""
    with_columns = _snapshot()
    with_columns.with_client_columns(_columns(with_columns))
    without = _snapshot()
    assert with_columns == without
    assert hash(with_columns) == hash(without)
    assert with_columns.model_dump_json() == without.model_dump_json()
    assert Observed.model_validate_json(with_columns.model_dump_json()).client_columns() is None


def test_columns_of_another_length_are_refused():
    """Columns that do not cover every client, once each, are a ValueError."""
    observed = _snapshot()
    with pytest.raises(ValueError, match="lengths"):
        ClientColumns(
            clients=observed.clients,
            group_id=["G1"],
            last_update_time=array("q", [1, 2]),
            profile_serial=["s", "s"],
            agent_version=["14.3", "14.3"],
        )
