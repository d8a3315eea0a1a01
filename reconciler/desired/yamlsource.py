"""YAML text to plain Python data, remembering the line of every mapping key and sequence item.

Contract:
- `parse_yaml(text)` accepts exactly one YAML document and returns its data with a line map: for every
  path (``("servers", 1, "certificate", "sha256")``) the 1-based line of that key or item, and ``()``
  for the document itself. `YamlDocument.line_of` answers for any path with the line of its longest
  known prefix, so a *missing* key points at the mapping that should have held it.
- Fatal problems raise `YamlSourceError` with a line where there is one: syntax errors, an empty
  stream, a second document, a recursive alias, aliases that would expand the document past
  `MAX_NODES` nodes (a "billion laughs" file must not hang the controller), collections nested more
  than `MAX_DEPTH` deep (directly or through aliases: PyYAML composes and merges recursively, and a
  RecursionError must never escape), and values that a tag cannot turn into a value (``2024-13-01``
  read as a date, ``!!bool x``, a whole number of thousands of digits). Nothing else escapes
  `parse_yaml`.
- Duplicate keys are not fatal: the later value wins, as in PyYAML, and every repeat is listed in
  `YamlDocument.duplicates` with both lines, so the caller can report them beside schema errors.
- Numbers follow YAML 1.2 rather than PyYAML's YAML 1.1: ``1:30`` is a string, not 90 (sexagesimal),
  and ``0443`` is not octal. Fingerprints (``12:34:...``) and durations stay what they look like.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

YamlPath = tuple[str | int, ...]
"""Keys and item indexes from the top of the document, as pydantic writes an error's ``loc``."""

MAX_NODES = 100_000
"""More nodes than any site file needs by far; aliases are counted each time they are used."""

MAX_DEPTH = 32
"""Nesting levels of collections. A site file uses seven (``actuators.mslCopy.command.env.X.file``);
Python's stack would give out near 300 levels of PyYAML's recursive composer."""

_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_MERGE = "tag:yaml.org,2002:merge"


class YamlSourceError(Exception):
    """The text is not one YAML document that can be read; ``line`` is 1-based, or None."""

    def __init__(self, message: str, *, line: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass(frozen=True)
class DuplicateKey:
    """A key written twice in one mapping: ``path`` ends with the key, ``line`` is the repeat."""

    path: YamlPath
    line: int
    first_line: int


@dataclass(frozen=True)
class YamlDocument:
    data: Any
    lines: Mapping[YamlPath, int]
    duplicates: list[DuplicateKey] = field(default_factory=list)

    def line_of(self, path: YamlPath) -> int:
        """The line of ``path``, or of its longest prefix present in the document."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return 1


class LineLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 numbers that also records where each key and item starts."""

    # A copy without YAML 1.1's int and float resolvers; YAML 1.2 ones are added below the class.
    yaml_implicit_resolvers = {  # noqa: RUF012 (PyYAML's own class attribute, typed by its stubs)
        first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_INT, _FLOAT)]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    _depth = 0

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:
        """PyYAML's, refusing flow collections (``[`` / ``{``) past MAX_DEPTH while scanning: the scanner
        keeps a possible key per open level and rechecks them all per token, a second of work for a
        line of ``[`` even though the composer would refuse it at MAX_DEPTH."""
        if self.flow_level >= MAX_DEPTH:
            raise YamlSourceError(_too_deep(), line=self.get_mark().line + 1)
        super().fetch_flow_collection_start(TokenClass)

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        """PyYAML's, refusing to go deeper than MAX_DEPTH (it recurses once per level)."""
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise YamlSourceError(_too_deep(), line=mark.line + 1)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        """PyYAML's, with a value its tag cannot read (``!!bool x``, ``2024-13-01``) as a YAML error there.

        PyYAML's constructors raise ValueError, KeyError, IndexError or AttributeError for these
        (``x: !!int`` is an IndexError), which would escape as a crash. The message names the tag but
        never quotes the value (it could be a secret written in the wrong place).
        """
        try:
            return super().construct_object(node, deep)
        except (yaml.YAMLError, YamlSourceError):
            raise
        except Exception:
            raise yaml.constructor.ConstructorError(
                None, None, _unreadable_value(node), node.start_mark
            ) from None

    def compose_single(self) -> Node | None:
        """The only document's node, None for an empty stream; a second document is an error."""
        if not self.check_node():
            return None
        node = self.get_node()
        if node is None:
            return None
        if self.check_node():
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            raise YamlSourceError(
                "one site per file, but a second YAML document starts here", line=mark.line + 1
            )
        return node

    def find_duplicates(self, root: Node) -> list[DuplicateKey]:
        """Every repeated key, read before construction (merging ``<<`` would hide them)."""
        found: list[DuplicateKey] = []

        def visit(node: Node, path: YamlPath) -> None:
            if isinstance(node, MappingNode):
                first: dict[Any, int] = {}
                for key_node, value_node in node.value:
                    if key_node.tag == _MERGE:
                        continue
                    key = self._scalar_key(key_node)
                    line = key_node.start_mark.line + 1
                    if key is not None and key in first:
                        repeat = DuplicateKey(path=(*path, key), line=line, first_line=first[key])
                        # A mapping reached through several aliases is reported once.
                        if all((d.line, d.first_line) != (line, first[key]) for d in found):
                            found.append(repeat)
                    elif key is not None:
                        first[key] = line
                    visit(value_node, (*path, key) if key is not None else path)
            elif isinstance(node, SequenceNode):
                for index, item in enumerate(node.value):
                    visit(item, (*path, index))

        _guard(root)
        visit(root, ())
        return found

    def record_lines(self, root: Node) -> dict[YamlPath, int]:
        """The line of every key and item, read after construction so merged keys are included."""
        lines: dict[YamlPath, int] = {(): root.start_mark.line + 1}

        def visit(node: Node, path: YamlPath) -> None:
            if isinstance(node, MappingNode):
                for key_node, value_node in node.value:
                    key = self._scalar_key(key_node)
                    if key is None:
                        continue
                    # Later pairs win, as they do in the constructed mapping (explicit keys after merged).
                    lines[(*path, key)] = key_node.start_mark.line + 1
                    visit(value_node, (*path, key))
            elif isinstance(node, SequenceNode):
                for index, item in enumerate(node.value):
                    lines[(*path, index)] = item.start_mark.line + 1
                    visit(item, (*path, index))

        visit(root, ())
        return lines

    def _scalar_key(self, node: Node) -> str | int | None:
        # Only string and integer keys can appear in a pydantic location; others are left to the schema.
        if not isinstance(node, ScalarNode):
            return None
        key = self.construct_object(node)
        return key if isinstance(key, (str, int)) and not isinstance(key, bool) else None


