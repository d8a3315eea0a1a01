"""Loading a desired-state folder: which files count, what a result holds, where errors point."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.desired.loader import LoadError, LoadResult, load_file, load_folder
from reconciler.desired.messages import allowed_keys, format_path
from reconciler.desired.secret_dirs import SecretDirs
from reconciler.desired.secrets import secret_references
from tests.desired.conftest import VALID_SITE


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _site(name: str) -> str:
    return VALID_SITE.replace("site: corpus", f"site: {name}")


def test_valid_file_gives_its_site_and_no_errors(site_folder):
    """A valid file yields its DesiredSite, with YAML's camelCase keys in Python's snake_case fields."""
    site, errors = load_file(_write(site_folder, "hq.yaml", VALID_SITE))
    assert errors == []
    assert site is not None
    assert site.site == "corpus"
    assert site.management_server_lists[0].servers == ["sepm01"]
    assert site.servers[0].certificate.sha256.startswith("AA:BB:CC:")


def test_folder_reads_yaml_and_yml_in_name_order_and_skips_the_rest(site_folder):
    """Only *.yaml / *.yml directly in the folder count: not hidden files, other suffixes, sub-folders."""
    _write(site_folder, "b.yml", _site("bravo"))
    _write(site_folder, "a.yaml", _site("alpha"))
    _write(site_folder, ".hidden.yaml", "not: [valid")
    _write(site_folder, "notes.txt", "not: [valid")
    _write(site_folder, "a.yaml.orig", "not: [valid")
    (site_folder / "sub").mkdir()
    _write(site_folder / "sub", "c.yaml", "not: [valid")
    result = load_folder(site_folder)
    assert result.ok
    assert list(result.sites) == ["alpha", "bravo"]
    assert result.files == {"alpha": site_folder / "a.yaml", "bravo": site_folder / "b.yml"}


def test_invalid_site_is_absent_but_its_file_is_known(site_folder):
    """A file with an error keeps its site out of ``sites``; ``files`` still ties the name to the file."""
    _write(site_folder, "a.yaml", _site("alpha"))
    _write(site_folder, "b.yaml", _site("bravo") + "procedure: rolling\n")
    result = load_folder(site_folder)
    assert list(result.sites) == ["alpha"]
    assert result.files["bravo"] == site_folder / "b.yaml"
    assert [str(e) for e in result.errors] == [
        f"{site_folder / 'b.yaml'}:14: procedure: expected 'auto', 'single-server' or 'multi-server'"
    ]
    assert not result.ok


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(lambda p: None, "no such folder", id="missing"),
        pytest.param(lambda p: p.write_text("site: x\n"), "not a folder", id="file"),
        pytest.param(lambda p: p.mkdir(), "holds no desired-state file (*.yaml, *.yml)", id="empty"),
    ],
)
def test_folder_that_holds_no_sites_is_an_error(tmp_path, make, message):
    """A missing path, a file, or a folder without site files is an error, never "no sites"."""
    path = tmp_path / "desired-state"
    make(path)
    result = load_folder(path)
    assert result.errors == [LoadError(path, None, None, message)]
    assert result.sites == {}
    assert not result.ok


def test_errors_come_file_by_file_and_line_by_line(site_folder):
    """Every error of every file is reported, files in name order, lines ascending within a file."""
    broken = textwrap.dedent(
        """\
        site: late
        api:
          url: https://sepm01.test.example:8446
          username: admin
          password: Winter2024
        servers:
          - name: sepm01
            address: sepm01.test.example
            ports: {https: 70000}
            certificate: {sha256: "not a fingerprint"}
            address: again.test.example
        managementServerLists:
          - {name: Default Management Server List, servers: [sepm01]}
        gates: {heartbeatCycles: 0, timeOut: 1h}
        """
    )
    _write(site_folder, "z.yaml", broken)
    _write(site_folder, "a.yaml", "site: [early\n")
    result = load_folder(site_folder)
    located = [(e.file.name, e.line, e.field) for e in result.errors]
    assert located == [
        ("a.yaml", 2, None),
        ("z.yaml", 5, "api.password"),
        ("z.yaml", 9, "servers[0].ports.https"),
        ("z.yaml", 10, "servers[0].certificate.sha256"),
        ("z.yaml", 11, "servers[0].address"),
        ("z.yaml", 14, "gates.heartbeatCycles"),
        ("z.yaml", 14, "gates.timeOut"),
    ]
    assert "Winter2024" not in "\n".join(map(str, result.errors))
    assert result.files == {"late": site_folder / "z.yaml"}


@pytest.mark.parametrize(
    ("error", "text"),
    [
        pytest.param(
            LoadError(Path("desired-state/hq.yaml"), 12, "servers[0].certificate.sha256", "bad"),
            "desired-state/hq.yaml:12: servers[0].certificate.sha256: bad",
            id="full",
        ),
        pytest.param(
            LoadError(Path("d/hq.yaml"), 3, None, "invalid YAML"), "d/hq.yaml:3: invalid YAML", id="no-field"
        ),
        pytest.param(LoadError(Path("d"), None, None, "no such folder"), "d: no such folder", id="no-line"),
        pytest.param(LoadError(Path("d/x.yaml"), None, "site", "m"), "d/x.yaml: site: m", id="field-no-line"),
    ],
)
def test_load_error_prints_as_file_line_field_message(error, text):
    """``str(LoadError)`` is ``file:line: field: message``, leaving out what is unknown."""
    assert str(error) == text


def test_result_is_ok_only_without_errors():
    """``LoadResult.ok`` is true exactly when there are no errors."""
    assert LoadResult(sites={}, errors=[]).ok
    assert not LoadResult(sites={}, errors=[LoadError(Path("x"), None, None, "m")]).ok


@pytest.mark.usefixtures("secrets_beside_keystores")
def test_valid_keystore_is_accepted(keystores, tmp_path):
    """A site whose PKCS#12 keystore matches its fingerprint, is RSA and current, loads."""
    text = VALID_SITE.replace(
        "      sha256: aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899",
        "      sha256: ${sha256:good.p12}\n"
        "      keystore: {path: keystores/good.p12, password: {file: p12.pass}}",
    )
    source = _write(tmp_path, "keystore-ok.yaml", text)
    site, errors = load_file(keystores.install(source))
    assert errors == []
    assert site is not None
    assert site.servers[0].certificate.sha256 == keystores.fingerprints["good.p12"]


