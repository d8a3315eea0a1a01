"""YAML with line tracking: one document, the line of every key and item, duplicates, YAML 1.2 numbers."""

# Expected messages are whole sentences, compared exactly.

from __future__ import annotations

import textwrap

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.desired.yamlsource import MAX_NODES, DuplicateKey, YamlSourceError, parse_yaml

NESTED = textwrap.dedent(
    """\
    # comment
    site: hq
    servers:
      - name: sepm01
        ports: {https: 443, http: 8014}
      -
        name: sepm02
    lists: [a, b]
    """
)


@pytest.mark.parametrize(
    ("path", "line"),
    [
        pytest.param((), 2, id="document"),
        pytest.param(("site",), 2, id="top-key"),
        pytest.param(("servers",), 3, id="sequence-key"),
        pytest.param(("servers", 0), 4, id="block-item"),
        pytest.param(("servers", 0, "ports", "http"), 5, id="flow-mapping-key"),
        pytest.param(("servers", 1), 7, id="item-starting-on-next-line"),
        pytest.param(("servers", 1, "name"), 7, id="key-in-that-item"),
        pytest.param(("lists", 1), 8, id="flow-item"),
    ],
)
def test_every_key_and_item_has_its_line(path, line):
    """The line map gives the 1-based line where each key or item starts."""
    assert parse_yaml(NESTED).lines[path] == line


@pytest.mark.parametrize(
    ("path", "line"),
    [
        pytest.param(("servers", 0, "certificate", "sha256"), 4, id="missing-key-points-at-its-parent"),
        pytest.param(("servers", 5), 3, id="missing-item-points-at-the-list"),
        pytest.param(("nowhere",), 2, id="missing-top-key-points-at-the-document"),
    ],
)
def test_line_of_falls_back_to_the_longest_known_prefix(path, line):
    """A path absent from the document is placed at the nearest enclosing key or item."""
    assert parse_yaml(NESTED).line_of(path) == line


def test_duplicate_keys_are_listed_with_both_lines_and_the_later_value_wins():
    """Each repeated key is reported at its repeat with the first line; the data holds the last value."""
    document = parse_yaml("a: 1\nb:\n  - {x: 1, y: 2, x: 3}\na: 4\na: 5\n")
    assert document.duplicates == [
        DuplicateKey(path=("b", 0, "x"), line=3, first_line=3),
        DuplicateKey(path=("a",), line=4, first_line=1),
        DuplicateKey(path=("a",), line=5, first_line=1),
    ]
    assert document.data == {"a": 5, "b": [{"x": 3, "y": 2}]}


def test_a_merged_key_overridden_in_place_is_no_duplicate():
    """``<<: *base`` followed by an explicit key is YAML's override idiom, not a repeat, and its line wins."""
    document = parse_yaml("base: &base {https: 443, http: 8014}\nports:\n  <<: *base\n  http: 8080\n")
    assert document.duplicates == []
    assert document.data["ports"] == {"https": 443, "http": 8080}
    assert document.lines[("ports", "http")] == 4
    assert document.lines[("ports", "https")] == 1


