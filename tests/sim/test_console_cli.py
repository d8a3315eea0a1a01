"""``sepm-reconciler simulate`` and ``sepm-reconciler sim console|report``, run as real subprocesses."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.sim.certs import fingerprint, generate_self_signed
from reconciler.sim.testing import presented_fingerprint
from tests.sim.helpers import pkcs12_of, population, scenario_data

PASSWORD = "Cli-Pa55-word"
KEYSTORE_PASSWORD = "p12-Secret-77"
CLI = [sys.executable, "-m", "reconciler.cli"]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SEPM_SIM_")}
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=60, env={**clean, **(env or {})}, check=False
    )


class Running:
    def __init__(self, process: subprocess.Popen[str], endpoints_file: Path) -> None:
        self.process = process
        self.endpoints_file = endpoints_file

    @property
    def endpoints(self) -> dict[str, Any]:
        return json.loads(self.endpoints_file.read_text())

    def console(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return run("sim", "console", "--endpoints-file", str(self.endpoints_file), *args, env=env)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("cli")
    scenario = scenario_data("cli", password=PASSWORD, clients=[population("My Company", 4)])
    (folder / "scenario.yaml").write_text(yaml.safe_dump(scenario, sort_keys=False))
    return folder


@pytest.fixture(scope="module")
def running(workdir) -> Iterator[Running]:
    endpoints_file = workdir / "endpoints.json"
    process = subprocess.Popen(
        [
            *CLI,
            "simulate",
            "--scenario",
            str(workdir / "scenario.yaml"),
            "--endpoints-file",
            str(endpoints_file),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not endpoints_file.exists():
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        assert time.monotonic() < deadline, "the simulator did not publish its endpoints in 30 s"
        time.sleep(0.1)
    yield Running(process, endpoints_file)
    if process.poll() is None:
        process.kill()
        process.wait()


def _keystore(workdir: Path, name: str, *, p12: bool) -> tuple[Path, str]:
    cert_pem, key_pem = generate_self_signed(name)
    path = workdir / f"{name}.{'p12' if p12 else 'pem'}"
    if p12:
        path.write_bytes(pkcs12_of(cert_pem, key_pem, KEYSTORE_PASSWORD))
    else:
        path.write_bytes(cert_pem + key_pem)
    return path, fingerprint(cert_pem)


def test_simulate_publishes_private_endpoints_without_printing_the_password(running):
    """The endpoints file is mode 0600 with URLs and credentials; the password is not in the output."""
    mode = stat.S_IMODE(running.endpoints_file.stat().st_mode)
    assert mode == 0o600
    endpoints = running.endpoints
    assert endpoints["restUrl"].startswith("https://127.0.0.1:")
    assert endpoints["password"] == PASSWORD
    assert set(endpoints["servers"]) == {"sepm01", "sepm02"}
    assert (
        presented_fingerprint("127.0.0.1", endpoints["servers"]["sepm01"]["rest"])
        == (endpoints["servers"]["sepm01"]["sha256"])
    )


def test_list_msls_prints_json(running):
    """list-msls exits 0 and prints the MSLs as JSON."""
    result = running.console("list-msls")
    assert result.returncode == 0, result.stderr
    assert [m["name"] for m in json.loads(result.stdout)] == ["Default Management Server List"]


def test_copy_msl_with_http_ports(running):
    """copy-msl --http-port SERVER=PORT creates the HTTP copy the single-server method needs."""
    result = running.console(
        "copy-msl",
        "--source",
        "Default Management Server List",
        "--name",
        "HTTP copy",
        "--http-port",
        "sepm01=8014",
        "--http-port",
        "sepm02=8015",
    )
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    assert created["protocol"] == "http"
    assert [(s["server"], s["port"]) for s in created["servers"]] == [("sepm01", 8014), ("sepm02", 8015)]


def test_copy_and_delete_are_idempotent(running):
    """Run twice, as a controller restarted mid-step would: the second copy reports the existing copy,
    the second delete finds nothing to do; a copy that differs from the existing one is refused."""
    copy = [
        "copy-msl",
        "--source",
        "Default Management Server List",
        "--name",
        "Twice",
        "--http-port",
        "sepm01=8014",
    ]
    first, second = running.console(*copy), running.console(*copy)
    assert (first.returncode, second.returncode) == (0, 0), first.stderr + second.stderr
    assert json.loads(first.stdout) == json.loads(second.stdout)
    different = running.console(*copy[:-1], "sepm01=9000")
    assert different.returncode == 1
    assert "exists already" in different.stderr
    assert running.console("delete-msl", "--name", "Twice").returncode == 0
    again = running.console("delete-msl", "--name", "Twice")
    assert (again.returncode, again.stdout.strip()) == (0, "ok")
    names = [m["name"] for m in json.loads(running.console("list-msls").stdout)]
    assert "Twice" not in names


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["copy-msl", "--source", "No Such List", "--name", "Z"], "404", id="copy-unknown-source"
        ),
        pytest.param(
            ["copy-msl", "--source", "X", "--name", "Y", "--http-port", "sepm01"],
            "SERVER=PORT",
            id="bad-port",
        ),
        pytest.param(["fault", "errors", "--share", "3"], "between 0 and 1", id="bad-fault"),
    ],
)
def test_failures_exit_1_with_one_stderr_line(running, args, message):
    """A refused action exits 1 with a single clear line on stderr and nothing on stdout."""
    result = running.console(*args)
    assert result.returncode == 1
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert message in result.stderr


def test_update_certificate_from_pkcs12_with_password_env(running, workdir):
    """update-certificate --keystore K.p12 --password-env VAR installs it; the server presents it at once."""
    keystore, expected = _keystore(workdir, "sepm01", p12=True)
    result = running.console(
        "update-certificate",
        "--server",
        "sepm01",
        "--keystore",
        str(keystore),
        "--password-env",
        "KEYSTORE_PW",
        env={"KEYSTORE_PW": KEYSTORE_PASSWORD},
    )
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout
    ports = running.endpoints["servers"]["sepm01"]
    assert {presented_fingerprint("127.0.0.1", ports[k]) for k in ("https", "console", "rest")} == {expected}


def test_update_certificate_from_a_pem_bundle(running, workdir):
    """A PEM file holding certificate and key works without a password."""
    keystore, expected = _keystore(workdir, "sepm02", p12=False)
    result = running.console("update-certificate", "--server", "sepm02", "--keystore", str(keystore))
    assert result.returncode == 0, result.stderr
    assert presented_fingerprint("127.0.0.1", running.endpoints["servers"]["sepm02"]["https"]) == expected


@pytest.mark.parametrize(
    ("env", "message"),
    [
        pytest.param({"KEYSTORE_PW": "not-the-password"}, "400", id="wrong-password"),
        pytest.param({}, "KEYSTORE_PW is not set", id="variable-missing"),
    ],
)
def test_update_certificate_failures_never_show_the_password(running, workdir, env, message):
    """A keystore that cannot be opened fails with exit 1 and no password in any output."""
    keystore, _expected = _keystore(workdir, "spare", p12=True)
    result = running.console(
        "update-certificate",
        "--server",
        "sepm01",
        "--keystore",
        str(keystore),
        "--password-env",
        "KEYSTORE_PW",
        env=env,
    )
    assert result.returncode == 1
    assert message in result.stderr
    for secret in (KEYSTORE_PASSWORD, "not-the-password", PASSWORD):
        assert secret not in result.stderr + result.stdout


def test_faults_from_the_command_line(running):
    """fault server-down / list / server-up switch a server off and on."""
    assert running.console("fault", "server-down", "--server", "sepm02").returncode == 0
    listed = json.loads(running.console("fault", "list").stdout)
    assert listed["serversDown"] == ["sepm02"]
    with pytest.raises(OSError):
        presented_fingerprint("127.0.0.1", running.endpoints["servers"]["sepm02"]["rest"])
    assert running.console("fault", "server-up", "--server", "sepm02").returncode == 0
    assert running.console("fault", "clear").returncode == 0
    assert json.loads(running.console("fault", "list").stdout)["serversDown"] == []


def test_report_via_sim_report_and_url_with_environment_credentials(running):
    """sim report prints the report; --url works with credentials from the environment, and fails without."""
    by_file = run("sim", "report", "--endpoints-file", str(running.endpoints_file))
    assert by_file.returncode == 0, by_file.stderr
    assert json.loads(by_file.stdout)["clients"] == 4
    url = running.endpoints["consoleUrl"]
    credentials = {"SEPM_SIM_USERNAME": "admin", "SEPM_SIM_PASSWORD": PASSWORD}
    by_url = run("sim", "console", "--url", url, "clock", env=credentials)
    assert by_url.returncode == 0, by_url.stderr
    assert json.loads(by_url.stdout)["speed"] == 1.0
    without = run("sim", "console", "--url", url, "clock")
    assert without.returncode == 1
    assert "SEPM_SIM_PASSWORD" in without.stderr


def test_a_non_loopback_url_is_refused():
    """The console client talks to loopback only."""
    result = run(
        "sim",
        "console",
        "--url",
        "https://192.0.2.7:8443/sim/console/v1",
        "clock",
        env={"SEPM_SIM_USERNAME": "a", "SEPM_SIM_PASSWORD": "b"},
    )
    assert result.returncode == 1
    assert "loopback" in result.stderr


def test_simulate_refuses_an_invalid_scenario(workdir):
    """simulate exits 1 naming the scenario problem when the file is invalid."""
    bad = workdir / "bad.yaml"
    bad.write_text("site: broken\nservers: []\n")
    result = run("simulate", "--scenario", str(bad))
    assert result.returncode == 1
    assert "bad.yaml" in result.stderr


def test_simulate_reports_an_unwritable_endpoints_file(workdir):
    """An endpoints file that cannot be written ends simulate with exit 1 and one clear line."""
    target = workdir / "no-such-folder" / "endpoints.json"
    result = run("simulate", "--scenario", str(workdir / "scenario.yaml"), "--endpoints-file", str(target))
    assert result.returncode == 1
    assert "cannot write" in result.stderr
    assert "Traceback" not in result.stderr


def test_sigterm_stops_the_simulator_and_removes_the_endpoints(running):
    """SIGTERM ends simulate with exit 0 and removes the endpoints file (it holds the password)."""
    process = running.process
    process.send_signal(signal.SIGTERM)
    out, _err = process.communicate(timeout=30)
    assert process.returncode == 0
    assert not running.endpoints_file.exists()
    assert PASSWORD not in out
    assert "restUrl" in out
