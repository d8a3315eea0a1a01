"""Pydantic's validation errors in the words of the YAML file: its key names, its paths, plain sentences.

Contract:
- `describe(error)` turns one pydantic error (validated by alias, so ``loc`` already holds the YAML's
  camelCase names) into the path of the offending key or item and a message. A `RuleError` raised by the
  schema extends the path to the very item that broke the rule.
- Messages never quote the input: the value under a key might be a secret written where a reference
  belongs, and an error is logged, shown in status and printed in CI.
- An unknown key is answered with the keys that are allowed there, and a suggestion when the key is a
  snake_case spelling or a near miss of one of them.
- `format_path` writes a path as the user would: ``servers[1].certificate.sha256``.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from typing import Annotated, Any, Union

from pydantic import BaseModel
from pydantic.alias_generators import to_camel
from pydantic_core import ErrorDetails

from reconciler.desired.schema import DesiredSite, RuleError
from reconciler.desired.yamlsource import YamlPath

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")

# Messages that read better than pydantic's for someone editing YAML; the rest keep pydantic's words.
_PLAIN = {
    "missing": "required key is missing",
    "model_type": "expected a mapping of keys",
    "model_attributes_type": "expected a mapping of keys",
    "dict_type": "expected a mapping of keys",
    "list_type": "expected a list",
    "string_type": "expected a string",
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
}

# Pattern mismatches explained per field (the last element of the path).
_PATTERNS = {
    "url": "expected an https URL such as https://sepm01.corp.example:8446",
    "site": "expected a name of letters, digits, '.', '_' and '-' that starts with a letter or digit",
}


def format_path(path: YamlPath) -> str:
    """``("servers", 1, "certificate", "sha256")`` -> ``servers[1].certificate.sha256``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _IDENTIFIER.match(part):
            text += f".{part}" if text else part
        else:
            text += f"[{part!r}]"
    return text


def describe(error: ErrorDetails) -> tuple[YamlPath, str]:
    """The path of the offending key or item, and what is wrong with it."""
    loc: YamlPath = tuple(error["loc"])
    if loc and loc[-1] == "[key]":
        # Pydantic's marker for a mapping's key (not its value); the key's own path is where to point.
        loc = loc[:-1]
    kind = error["type"]
    context = error.get("ctx") or {}
    if kind in ("value_error", "assertion_error"):
        cause = context.get("error")
        if isinstance(cause, RuleError):
            return (*loc, *cause.loc), str(cause)
        return loc, str(cause) if cause is not None else _reword(error["msg"])
    if kind == "int_type" and isinstance(error.get("input"), bool):
        return loc, "expected a whole number, not true or false"
    if kind == "extra_forbidden":
        return loc, _unknown_key(loc)
    if kind == "string_pattern_mismatch":
        field = loc[-1] if loc else None
        if isinstance(field, str) and field in _PATTERNS:
            return loc, _PATTERNS[field]
        return loc, f"does not match the pattern {context.get('pattern')}"
    if kind == "string_too_short" and context.get("min_length") == 1:
        return loc, "must not be empty"
    if kind == "too_short":
        count = context.get("min_length", 1)
        return loc, f"needs at least {count} item{'s' if count != 1 else ''}"
    if kind in ("less_than_equal", "less_than"):
        return loc, f"must be at most {context.get('le', context.get('lt'))}"
    if kind in ("greater_than_equal", "greater_than"):
        return loc, f"must be at least {context.get('ge', context.get('gt'))}"
    return loc, _PLAIN.get(kind) or _reword(error["msg"])


def _reword(message: str) -> str:
    """Pydantic's "Input should be X" as "expected X"; other messages as they are."""
    prefix = "Input should be "
    return "expected " + message.removeprefix(prefix) if message.startswith(prefix) else message


def _unknown_key(loc: YamlPath) -> str:
    key = loc[-1] if loc else None
    allowed = allowed_keys(loc[:-1])
    if not allowed:
        return "unknown key"
    listing = ", ".join(allowed)
    if isinstance(key, str) and to_camel(key) in allowed and to_camel(key) != key:
        return f"unknown key; keys are camelCase: write {to_camel(key)}"
    close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.75)
    if close:
        return f"unknown key; did you mean {close[0]}? (allowed here: {listing})"
    return f"unknown key (allowed here: {listing})"


def allowed_keys(path: YamlPath) -> list[str]:
    """The YAML keys the mapping at ``path`` may hold, sorted; empty when it is not a schema model."""
    model = _model_at(path)
    if model is None:
        return []
    return sorted(info.alias or name for name, info in model.model_fields.items())


def _model_at(path: YamlPath) -> type[BaseModel] | None:
    """Follow ``path`` down the schema's annotations (models, lists, dicts, optionals)."""
    current: Any = DesiredSite
    for part in path:
        current = _strip(current)
        origin = typing.get_origin(current)
        if isinstance(part, int) and origin is list:
            current = typing.get_args(current)[0]
        elif isinstance(part, str) and origin is dict:
            current = typing.get_args(current)[1]
        elif isinstance(part, str) and _is_model(current):
            fields = {info.alias or name: info for name, info in current.model_fields.items()}
            if part not in fields:
                return None
            current = fields[part].annotation
        else:
            return None
    current = _strip(current)
    return current if _is_model(current) else None


def _strip(annotation: Any) -> Any:
    """Drop ``Annotated[...]`` and ``| None`` around a type."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)
