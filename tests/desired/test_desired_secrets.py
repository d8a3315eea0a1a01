"""Secret references resolve to values at run time, and their errors name the reference, never the value."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler.desired.schema import SecretRef
from reconciler.desired.secret_dirs import SECRET_DIRS_VARIABLE, SecretDirs
from reconciler.desired.secrets import MAX_SECRET_BYTES, SecretError, resolve_secret, secret_path

VARIABLE = "SEPM_RECONCILER_TEST_SECRET"


def test_environment_variable_gives_its_value_as_is(monkeypatch):
    """An env reference returns the variable's value unchanged, surrounding spaces included."""
    monkeypatch.setenv(VARIABLE, "  s3cret value ")
    assert resolve_secret(SecretRef(env=VARIABLE)) == "  s3cret value "


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param(None, f"environment variable {VARIABLE} is not set", id="unset"),
        pytest.param("", f"environment variable {VARIABLE} is empty", id="empty"),
    ],
)
def test_missing_environment_variable_is_an_error_naming_it(monkeypatch, value, message):
    """An unset or empty variable raises SecretError naming the variable."""
    if value is None:
        monkeypatch.delenv(VARIABLE, raising=False)
    else:
        monkeypatch.setenv(VARIABLE, value)
    with pytest.raises(SecretError) as caught:
        resolve_secret(SecretRef(env=VARIABLE))
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("content", "value"),
    [
        pytest.param("hunter2\n", "hunter2", id="newline"),
        pytest.param("  hunter2  \r\nsecond line\n", "hunter2", id="first-line-stripped"),
        pytest.param("pass word", "pass word", id="no-newline-inner-space"),
        pytest.param(b"hunter2\n\xff\xfe binary after the first line", "hunter2", id="binary-after"),
    ],
)
def test_file_gives_its_first_line_stripped(tmp_path, content, value):
    """A file reference returns the first line of the file without surrounding whitespace."""
    secret = tmp_path / "secret"
    secret.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert resolve_secret(SecretRef(file="secret"), base=tmp_path, dirs=SecretDirs((tmp_path,))) == value


