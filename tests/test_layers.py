"""The import-linter contracts of pyproject.toml hold: layers point down only, the simulator stands alone,
the planner does no I/O, telemetry only reads the status model, and observing (sepm) is not deciding."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _lint_imports() -> Path | None:
    beside_python = Path(sys.executable).parent / "lint-imports"
    if beside_python.exists():
        return beside_python
    found = shutil.which("lint-imports")
    return Path(found) if found else None


def _contract_names() -> list[str]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    return [contract["name"] for contract in config["tool"]["importlinter"]["contracts"]]


def test_pyproject_declares_the_contracts() -> None:
    """The contracts DESIGN.md and the redesign ask for are declared, so the linter has something to keep."""
    assert {
        "Layers point down only",
        "The simulator stands alone",
        "The planner does no I/O",
        "Telemetry only reads the status model",
        "Observing is not deciding",
    } <= set(_contract_names())


def test_every_import_contract_is_kept() -> None:
    """``lint-imports`` exits 0 and reports each declared contract KEPT."""
    executable = _lint_imports()
    if executable is None:
        pytest.skip("import-linter is not installed: pip install -e '.[dev]'")

    result = subprocess.run(
        [str(executable), "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=300, check=False
    )

    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    for name in _contract_names():
        assert f"{name} KEPT" in report, report
