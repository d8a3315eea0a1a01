"""``sepm-reconciler validate DIR``: exit codes and output, and the example desired-state/ it ships with."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.cli import controller_cmds
from reconciler.cli.main import main
from reconciler.desired.loader import load_folder
from reconciler.desired.secret_dirs import SECRET_DIRS_VARIABLE, SecretDirs
from tests.desired.conftest import VALID_SITE

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "desired-state"


def test_valid_folder_exits_0_with_one_line_per_site(site_folder, capsys):
    """Every site valid: exit 0, one summary line per site on stdout, nothing on stderr."""
    (site_folder / "b.yaml").write_text(VALID_SITE.replace("site: corpus", "site: bravo"), encoding="utf-8")
    (site_folder / "a.yaml").write_text(VALID_SITE.replace("site: corpus", "site: alpha"), encoding="utf-8")
    assert main(["validate", str(site_folder)]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        f"alpha: valid ({site_folder / 'a.yaml'}): 1 server, 1 management server list, procedure auto",
        f"bravo: valid ({site_folder / 'b.yaml'}): 1 server, 1 management server list, procedure auto",
    ]
    assert err == ""


def test_invalid_folder_exits_1_with_every_error_on_stderr(site_folder, capsys):
    """Any error: exit 1, each error as file:line: field: message on stderr, valid sites still listed."""
    (site_folder / "a.yaml").write_text(VALID_SITE.replace("site: corpus", "site: alpha"), encoding="utf-8")
    broken = (
        VALID_SITE.replace("site: corpus", "site: bravo").replace("8446", "84460") + "procedure: rolling\n"
    )
    (site_folder / "b.yaml").write_text(broken, encoding="utf-8")
    assert main(["validate", str(site_folder)]) == 1
    out, err = capsys.readouterr()
    b = site_folder / "b.yaml"
    assert err.splitlines() == [
        f"{b}:3: api.url: expected an https URL with a host and a port from 1 to 65535",
        f"{b}:14: procedure: expected 'auto', 'single-server' or 'multi-server'",
        "invalid: 2 errors",
    ]
    assert out.splitlines() == [
        f"alpha: valid ({site_folder / 'a.yaml'}): 1 server, 1 management server list, procedure auto"
    ]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(lambda p: None, "no such folder", id="missing"),
        pytest.param(lambda p: p.mkdir(), "holds no desired-state file (*.yaml, *.yml)", id="no-site-file"),
    ],
)
def test_folder_without_sites_exits_1(tmp_path, capsys, make, message):
    """A folder that does not exist or holds no site file is an error, exit 1."""
    folder = tmp_path / "desired-state"
    make(folder)
    assert main(["validate", str(folder)]) == 1
    out, err = capsys.readouterr()
    assert err.splitlines() == [f"{folder}: {message}", "invalid: 1 error"]
    assert out == ""


def test_keystores_checked_are_counted(keystores, tmp_path, capsys):
    """A valid site with a keystore says that the keystore was checked."""
    text = VALID_SITE.replace(
        "      sha256: aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899",
        "      sha256: ${sha256:good.pem}\n      keystore: {path: ../keystores/good.pem}",
    )
    source = tmp_path / "with-keystore.yaml"
    source.write_text(text, encoding="utf-8")
    folder = keystores.folder / f"site-{tmp_path.name}"
    keystores.install(source, folder)
    assert main(["validate", str(folder)]) == 0
    assert capsys.readouterr().out.rstrip().endswith("procedure auto, 1 keystore checked")


def test_example_desired_state_is_valid():
    """The shipped example folder loads without errors, one site per file, its file secrets in the default
    secret directory (/run/secrets)."""
    result = load_folder(EXAMPLE, secret_dirs=SecretDirs.from_environment({}))
    assert [str(e) for e in result.errors] == []
    assert sorted(result.sites) == ["hq", "osaka"]
    assert result.files == {"hq": EXAMPLE / "hq.yaml", "osaka": EXAMPLE / "osaka.yaml"}
    hq = result.sites["hq"]
    assert {m.name for m in hq.management_server_lists if m.can_fail_over} == {
        "Default Management Server List",
        "HQ Laptops",
    }
    assert result.sites["osaka"].procedure == "single-server"


def test_validate_command_accepts_the_example_folder():
    """``sepm-reconciler validate desired-state``, run from the repository, exits 0 and names each site."""
    script = shutil.which("sepm-reconciler", path=str(Path(sys.executable).parent))
    command = [script] if script else [sys.executable, "-m", "reconciler.cli"]
    environ = {name: value for name, value in os.environ.items() if name != SECRET_DIRS_VARIABLE}
    done = subprocess.run(
        [*command, "validate", "desired-state"],
        cwd=REPO,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert [line.split(":")[0] for line in done.stdout.splitlines()] == ["hq", "osaka"]


def _site_with_password_file(folder: Path, password_file: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    text = VALID_SITE.replace("{env: SEPM_PASSWORD}", f"{{file: {password_file}}}")
    (folder / "hq.yaml").write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def no_secret_dirs_variable(monkeypatch):
    """The process starts without SEPM_RECONCILER_SECRET_DIRS, and gets its own value back afterwards
    (the commands under test set it from --secret-dir)."""
    monkeypatch.delenv(SECRET_DIRS_VARIABLE, raising=False)


@pytest.mark.usefixtures("no_secret_dirs_variable")
def test_validate_allows_file_secrets_only_in_the_directories_given(tmp_path, capsys, monkeypatch):
    """validate refuses a {file: ...} secret outside /run/secrets, and accepts it under --secret-dir or the
    environment variable, the option winning over the variable."""
    secrets, elsewhere = tmp_path / "secrets", tmp_path / "elsewhere"
    secrets.mkdir()
    elsewhere.mkdir()
    folder = _site_with_password_file(tmp_path / "desired-state", secrets / "api")
    assert main(["validate", str(folder)]) == 1
    assert f"secret file {secrets / 'api'} is outside" in capsys.readouterr().err
    assert main(["validate", str(folder), "--secret-dir", str(elsewhere), "--secret-dir", str(secrets)]) == 0
    assert capsys.readouterr().err == ""
    monkeypatch.setenv(SECRET_DIRS_VARIABLE, str(secrets))
    assert main(["validate", str(folder)]) == 0
    capsys.readouterr()
    assert main(["validate", str(folder), "--secret-dir", str(elsewhere)]) == 1
    assert f"secrets may be read from ({elsewhere})" in capsys.readouterr().err


@pytest.mark.usefixtures("no_secret_dirs_variable")
def test_observe_reads_file_secrets_from_the_directories_given(tmp_path, capsys):
    """observe refuses a password file outside the allowed directories before any request; with
    --secret-dir it reads it (here an empty file, so that it stops there, without a network)."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "api").write_text("\n", encoding="utf-8")
    folder = _site_with_password_file(tmp_path / "desired-state", secrets / "api")
    assert main(["observe", str(folder)]) == 1
    assert "is outside the directories secrets may be read from (/run/secrets)" in capsys.readouterr().err
    assert main(["observe", str(folder), "--secret-dir", str(secrets)]) == 1
    assert capsys.readouterr().err == (
        f"sepm-reconciler observe: secret file {secrets / 'api'} is empty (the secret is its first line)\n"
    )


