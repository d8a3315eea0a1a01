"""The systemd unit: accepted by systemd-analyze verify, hardened, and using the state directory."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "systemd" / "sepm-reconciler.service"
needs_systemd_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is not installed (Debian package systemd)",
)


def _verify(text: str, tmp_path: Path) -> tuple[int, str]:
    """systemd-analyze verify on ``text``, its ExecStart pointed at a stand-in executable (as image.sh does)."""
    stand_in = tmp_path / "sepm-reconciler"
    stand_in.write_text("#!/bin/sh\n")
    stand_in.chmod(0o755)
    unit = tmp_path / "sepm-reconciler.service"
    unit.write_text(
        text.replace("ExecStart=/opt/sepm-reconciler/bin/sepm-reconciler ", f"ExecStart={stand_in} ")
    )
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False
    )
    complaints = [line for line in (done.stdout + done.stderr).splitlines() if "sepm-reconciler" in line]
    return done.returncode, "\n".join(complaints)


def _service() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    return parser["Service"]


@needs_systemd_analyze
def test_unit_verifies_cleanly(tmp_path):
    """systemd-analyze verify accepts the unit without a warning about it."""
    assert _verify(UNIT.read_text(), tmp_path) == (0, "")


@needs_systemd_analyze
def test_verification_catches_a_bad_value(tmp_path):
    """A value systemd cannot parse is reported (systemd only warns, so the check reads its output)."""
    _, complaints = _verify(
        UNIT.read_text().replace("ProtectSystem=strict", "ProtectSystem=sometimes"), tmp_path
    )
    assert "ProtectSystem" in complaints or "protect system" in complaints


def test_unit_is_hardened():
    """The service runs as its own user with no privileges, a read-only system and no home access."""
    service = _service()
    expected = {
        "User": "sepm-reconciler",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "CapabilityBoundingSet": "",
        "RestrictSUIDSGID": "yes",
        "UMask": "0077",
    }
    assert {key: service.get(key) for key in expected} == expected


def test_journal_lives_in_the_state_directory():
    """SEPM_RECONCILER_STATE_DIR is /var/lib/<StateDirectory>: the only place ProtectSystem lets it write."""
    service = _service()
    assert f"SEPM_RECONCILER_STATE_DIR=/var/lib/{service['StateDirectory']}" in service["Environment"]
    assert service["ExecStart"].split()[1] == "run"
