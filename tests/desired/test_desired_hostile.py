"""Whatever a site file holds, loading it reports errors and never raises; hostile shapes meet their bounds.

The time these inputs take is measured by ``benchmarks/bench_desired_hostile.py``, not asserted here.
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.desired.loader import load_file, load_folder
from reconciler.desired.yamlsource import MAX_DEPTH, YamlSourceError, parse_yaml
from tests.desired.conftest import VALID_SITE

_BASE: dict[str, Any] = {
    **yaml.safe_load(VALID_SITE),
    "gates": {"heartbeatCycles": 3, "minimumWait": "1h", "dormantAfter": "7d", "maxLaggingClients": 0},
    "actuators": {
        "mslCopy": {"command": {"argv": ["copy", "{msl}"], "timeout": "5m", "env": {"T": {"env": "T"}}}}
    },
    "controller": {"pollInterval": "30s"},
}


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


_PATHS = _paths(_BASE)[1:]

_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(["{site:>99}", "{site!r}", "{x.y}", "A=B", "", "-.inf", "10000000000000d", "250ms"]),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)

_yamlish = st.lists(
    st.sampled_from([*"[]{}:,-&*!|>'\"#?%@<= \n\t.0123456789abcsx", "<<: ", ".inf", "!!int ", "&a ", "*a"]),
    max_size=120,
).map("".join)


def _check(text: bytes) -> None:
    """Both entry points report, never raise, and nothing is left to the loader's last-resort net."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "site.yaml"
        path.write_bytes(text)
        site, errors = load_file(path)
        assert (site is None) == bool(errors)
        assert not [e for e in errors if "could not be checked" in e.message]
        result = load_folder(Path(folder))
        assert [str(e) for e in result.errors] == [str(e) for e in errors]


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_are_reported_never_raised(data):
    """Any bytes at all give a site or errors, never an exception."""
    _check(data)


@settings(max_examples=150, deadline=None)
@given(_yamlish)
def test_arbitrary_yaml_punctuation_is_reported_never_raised(text):
    """Text dense in YAML's syntax (flows, anchors, tags, merges) gives a site or errors, never an exception."""
    _check(text.encode())


@settings(max_examples=250, deadline=None)
@given(path=st.sampled_from(_PATHS), value=_values)
def test_any_value_anywhere_in_a_valid_site_is_reported_never_raised(path, value):
    """Replacing any key's value in a complete site with any YAML value gives a site or errors, never an
    exception: every validator turns what it cannot take into an error."""
    data = copy.deepcopy(_BASE)
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    _check(yaml.safe_dump(data, allow_unicode=True).encode())


@pytest.mark.parametrize(
    ("text", "line"),
    [
        pytest.param("site: x\ngates: " + "[" * 100_000 + "]" * 100_000 + "\n", 2, id="flow-sequences"),
        pytest.param(
            "site: x\ngates: " + "{a: " * 100_000 + "1" + "}" * 100_000 + "\n", 2, id="flow-mappings"
        ),
        pytest.param("".join(" " * i + "a:\n" for i in range(2000)), MAX_DEPTH, id="block-mappings"),
        pytest.param(
            "a0: &a0 [1]\n" + "".join(f"a{i}: &a{i} [[[[[[[[[[*a{i - 1}]]]]]]]]]]\n" for i in range(1, 8)),
            5,
            id="through-aliases",
        ),
        pytest.param(
            "a0: &a0 {x: 1}\n" + "".join(f"a{i}: &a{i} {{<<: *a{i - 1}}}\n" for i in range(1, 60)),
            MAX_DEPTH - 3,
            id="merge-chain",
        ),
    ],
)
def test_nesting_past_the_limit_is_refused_at_its_line(text, line):
    """100,000 nested collections, or fewer reached through aliases or merges, are a YAML error at the
    line of the first node past the limit (through an alias, where that node is written), never a
    RecursionError."""
    with pytest.raises(YamlSourceError) as caught:
        parse_yaml(text)
    assert caught.value.message.startswith(f"collections nested more than {MAX_DEPTH} levels deep")
    assert caught.value.line == line


def test_nesting_up_to_the_limit_is_read():
    """A document nested exactly MAX_DEPTH deep is still YAML (the limit refuses only what is past it)."""
    lists = MAX_DEPTH - 1  # the top-level mapping is the first level
    expected: list = []
    for _ in range(lists - 1):
        expected = [expected]
    assert parse_yaml("x: " + "[" * lists + "]" * lists + "\n").data == {"x": expected}
    with pytest.raises(YamlSourceError):
        parse_yaml("x: " + "[" * (lists + 1) + "]" * (lists + 1) + "\n")