@pytest.mark.usefixtures("no_secret_dirs_variable")
def test_run_makes_secret_dir_the_policy_of_the_process(tmp_path, monkeypatch):
    """run's --secret-dir (repeatable, relative paths made absolute) is in force when the controller is
    built, so every secret is resolved under it, in the controller and in its actuators alike; and
    only until the command ends."""
    (tmp_path / "a").mkdir()
    (tmp_path / "desired-state").mkdir()
    monkeypatch.chdir(tmp_path)
    seen: dict[str, object] = {}

    class Built(Exception):
        pass

    def controller(**options: object) -> None:
        seen["dirs"] = SecretDirs.from_environment().dirs
        raise Built

    monkeypatch.setattr(controller_cmds, "Controller", controller)
    with pytest.raises(Built):
        main(["run", "desired-state", "--secret-dir", "a", "--secret-dir", str(tmp_path / "b")])
    assert seen["dirs"] == (tmp_path / "a", tmp_path / "b")
    assert SECRET_DIRS_VARIABLE not in os.environ


def test_secret_dir_cannot_hold_the_path_separator(capsys):
    """A --secret-dir holding os.pathsep is refused: it could not be passed on through the variable."""
    with pytest.raises(SystemExit):
        main(["validate", ".", "--secret-dir", f"/a{os.pathsep}/b"])
    assert "--secret-dir: a directory, without" in capsys.readouterr().err


@pytest.mark.usefixtures("no_secret_dirs_variable")
def test_secret_dirs_given_to_one_command_do_not_outlive_it(tmp_path, capsys):
    """--secret-dir is the policy of its own command only: the next command in the same process is back
    to the default directories."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    folder = _site_with_password_file(tmp_path / "desired-state", secrets / "api")
    assert main(["validate", str(folder), "--secret-dir", str(secrets)]) == 0
    assert SECRET_DIRS_VARIABLE not in os.environ
    assert main(["validate", str(folder)]) == 1
    assert "is outside" in capsys.readouterr().err
