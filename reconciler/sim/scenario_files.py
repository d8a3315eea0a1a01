"""Scenario files: the shipped scenarios by name, a user's own by path, YAML text to a `Scenario`.

Shipped scenarios live in ``reconciler/sim/scenarios/<name>.yaml``; ``load_scenario`` takes such a
name or a path. Validation is strict (unknown fields are errors; the schema is
``reconciler.sim.scenario``) and a ``ScenarioError`` names the file, the line when it can be found and
the field of the first problem: ``single-server.yaml:14: groups.2.settings.msl: unknown MSL 'Nope'``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from reconciler.sim.scenario import Scenario
from reconciler.sim.scenario_references import CrossReferenceError


class ScenarioError(ValueError):
    """A scenario file is unreadable or invalid; the message names the file, line and field."""


def shipped_scenarios() -> list[str]:
    """Names of the scenarios shipped with the package."""
    folder = resources.files("reconciler.sim") / "scenarios"
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_scenario(name_or_path: str | Path) -> Scenario:
    """A shipped scenario by name, or a scenario file by path; raises ScenarioError."""
    text: str
    label: str
    candidate = Path(name_or_path)
    if isinstance(name_or_path, str) and name_or_path in shipped_scenarios():
        resource = resources.files("reconciler.sim") / "scenarios" / f"{name_or_path}.yaml"
        text, label = resource.read_text(encoding="utf-8"), f"{name_or_path}.yaml"
    elif candidate.is_file():
        text, label = candidate.read_text(encoding="utf-8"), str(candidate)
    else:
        raise ScenarioError(
            f"no scenario {str(name_or_path)!r}: neither a file nor one of {', '.join(shipped_scenarios())}"
        )
    return parse_scenario(text, source=label)


def parse_scenario(text: str, *, source: str = "<scenario>") -> Scenario:
    """Validate scenario YAML text; errors name ``source``, the line and the field."""
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: a scenario is a mapping (site, servers, msls, groups, clients)")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        cause = first.get("ctx", {}).get("error")
        if isinstance(cause, CrossReferenceError):
            loc, message = (*loc, *cause.loc), cause.message
        field = ".".join(str(part) for part in loc) or "(top level)"
        line = _line_of(root, loc)
        where = f"{source}:{line}" if line else source
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ScenarioError(f"{where}: {field}: {message}{more}") from None


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the deepest YAML node on the path ``loc``, for error messages."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
        if node is None:
            break
        line = node.start_mark.line + 1
    return line