def test_byte_order_mark_is_accepted_and_invalid_utf8_is_located(site_folder):
    """A UTF-8 BOM is harmless; bytes that are not UTF-8 are an error at their line."""
    bom = site_folder / "bom.yaml"
    bom.write_bytes(b"\xef\xbb\xbf" + VALID_SITE.encode())
    assert load_file(bom)[1] == []
    latin = site_folder / "latin.yaml"
    latin.write_bytes(b"site: corpus\n# caf\xe9\n")
    assert load_file(latin) == (None, [LoadError(latin, 2, None, "not UTF-8 text")])


def test_unreadable_file_is_an_error_naming_it(site_folder):
    """A path that cannot be read as a file is an error without a line."""
    path = site_folder / "x.yaml"
    path.mkdir()
    assert load_file(path) == (None, [LoadError(path, None, None, "cannot read: a folder, not a file")])


def test_snake_case_keys_are_refused_although_python_accepts_them(site_folder):
    """YAML is spelled camelCase only: ``previous_sha256`` is an unknown key pointing to the right name."""
    text = VALID_SITE.replace("    certificate:\n", "    certificate:\n      previous_sha256: []\n")
    _, errors = load_file(_write(site_folder, "x.yaml", text))
    assert [(e.line, e.field, e.message) for e in errors] == [
        (
            10,
            "servers[0].certificate.previous_sha256",
            "unknown key; keys are camelCase: write previousSha256",
        )
    ]


def test_anchors_and_merges_keep_lines_meaningful(site_folder):
    """With a merged mapping, an error in an overriding key points at the override's own line."""
    text = VALID_SITE.replace(
        "    address: sepm01.test.example\n",
        "    address: sepm01.test.example\n"
        "    ports:\n      <<: {https: 443, http: 8014}\n      console: 0\n",
    )
    _, errors = load_file(_write(site_folder, "x.yaml", text))
    assert [(e.line, e.field, e.message) for e in errors] == [
        (11, "servers[0].ports.console", "must be at least 1")
    ]


@pytest.mark.parametrize(
    ("path", "text"),
    [
        pytest.param(("servers", 1, "certificate", "sha256"), "servers[1].certificate.sha256", id="nested"),
        pytest.param(
            ("managementServerLists", 0, "servers", 2), "managementServerLists[0].servers[2]", id="items"
        ),
        pytest.param(
            ("actuators", "mslCopy", "command", "env", "TOKEN"),
            "actuators.mslCopy.command.env.TOKEN",
            id="dict",
        ),
        pytest.param(("env", "MY VAR"), "env['MY VAR']", id="odd-key"),
        pytest.param((), "", id="root"),
    ],
)
def test_paths_print_as_the_yaml_reads(path, text):
    """A location prints as dotted keys with [index] items, quoting keys that are not plain names."""
    assert format_path(path) == text