def test_a_duplicate_inside_an_aliased_mapping_is_reported_once():
    """A mapping used through two aliases reports its repeated key once, not once per use."""
    document = parse_yaml("x: &x {k: 1, k: 2}\ny: *x\nz: *x\n")
    assert [(d.line, d.first_line) for d in document.duplicates] == [(1, 1)]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        pytest.param("v: 1:30", "1:30", id="sexagesimal-is-a-string"),
        pytest.param("v: 12:34:56", "12:34:56", id="three-part-sexagesimal"),
        pytest.param("v: 1:30.5", "1:30.5", id="sexagesimal-float"),
        pytest.param("v: 0443", "0443", id="yaml11-octal-is-a-string"),
        pytest.param("v: 8014", 8014, id="decimal"),
        pytest.param("v: -7", -7, id="negative"),
        pytest.param("v: 0x1F", 31, id="hex"),
        pytest.param("v: 0", 0, id="zero"),
        pytest.param("v: 2.5", 2.5, id="float"),
        pytest.param("v: 1e3", "1e3", id="exponent-without-dot-stays-text"),
        pytest.param("v: .inf", float("inf"), id="infinity"),
        pytest.param("v: true", True, id="bool"),
        pytest.param("v: 24h", "24h", id="duration"),
    ],
)
def test_scalars_follow_yaml_1_2_numbers(text, value):
    """Numbers are YAML 1.2's: no sexagesimal or leading-zero octal surprises; other scalars as PyYAML."""
    assert parse_yaml(text).data == {"v": value}


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        pytest.param(
            "a: 1\n---\nb: 2\n", 2, "one site per file, but a second YAML document starts here", id="two-docs"
        ),
        pytest.param(
            "a: 1\n--- \n", 2, "one site per file, but a second YAML document starts here", id="empty-second"
        ),
        pytest.param("a: &a [*a]\n", 1, "an alias refers to a node that contains it", id="recursive-alias"),
        pytest.param(
            "a: 1\nb: \x07\n", 2, "invalid YAML: control character U+0007 is not allowed", id="control-char"
        ),
        pytest.param(
            "a:\n  b: 1\n c: 2\n",
            3,
            "invalid YAML: expected <block end>, but found '<block mapping start>' (while parsing a block mapping at line 1)",
            id="dedent",
        ),
        pytest.param(
            "a: {b: 1\n",
            2,
            "invalid YAML: expected ',' or '}', but got '<stream end>' (while parsing a flow mapping at line 1)",
            id="flow",
        ),
        pytest.param(
            "a: !!binary AAAA\nb: !!python/name:os.system\n",
            2,
            "invalid YAML: could not determine a constructor for the tag 'tag:yaml.org,2002:python/name:os.system'",
            id="unsafe-tag",
        ),
    ],
)
def test_unreadable_documents_raise_with_a_line(text, line, message):
    """Syntax errors, a second document and recursive aliases are fatal and say where."""
    with pytest.raises(YamlSourceError) as caught:
        parse_yaml(text)
    assert (caught.value.line, caught.value.message) == (line, message)


def test_alias_expansion_is_bounded():
    """Aliases that would expand the document past MAX_NODES are refused before anything walks them."""
    levels = ["l0: &l0 [" + ", ".join(["x"] * 10) + "]"]
    levels += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 6)]
    assert MAX_NODES < 10**6  # the document below is really past the bound
    with pytest.raises(YamlSourceError, match="expands to more than"):
        parse_yaml("\n".join(levels))


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="nothing"),
        pytest.param("# only a comment\n\n", id="comments"),
        pytest.param("---\n", id="marker"),
    ],
)
def test_an_empty_stream_has_no_data(text):
    """Nothing but comments or a bare document marker reads as no data at all (the caller says so)."""
    assert parse_yaml(text).data is None


def test_explicit_start_and_end_markers_make_one_document():
    """``---`` before and ``...`` after a single document are not a second document."""
    assert parse_yaml("---\na: 1\n...\n").data == {"a": 1}


_keys = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=6)
_scalars = st.one_of(st.integers(-1000, 1000), st.text(alphabet="abc xyz:-_.", max_size=8), st.booleans())
_trees = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_keys, inner, max_size=4)),
    max_leaves=20,
)


@settings(max_examples=60, deadline=None)
@given(tree=st.dictionaries(_keys, _trees, min_size=1, max_size=5), flow=st.booleans())
def test_dumped_data_reads_back_with_a_line_for_every_key(tree, flow):
    """What PyYAML dumps reads back equal, and each recorded key's line is a line that spells that key."""
    text = yaml.safe_dump(tree, default_flow_style=flow, width=60)
    document = parse_yaml(text)
    assert document.data == tree
    lines = text.splitlines()
    for path, line in document.lines.items():
        if path and isinstance(path[-1], str):
            assert path[-1] in lines[line - 1]
