"""Paging of ``computers`` and ``groups`` and the ``lastUpdate`` filter, over HTTPS from a Simulator."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from reconciler.sim.app import Simulator
from reconciler.sim.scenario import Scenario
from reconciler.sim.testing import SepmSession
from tests.sim.helpers import logged_on, make_scenario, population

PASSWORD = "Paging-Pa55"


def paging_scenario(clients: int, extra_groups: int = 0) -> Scenario:
    return make_scenario(
        "paging",
        password=PASSWORD,
        servers=["sepm01"],
        msls=[{"name": "Default", "entries": [{"server": "sepm01"}]}],
        groups=[{"path": f"My Company\\Team {i:02d}", "inherits": i % 2 == 0} for i in range(extra_groups)],
        clients=[population("My Company", clients)] if clients else [],
    )


class Sites:
    """One running simulator per client count, shared by the module (starting one costs RSA keys)."""

    def __init__(self, stack: ExitStack) -> None:
        self._stack = stack
        self._running: dict[tuple[int, int], tuple[Simulator, SepmSession]] = {}

    def session(self, clients: int, extra_groups: int = 0) -> SepmSession:
        key = (clients, extra_groups)
        if key not in self._running:
            sim = self._stack.enter_context(Simulator(paging_scenario(clients, extra_groups)))
            self._running[key] = (sim, self._stack.enter_context(logged_on(sim)))
        return self._running[key][1]

    def simulator(self, clients: int, extra_groups: int = 0) -> Simulator:
        self.session(clients, extra_groups)
        return self._running[(clients, extra_groups)][0]


@pytest.fixture(scope="module")
def sites() -> Iterator[Sites]:
    with ExitStack() as stack:
        yield Sites(stack)


def walk_pages(session: SepmSession, path: str, page_size: int, **params: Any) -> list[dict[str, Any]]:
    """Every page body of a walk that loops on lastPage (with a safety bound)."""
    pages = []
    for page_index in range(1, 1000):
        body = session.get_json(path, pageIndex=page_index, pageSize=page_size, **params)
        pages.append(body)
        if body["lastPage"]:
            return pages
    raise AssertionError("lastPage never came")


@pytest.mark.parametrize(
    ("clients", "page_size", "pages"),
    [
        pytest.param(0, 20, 1, id="no-clients"),
        pytest.param(1, 20, 1, id="one-client"),
        pytest.param(20, 20, 1, id="exactly-one-page"),
        pytest.param(40, 20, 2, id="two-full-pages"),
        pytest.param(45, 20, 3, id="many-pages-last-partial"),
        pytest.param(45, 1, 45, id="page-size-one"),
    ],
)
def test_computers_walk_returns_every_client_once(sites, clients, page_size, pages):
    """A walk that loops on lastPage sees each client exactly once, with a consistent envelope per page."""
    session = sites.session(clients)
    bodies = walk_pages(session, "computers", page_size)
    assert len(bodies) == pages
    ids = [c["uniqueId"] for body in bodies for c in body["content"]]
    assert len(ids) == clients
    assert len(set(ids)) == clients
    for index, body in enumerate(bodies, start=1):
        assert body["firstPage"] == (index == 1)
        assert body["lastPage"] == (index == pages)
        assert body["number"] == index - 1
        assert body["size"] == page_size
        assert body["numberOfElements"] == len(body["content"])
        assert body["totalElements"] == clients
        assert body["totalPages"] == (clients + page_size - 1) // page_size
        if index < pages:
            assert len(body["content"]) == page_size


def test_computers_are_sorted_by_name_across_pages(sites):
    """Pages are slices of one stable order (computer name), so a walk never skips or repeats a client."""
    session = sites.session(45)
    names = [c["computerName"] for body in walk_pages(session, "computers", 7) for c in body["content"]]
    assert names == sorted(names, key=str.lower)


def test_default_page_sizes_are_sepm_defaults(sites):
    """Without pageSize, computers come 20 to a page and groups 25, as Broadcom documents."""
    session = sites.session(45, extra_groups=30)
    computers = session.get_json("computers")
    groups = session.get_json("groups")
    assert (computers["size"], len(computers["content"])) == (20, 20)
    assert (groups["size"], len(groups["content"])) == (25, 25)


def test_a_page_past_the_end_is_empty_and_last(sites):
    """Asking beyond the last page answers an empty last page, not an error."""
    session = sites.session(45)
    body = session.get_json("computers", pageIndex=4, pageSize=20)
    assert body["content"] == []
    assert body["lastPage"] is True
    assert body["totalElements"] == 45


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"pageIndex": 0}, id="pageIndex-0"),
        pytest.param({"pageIndex": -1}, id="pageIndex-negative"),
        pytest.param({"pageSize": 0}, id="pageSize-0"),
        pytest.param({"pageIndex": "two"}, id="pageIndex-not-a-number"),
        pytest.param({"lastUpdate": "yesterday"}, id="lastUpdate-not-a-number"),
    ],
)
def test_bad_paging_parameters_answer_400(sites, params):
    """Paging parameters that are not 1-based positive integers are refused with SEPM's 400 body."""
    response = sites.session(1).request("GET", "computers", params=params)
    assert response.status_code == 400
    assert response.json()["errorCode"] == "400"


