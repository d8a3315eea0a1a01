"""Secret references resolve to values at run time, and their errors name the reference, never the value."""

from __future__ import annotations

import pytest

from reconciler.desired.schema import SecretRef
from reconciler.desired.secrets import SecretError, resolve_secret, secret_path

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
    ],
)
def test_file_gives_its_first_line_stripped(tmp_path, content, value):
    """A file reference returns the first line of the file without surrounding whitespace."""
    (tmp_path / "secret").write_text(content, encoding="utf-8")
    assert resolve_secret(SecretRef(file="secret"), base=tmp_path) == value


def test_relative_file_is_read_from_base_and_absolute_file_ignores_it(tmp_path):
    """``base`` anchors relative paths (the desired-state folder); an absolute path is used as written."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "pw").write_text("relative\n", encoding="utf-8")
    (tmp_path / "abs").write_text("absolute\n", encoding="utf-8")
    assert resolve_secret(SecretRef(file="sub/pw"), base=tmp_path) == "relative"
    assert resolve_secret(SecretRef(file=str(tmp_path / "abs")), base=tmp_path / "sub") == "absolute"
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
        pytest.param("dir", "cannot read secret file {path}: Is a directory", id="directory"),
    ],
)
def test_unusable_file_is_an_error_naming_it_but_not_its_content(tmp_path, setup, message):
    """An unusable secret file raises SecretError that names the file and quotes none of it."""
    path = tmp_path / "pw"
    if setup == "dir":
        path.mkdir()
    elif setup is not None:
        path.write_bytes(setup)
    with pytest.raises(SecretError) as caught:
        resolve_secret(SecretRef(file="pw"), base=tmp_path)
    assert str(caught.value) == message.format(path=path)
    assert "hunter2" not in str(caught.value)
    # Nothing chained: a UnicodeDecodeError shown in a traceback would quote the file's bytes.
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None or caught.value.__suppress_context__
