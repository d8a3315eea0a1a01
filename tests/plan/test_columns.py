"""The planner takes the clients' facts from the observer's columns when a snapshot carries them, and
reads the client objects only when it does not; both give the same view."""

from __future__ import annotations

from array import array

import pytest

from reconciler.model.client_columns import ClientColumns, positions_by_group
from reconciler.model.observed import Observed
from reconciler.plan import columns as plan_columns
from reconciler.plan.site import view

from .builders import CURRENT_AGENT, LAB, LEGACY_AGENT, ROOT, T0, client, group, observed, server


def _snapshot() -> Observed:
    return observed(
        servers=[server("sepm01")],
        groups=[group("G-ROOT", ROOT), group("G-LAB", LAB, inherits=True), group("G-LOST", "Nowhere\\Lost")],
        clients=[
            client("c1", "G-ROOT", last=T0 - 1_000),
            client("c2", "G-LAB", version=LEGACY_AGENT),
            client("c3", "G-GONE"),
            client("c4", "G-ROOT", serial="old", version=CURRENT_AGENT),
        ],
    )


def _with_columns(snapshot: Observed, *, grouped: bool = False) -> Observed:
    clients = snapshot.clients
    group_ids = [c.group_id for c in clients]
    return snapshot.with_client_columns(
        ClientColumns(
            clients=clients,
            group_id=group_ids,
            last_update_time=array("q", [c.last_update_time for c in clients]),
            profile_serial=[c.profile_serial for c in clients],
            agent_version=[c.agent_version for c in clients],
            by_group=positions_by_group(group_ids) if grouped else None,
        )
    )


def _facts(snapshot: Observed) -> tuple[object, ...]:
    c = view(snapshot, ["14.2.*"]).clients
    return (
        list(c.last),
        list(c.profile),
        c.by_group,
        c.sources,
        c.unsourced,
        c.legacy_sources,
        c.legacy_count,
    )


def test_the_observers_columns_give_the_same_view_as_the_clients():
    """Counting from the columns, with or without the observer's positions by group, gives the very
    facts that reading the client objects gives."""
    assert _facts(_with_columns(_snapshot())) == _facts(_snapshot())
    assert _facts(_with_columns(_snapshot(), grouped=True)) == _facts(_snapshot())


def test_the_observers_positions_by_group_are_left_as_they_were():
    """The planner takes the unsourced clients out of its own copy: the snapshot's positions (which the
    observer builds the next set from) keep every group, the missing one included."""
    snapshot = _with_columns(_snapshot(), grouped=True)
    columns = snapshot.client_columns()
    assert columns is not None
    assert columns.by_group is not None
    before = {g: list(p) for g, p in columns.by_group.items()}
    assert view(snapshot, []).clients.unsourced == [2]
    assert {g: list(p) for g, p in columns.by_group.items()} == before
    assert "G-GONE" in columns.by_group


def test_with_columns_the_client_objects_are_not_read(monkeypatch):
    """A snapshot with columns is viewed without one pass over its client objects; one without is read."""

    def no_pass(_: object) -> object:
        raise AssertionError("a pass over the client objects")

    monkeypatch.setattr(plan_columns, "_FIELDS", no_pass)
    view(_with_columns(_snapshot()), [])
    with pytest.raises(AssertionError, match="a pass over the client objects"):
        view(_snapshot(), [])