def test_relative_file_is_read_from_base_and_absolute_file_ignores_it(tmp_path):
    """``base`` anchors relative paths (the desired-state folder); an absolute path is used as written."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "pw").write_text("relative\n", encoding="utf-8")
    (tmp_path / "abs").write_text("absolute\n", encoding="utf-8")
    dirs = SecretDirs((tmp_path,))
    assert resolve_secret(SecretRef(file="sub/pw"), base=tmp_path, dirs=dirs) == "relative"
    assert (
        resolve_secret(SecretRef(file=str(tmp_path / "abs")), base=tmp_path / "sub", dirs=dirs) == "absolute"
    )
    assert secret_path(SecretRef(file="sub/pw"), base=tmp_path) == tmp_path / "sub" / "pw"
    assert secret_path(SecretRef(env=VARIABLE), base=tmp_path) is None


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        pytest.param(None, "cannot read secret file {path}: No such file or directory", id="missing"),
        pytest.param(b"", "secret file {path} is empty (the secret is its first line)", id="empty"),
        pytest.param(
            b"   \nhunter2\n", "secret file {path} is empty (the secret is its first line)", id="blank-first"
        ),
        pytest.param(b"hunter2\xff\xfe\n", "secret file {path} is not UTF-8 text", id="not-utf8"),
        pytest.param("dir", "cannot read secret file {path}: a folder, not a file", id="directory"),
        pytest.param("fifo", "cannot read secret file {path}: not a regular file (a FIFO)", id="fifo"),
        pytest.param(
            b"hunter2" * (MAX_SECRET_BYTES // 7 + 1),
            "the first line of secret file {path} is longer than 64 KiB",
            id="first-line-too-long",
        ),
    ],
)
def test_unusable_file_is_an_error_naming_it_but_not_its_content(tmp_path, setup, message):
    """An unusable secret file raises SecretError that names the file and quotes none of it; a FIFO is
    refused without waiting for a writer."""
    path = tmp_path / "pw"
    if setup == "dir":
        path.mkdir()
    elif setup == "fifo":
        os.mkfifo(path)
    elif setup is not None:
        path.write_bytes(setup)
    with pytest.raises(SecretError) as caught:
        resolve_secret(SecretRef(file="pw"), base=tmp_path, dirs=SecretDirs((tmp_path,)))
    assert str(caught.value) == message.format(path=path)
    assert "hunter2" not in str(caught.value)
    # Nothing chained: a UnicodeDecodeError shown in a traceback would quote the file's bytes.
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None or caught.value.__suppress_context__


# --- where a secret file may be --------------------------------------------------------------------


@pytest.fixture
def layout(tmp_path: Path) -> dict[str, Path]:
    """``secrets/`` (the allowed directory, holding ``pw``), ``desired-state/`` and ``elsewhere/pw``."""
    for name in ("secrets", "desired-state", "elsewhere"):
        (tmp_path / name).mkdir()
    (tmp_path / "secrets" / "pw").write_text("allowed-hunter2\n", encoding="utf-8")
    (tmp_path / "elsewhere" / "pw").write_text("elsewhere-hunter2\n", encoding="utf-8")
    return {name: tmp_path / name for name in ("secrets", "desired-state", "elsewhere")}


def _outside(path: Path, allowed: Path, via: str = "") -> str:
    return (
        f"secret file {path}{via} is outside the directories secrets may be read from ({allowed}); "
        f"the operator allows one with --secret-dir or {SECRET_DIRS_VARIABLE}"
    )


@pytest.mark.parametrize(
    ("reference", "allowed"),
    [
        pytest.param("../secrets/pw", True, id="relative-into-allowed"),
        pytest.param("{secrets}/pw", True, id="absolute-in-allowed"),
        pytest.param("../elsewhere/pw", False, id="relative-elsewhere"),
        pytest.param("{elsewhere}/pw", False, id="absolute-elsewhere"),
        pytest.param("../secrets/../elsewhere/pw", False, id="dot-dot-out-of-allowed"),
        pytest.param("pw", False, id="beside-the-site-file"),
    ],
)
def test_a_file_is_read_only_inside_an_allowed_directory(layout, reference, allowed):
    """Relative references are joined to the site file's folder and must land inside an allowed directory,
    like absolute ones; a refusal names the file and the allowed directories, never the content."""
    (layout["desired-state"] / "pw").write_text("beside-hunter2\n", encoding="utf-8")
    ref = SecretRef(file=reference.format(**layout))
    dirs = SecretDirs((layout["secrets"],))
    base = layout["desired-state"]
    if allowed:
        assert resolve_secret(ref, base=base, dirs=dirs) == "allowed-hunter2"
        return
    with pytest.raises(SecretError) as caught:
        resolve_secret(ref, base=base, dirs=dirs)
    assert str(caught.value) == _outside(secret_path(ref, base=base), layout["secrets"])


def test_a_link_inside_an_allowed_directory_that_leads_outside_is_refused(layout):
    """Links are resolved before the check: a link in the allowed directory to a file elsewhere is refused."""
    link = layout["secrets"] / "escape"
    link.symlink_to(layout["elsewhere"] / "pw")
    with pytest.raises(SecretError) as caught:
        resolve_secret(SecretRef(file=str(link)), dirs=SecretDirs((layout["secrets"],)))
    assert str(caught.value) == _outside(
        link, layout["secrets"], f" (a link to {layout['elsewhere'] / 'pw'})"
    )
    assert "hunter2" not in str(caught.value)


def test_a_link_into_an_allowed_directory_is_followed(layout):
    """A link from the desired-state folder to a file in an allowed directory is read (its real path counts)."""
    (layout["desired-state"] / "pw").symlink_to(layout["secrets"] / "pw")
    dirs = SecretDirs((layout["secrets"],))
    assert resolve_secret(SecretRef(file="pw"), base=layout["desired-state"], dirs=dirs) == "allowed-hunter2"


def test_kubernetes_secret_volume_layout_is_accepted(tmp_path):
    """A Kubernetes secret volume (sticky 1777 root, ``..data`` and file links into a timestamped folder)
    is read: the sticky directory's entries belong to the controller's user."""
    volume = tmp_path / "run-secrets"
    volume.mkdir()
    stamped = volume / "..2024_05_01_14_00_00.123456789"
    stamped.mkdir(mode=0o755)
    (stamped / "sepm-password").write_text("kube-hunter2\n", encoding="utf-8")
    (stamped / "sepm-password").chmod(0o644)
    (volume / "..data").symlink_to(stamped.name)
    (volume / "sepm-password").symlink_to("..data/sepm-password")
    volume.chmod(0o1777)
    ref = SecretRef(file=str(volume / "sepm-password"))
    assert resolve_secret(ref, dirs=SecretDirs((volume,))) == "kube-hunter2"


def test_an_allowed_directory_reached_through_a_link_is_resolved_too(tmp_path, layout):
    """An allowed directory written as a link (``/run/secrets`` -> elsewhere) allows what its target holds."""
    alias = tmp_path / "secrets-link"
    alias.symlink_to(layout["secrets"])
    assert resolve_secret(SecretRef(file=str(alias / "pw")), dirs=SecretDirs((alias,))) == "allowed-hunter2"


# --- who may change a secret file ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "who"),
    [
        pytest.param(0o620, "its group", id="group"),
        pytest.param(0o602, "others", id="others"),
        pytest.param(0o666, "group and others", id="both"),
    ],
)
def test_a_file_others_may_write_is_refused(layout, mode, who):
    """A secret file writable by group or others is not read: someone else could have put the value there."""
    path = layout["secrets"] / "pw"
    path.chmod(mode)
    with pytest.raises(SecretError) as caught:
        resolve_secret(SecretRef(file=str(path)), dirs=SecretDirs((layout["secrets"],)))
    assert str(caught.value) == (
        f"secret file {path} can be written by {who} (mode {mode:04o}); "
        "make it writable by its owner only (chmod go-w)"
    )


@pytest.mark.parametrize("where", ["allowed", "below"])
def test_a_directory_others_may_write_is_refused_unless_sticky(layout, where):
    """A directory from the allowed one down to the file that others may write (and not sticky) is refused:
    anyone could replace the file in it."""
    below = layout["secrets"] / "site"
    below.mkdir()
    (below / "pw").write_text("allowed-hunter2\n", encoding="utf-8")
    directory = layout["secrets"] if where == "allowed" else below
    directory.chmod(0o777)
    ref = SecretRef(file=str(below / "pw"))
    with pytest.raises(SecretError) as caught:
        resolve_secret(ref, dirs=SecretDirs((layout["secrets"],)))
    assert str(caught.value) == (
        f"secret file {below / 'pw'} is in {directory}, which group and others can write (mode 0777); "
        "make it writable by its owner only, or sticky"
    )
    directory.chmod(0o1777)
    assert resolve_secret(ref, dirs=SecretDirs((layout["secrets"],))) == "allowed-hunter2"


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_in_a_sticky_directory_an_entry_of_another_user_is_refused(layout):
    """In a sticky world-writable directory, a file that belongs to another user (who could have created
    it there) is refused; root's and the controller's own are read."""
    path = layout["secrets"] / "pw"
    layout["secrets"].chmod(0o1777)
    os.chown(path, 4242, 4242)
    with pytest.raises(SecretError) as caught:
        resolve_secret(SecretRef(file=str(path)), dirs=SecretDirs((layout["secrets"],)))
    assert str(caught.value) == (
        f"secret file {path}: {path} belongs to user 4242 in {layout['secrets']}, which group and others "
        "can write (mode 1777); there it must belong to root or to the controller's user"
    )


# --- the operator's policy -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "dirs"),
    [
        pytest.param(None, (Path("/run/secrets"),), id="unset-is-run-secrets"),
        pytest.param(f"/a{os.pathsep}/b", (Path("/a"), Path("/b")), id="pathsep-separated"),
        pytest.param("", (), id="empty-is-none"),
    ],
)
def test_allowed_directories_come_from_the_environment(value, dirs):
    """SEPM_RECONCILER_SECRET_DIRS lists the allowed directories; unset, it is /run/secrets."""
    environ = {} if value is None else {SECRET_DIRS_VARIABLE: value}
    assert SecretDirs.from_environment(environ).dirs == dirs


def test_without_dirs_the_process_policy_applies(layout, monkeypatch):
    """resolve_secret with no ``dirs`` reads the policy from the environment at the time of the call."""
    ref = SecretRef(file=str(layout["secrets"] / "pw"))
    monkeypatch.setenv(SECRET_DIRS_VARIABLE, str(layout["secrets"]))
    assert resolve_secret(ref) == "allowed-hunter2"
    monkeypatch.setenv(SECRET_DIRS_VARIABLE, "")
    with pytest.raises(SecretError, match=r"outside the directories secrets may be read from \(none\)"):
        resolve_secret(ref)