@pytest.mark.parametrize(
    ("path", "keys"),
    [
        pytest.param(
            ("servers", 0, "certificate"), ["keystore", "previousSha256", "sha256"], id="certificate"
        ),
        pytest.param(
            ("servers", 0, "certificate", "keystore", "password"), ["env", "file"], id="optional-secret"
        ),
        pytest.param(("actuators", "mslCopy", "command", "env", "X"), ["env", "file"], id="dict-of-secrets"),
        pytest.param(("gates", "timeout"), [], id="not-a-mapping"),
        pytest.param(("nothing",), [], id="unknown"),
    ],
)
def test_allowed_keys_follow_the_schema(path, keys):
    """The keys suggested for an unknown key are those of the schema model at that place."""
    assert allowed_keys(path) == keys


_secret_values = st.text(
    alphabet=st.characters(codec="ascii", categories=["L", "N", "P"]), min_size=1, max_size=20
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    secret=_secret_values,
    place=st.sampled_from(["api-password", "command-env", "keystore-password", "unknown-key", "top-level"]),
)
def test_no_error_repeats_an_inlined_secret(site_folder, secret, place):
    """Whatever is written where a secret belongs, or under an unknown key, no error quotes it."""
    value = "S3cr3t-" + secret  # a marker no message contains, so a hit can only be the value itself
    data = yaml.safe_load(VALID_SITE)
    if place == "api-password":
        data["api"]["password"] = value
    elif place == "command-env":
        data["actuators"] = {"mslCopy": {"command": {"argv": ["x"], "env": {"T": value}}}}
    elif place == "keystore-password":
        data["servers"][0]["certificate"]["keystore"] = {"path": "k.p12", "password": value}
    elif place == "unknown-key":
        data["api"]["passwd"] = value
    else:
        data = value
    path = _write(site_folder, "s.yaml", yaml.safe_dump(data))
    site, errors = load_file(path)
    assert site is None
    assert errors
    assert all("S3cr3t-" not in str(e) for e in errors)


def _with_file_secrets(folder: Path) -> Path:
    """A site referring to secrets by file: the API password, a keystore password, a command's token."""
    data = yaml.safe_load(VALID_SITE)
    data["api"]["password"] = {"file": "secrets/api"}
    data["actuators"] = {
        "mslCopy": {"command": {"argv": ["copy"], "env": {"TOKEN": {"file": "secrets/token"}}}},
        "certificateUpdate": {"operator": {}},
    }
    return _write(folder, "hq.yaml", yaml.safe_dump(data, sort_keys=False))


def test_file_secrets_not_there_yet_are_not_an_error(site_folder):
    """A file secret inside an allowed directory that does not exist yet is resolved only when needed."""
    path = _with_file_secrets(site_folder)
    site, errors = load_file(path, secret_dirs=SecretDirs((site_folder / "secrets",)))
    assert errors == []
    assert [(at, ref.file) for at, ref in secret_references(site)] == [
        (("api", "password"), "secrets/api"),
        (("actuators", "mslCopy", "command", "env", "TOKEN"), "secrets/token"),
    ]


def test_file_secrets_outside_or_writable_by_others_are_errors_at_their_line(site_folder):
    """validate reports a file secret outside the allowed directories, and one that others may write,
    at the line of the reference, without reading it."""
    _with_file_secrets(site_folder)
    (site_folder / "secrets").mkdir()
    (site_folder / "secrets" / "api").write_text("hunter2\n", encoding="utf-8")
    (site_folder / "secrets" / "api").chmod(0o664)
    result = load_folder(site_folder, secret_dirs=SecretDirs((site_folder / "secrets", site_folder / "none")))
    api, token = site_folder / "secrets" / "api", site_folder / "secrets" / "token"
    assert [(e.line, e.field, e.message) for e in result.errors] == [
        (5, "api.password", f"secret file {api} can be written by its group (mode 0664); make it writable "
         "by its owner only (chmod go-w)"),
    ]  # fmt: skip
    result = load_folder(site_folder, secret_dirs=SecretDirs(()))
    assert [(e.line, e.field) for e in result.errors] == [
        (5, "api.password"),
        (22, "actuators.mslCopy.command.env.TOKEN"),
    ]
    assert str(token) in result.errors[1].message
    assert "hunter2" not in "\n".join(map(str, result.errors))