@pytest.mark.parametrize(
    ("extra_groups", "page_size", "pages"),
    [
        pytest.param(0, 25, 1, id="root-only"),
        pytest.param(30, 31, 1, id="exactly-one-page"),
        pytest.param(30, 1, 31, id="one-per-page"),
        pytest.param(30, 4, 8, id="several"),
        pytest.param(30, 25, 2, id="default-size"),
    ],
)
def test_groups_walk_returns_the_tree_root_first(sites, extra_groups, page_size, pages):
    """Groups page like computers, root first in tree order, every group exactly once."""
    session = sites.session(45, extra_groups=extra_groups)
    bodies = walk_pages(session, "groups", page_size, mode="list")
    assert len(bodies) == pages
    groups = [g for body in bodies for g in body["content"]]
    assert groups[0]["fullPathName"] == "My Company"
    assert len({g["id"] for g in groups}) == extra_groups + 1
    assert all(body["totalElements"] == extra_groups + 1 for body in bodies)
    assert [body["lastPage"] for body in bodies] == [False] * (pages - 1) + [True]


def test_groups_tree_nests_every_group_under_its_parent(sites):
    """mode=tree pages the root alone, every other group nested once in its parent's ``childGroups``, the
    same groups as mode=list."""
    session = sites.session(45, extra_groups=30)
    listed = walk_pages(session, "groups", 25, mode="list")
    paths = {g["id"]: g["fullPathName"] for body in listed for g in body["content"]}
    tree = session.get_json("groups", mode="tree")
    assert (tree["totalElements"], tree["totalPages"], tree["lastPage"]) == (1, 1, True)
    [root] = tree["content"]
    seen: dict[str, str] = {}
    pending = [(root, None)]
    while pending:
        node, parent_path = pending.pop()
        assert node["id"] not in seen
        seen[node["id"]] = node["fullPathName"]
        if parent_path is not None:
            assert node["fullPathName"] == f"{parent_path}\\{node['name']}"
        pending.extend((child, node["fullPathName"]) for child in node["childGroups"])
    assert seen == paths
    assert root["fullPathName"] == "My Company"
    assert len(root["childGroups"]) == 30


def test_last_update_returns_only_later_check_ins(sites):
    """lastUpdate=T lists exactly the clients whose lastUpdateTime is strictly later than T."""
    session = sites.session(45)
    everyone = [c for body in walk_pages(session, "computers", 100) for c in body["content"]]
    times = sorted(c["lastUpdateTime"] for c in everyone)
    pivot = times[len(times) // 2]
    later = [c for body in walk_pages(session, "computers", 100, lastUpdate=pivot) for c in body["content"]]
    expected = {c["uniqueId"] for c in everyone if c["lastUpdateTime"] > pivot}
    assert {c["uniqueId"] for c in later} == expected
    assert 0 < len(expected) < len(everyone)


def test_last_update_sees_the_next_heartbeat(sites):
    """After one heartbeat of simulated time every online client shows up in an incremental read."""
    session = sites.session(20)
    sim = sites.simulator(20)
    everyone = [c for body in walk_pages(session, "computers", 100) for c in body["content"]]
    newest = max(c["lastUpdateTime"] for c in everyone)
    assert walk_pages(session, "computers", 100, lastUpdate=newest)[0]["content"] == []
    sim.site.clock.advance(300_000)
    later = [c for body in walk_pages(session, "computers", 100, lastUpdate=newest) for c in body["content"]]
    assert {c["uniqueId"] for c in later} == {c["uniqueId"] for c in everyone}
    assert all(c["lastUpdateTime"] > newest for c in later)