LineLoader.add_implicit_resolver(
    _INT,
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)
LineLoader.add_implicit_resolver(
    _FLOAT,
    re.compile(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?"
        r"|\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def _too_deep() -> str:
    return f"collections nested more than {MAX_DEPTH} levels deep; a site file needs about seven"


def _unreadable_value(node: Node) -> str:
    kind = node.tag.rsplit(":", 1)[-1]
    digits = sum(c.isdigit() for c in node.value) if isinstance(node, ScalarNode) else 0
    if kind == "int" and digits > 100:
        # Python refuses to convert decimal strings past 4300 digits (sys.get_int_max_str_digits).
        return f"a whole number of {digits} digits is longer than any setting takes"
    return f"this value cannot be read as {'a date' if kind == 'timestamp' else 'type ' + kind}"


def _guard(root: Node) -> None:
    """Refuse recursive aliases, and documents that aliases blow up past MAX_NODES or MAX_DEPTH."""
    budget = MAX_NODES
    stack: list[tuple[Node, frozenset[int]]] = [(root, frozenset())]
    while stack:
        node, ancestors = stack.pop()
        budget -= 1
        if budget < 0:
            raise YamlSourceError(
                f"the document expands to more than {MAX_NODES} nodes (aliases used too often)",
                line=root.start_mark.line + 1,
            )
        if id(node) in ancestors:
            raise YamlSourceError("an alias refers to a node that contains it", line=node.start_mark.line + 1)
        if len(ancestors) >= MAX_DEPTH:
            # Only aliases get here: the composer refused deeper text. Merging (<<) recurses as well.
            raise YamlSourceError(_too_deep() + " (through aliases)", line=node.start_mark.line + 1)
        inner = ancestors | {id(node)}
        if isinstance(node, MappingNode):
            stack.extend((child, inner) for pair in node.value for child in pair)
        elif isinstance(node, SequenceNode):
            stack.extend((child, inner) for child in node.value)


def parse_yaml(text: str) -> YamlDocument:
    """Parse one YAML document with its line map; raise YamlSourceError when it cannot be read."""
    try:
        loader = LineLoader(text)
    except yaml.reader.ReaderError as exc:
        raise _reader_error(text, exc) from None
    try:
        root = loader.compose_single()
        if root is None:
            return YamlDocument(data=None, lines={(): 1})
        duplicates = loader.find_duplicates(root)
        data = loader.construct_document(root)
        return YamlDocument(data=data, lines=loader.record_lines(root), duplicates=duplicates)
    except yaml.MarkedYAMLError as exc:
        raise YamlSourceError(_describe(exc), line=_line(exc)) from None
    except yaml.reader.ReaderError as exc:
        raise _reader_error(text, exc) from None
    except yaml.YAMLError as exc:
        raise YamlSourceError(f"invalid YAML: {exc}", line=None) from None
    finally:
        loader.dispose()


def _reader_error(text: str, exc: yaml.reader.ReaderError) -> YamlSourceError:
    line = text.count("\n", 0, exc.position) + 1
    code = exc.character if isinstance(exc.character, int) else ord(exc.character)
    return YamlSourceError(f"invalid YAML: control character U+{code:04X} is not allowed", line=line)


def _line(exc: yaml.MarkedYAMLError) -> int | None:
    mark = exc.problem_mark or exc.context_mark
    return mark.line + 1 if mark is not None else None


def _describe(exc: yaml.MarkedYAMLError) -> str:
    """PyYAML's problem, with its context ("while parsing a block mapping") and where that started."""
    problem = exc.problem or "cannot be parsed"
    if exc.context and exc.context_mark is not None and exc.problem_mark is not None:
        if exc.context_mark.line != exc.problem_mark.line:
            return f"invalid YAML: {problem} ({exc.context} at line {exc.context_mark.line + 1})"
        return f"invalid YAML: {problem} ({exc.context})"
    if exc.context:
        return f"invalid YAML: {problem} ({exc.context})"
    return f"invalid YAML: {problem}"
