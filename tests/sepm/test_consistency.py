"""The last check of a snapshot: its groups form a tree and hold every client, and a tree that passed
is not walked again while its paths stay the same."""

from __future__ import annotations

import pytest

from reconciler.model.observed import ObservedClient, ObservedGroup
from reconciler.sepm import consistency
from reconciler.sepm.client_set import ClientSet
from reconciler.sepm.consistency import Consistency
from reconciler.sepm.errors import IncompleteObservation

PATHS = ["My Company", "My Company\\Sales", "My Company\\Sales\\EMEA"]


def _groups(paths: list[str]) -> list[ObservedGroup]:
    return [
        ObservedGroup(id=f"G{n}", full_path=path, inherits=False, policy_serial="s", locations=())
        for n, path in enumerate(paths)
    ]


def _clients(*group_ids: str) -> ClientSet:
    clients = [
        ObservedClient(
            id=f"U{n}",
            name=f"pc{n}",
            group_id=group_id,
            agent_version="14.3.9816.7000",
            last_update_time=1,
            profile_serial="s",
            online=True,
        )
        for n, group_id in enumerate(group_ids)
    ]
    return ClientSet().merged(clients, full=True)


def _check(check: Consistency, groups: list[ObservedGroup], clients: ClientSet) -> None:
    check.check("hq", groups, {group.id for group in groups}, clients)


@pytest.mark.parametrize(
    ("paths", "message"),
    [
        (["My Company\\Sales", "My Company\\Sales\\EMEA"], "the group list has no root group"),
        (
            ["My Company", "My Company\\Sales\\EMEA"],
            "group My Company\\\\Sales\\\\EMEA has no parent My Company",
        ),
    ],
)
def test_a_list_that_is_no_tree_is_incomplete_even_after_a_good_one(paths, message):
    check = Consistency()
    _check(check, _groups(PATHS), _clients("G0"))
    for _ in range(2):  # a failed list is not remembered as good
        with pytest.raises(IncompleteObservation, match=f"site hq: {message}"):
            _check(check, _groups(paths), _clients())


def test_parents_are_matched_without_case():
    _check(Consistency(), _groups(["My Company", "MY COMPANY\\Sales"]), _clients())


def test_a_client_outside_the_groups_is_incomplete_though_the_tree_is_known():
    check = Consistency()
    groups = _groups(PATHS)
    _check(check, groups, _clients("G0", "G2"))
    with pytest.raises(IncompleteObservation, match=r"computer pc1 \(U1\) is in group G9, which the group"):
        _check(check, groups, _clients("G0", "G9"))


def test_a_tree_that_passed_is_walked_again_only_when_its_paths_change(monkeypatch):
    walked: list[int] = []
    real = consistency._check_tree
    monkeypatch.setattr(
        consistency, "_check_tree", lambda site, groups: (walked.append(len(groups)), real(site, groups))
    )
    check = Consistency()
    _check(check, _groups(PATHS), _clients())
    _check(check, _groups(PATHS), _clients())  # new objects, same paths: the same tree
    assert walked == [3]
    _check(check, _groups([*PATHS, "My Company\\Lab"]), _clients())
    _check(check, _groups(["My Company", "My Company\\Lab"]), _clients())
    assert walked == [3, 4, 2]
