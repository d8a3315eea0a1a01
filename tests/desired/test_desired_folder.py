"""Folder entries that look like site files are read or reported, never skipped; no file stops the others."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

import reconciler.desired.folder
import reconciler.desired.loader
from reconciler.desired.folder import MAX_FILE_BYTES, site_files
from reconciler.desired.loader import LoadError, load_file, load_folder
from tests.desired.conftest import VALID_SITE


def _site(name: str) -> str:
    return VALID_SITE.replace("site: corpus", f"site: {name}")


def _dangling(folder: Path) -> str:
    (folder / "ghost.yaml").symlink_to("gone.yaml")
    return "cannot read: a symbolic link to gone.yaml, which does not exist"


def _self_loop(folder: Path) -> str:
    (folder / "loop.yaml").symlink_to("loop.yaml")
    return "cannot read: a loop of symbolic links"


def _folder(folder: Path) -> str:
    (folder / "x.yaml").mkdir()
    return "cannot read: a folder, not a file"


def _fifo(folder: Path) -> str:
    os.mkfifo(folder / "pipe.yaml")  # opened for reading, a FIFO without a writer would block forever
    return "cannot read: not a regular file (a FIFO)"


def _device(folder: Path) -> str:
    (folder / "zero.yaml").symlink_to("/dev/zero")  # endless: read whole, it would fill memory
    return "cannot read: not a regular file (a device)"


def _too_large(folder: Path) -> str:
    (folder / "big.yaml").write_bytes(_site("big").encode() + b"#" * MAX_FILE_BYTES)
    return "cannot read: larger than 64 KiB; a site file is a few KiB"


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(_dangling, id="dangling-symlink"),
        pytest.param(_self_loop, id="symlink-loop"),
        pytest.param(_folder, id="folder-named-x.yaml"),
        pytest.param(_fifo, id="fifo"),
        pytest.param(_device, id="device"),
        pytest.param(_too_large, id="too-large"),
    ],
)
def test_unreadable_entry_is_reported_with_its_path_and_the_other_sites_load(site_folder, make):
    """An entry named like a site file that cannot be read is an error with its path and no line."""
    (site_folder / "hq.yaml").write_text(_site("hq"), encoding="utf-8")
    message = make(site_folder)
    result = load_folder(site_folder)
    [entry] = [p for p in site_files(site_folder) if p.name != "hq.yaml"]
    assert result.errors == [LoadError(entry, None, None, message)]
    assert list(result.sites) == ["hq"]


def test_two_links_pointing_at_each_other_are_both_reported(site_folder):
    """A loop through two links is reported once for each of them."""
    (site_folder / "a.yaml").symlink_to("b.yaml")
    (site_folder / "b.yaml").symlink_to("a.yaml")
    result = load_folder(site_folder)
    assert [(e.file.name, e.message) for e in result.errors] == [
        ("a.yaml", "cannot read: a loop of symbolic links"),
        ("b.yaml", "cannot read: a loop of symbolic links"),
    ]


def test_upper_case_suffixes_are_read_like_lower_case(site_folder):
    """``HQ.YAML`` and ``b.Yml`` are site files: read, not skipped because of their case."""
    (site_folder / "HQ.YAML").write_text(_site("hq"), encoding="utf-8")
    (site_folder / "b.Yml").write_text(_site("bravo"), encoding="utf-8")
    result = load_folder(site_folder)
    assert result.ok
    assert result.files == {"hq": site_folder / "HQ.YAML", "bravo": site_folder / "b.Yml"}


def test_symlink_to_a_file_elsewhere_is_read(tmp_path, site_folder):
    """A link to a readable site file is followed (Git checkouts and config maps link files in)."""
    (tmp_path / "real.yaml").write_text(_site("hq"), encoding="utf-8")
    (site_folder / "hq.yaml").symlink_to(tmp_path / "real.yaml")
    assert list(load_folder(site_folder).sites) == ["hq"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file whatever its mode")
def test_file_without_read_permission_is_reported(site_folder):
    """A site file the controller may not read is an error naming it."""
    path = site_folder / "hq.yaml"
    path.write_text(_site("hq"), encoding="utf-8")
    path.chmod(0)
    assert load_folder(site_folder).errors == [LoadError(path, None, None, "cannot read: Permission denied")]


def test_refused_open_is_reported_and_the_other_sites_load(site_folder, monkeypatch):
    """When the OS refuses to open one file (EACCES, as for a non-root user), it is reported; the rest load.

    The refusal is injected because the tests may run as root, whom file modes do not stop.
    """
    (site_folder / "a.yaml").write_text(_site("alpha"), encoding="utf-8")
    (site_folder / "b.yaml").write_text(_site("bravo"), encoding="utf-8")
    real_open = os.open

    def refuse_b(path, flags, *args, **kwargs):
        if Path(path).name == "b.yaml":
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(reconciler.desired.folder.os, "open", refuse_b)
    result = load_folder(site_folder)
    assert result.errors == [LoadError(site_folder / "b.yaml", None, None, "cannot read: Permission denied")]
    assert list(result.sites) == ["alpha"]


def test_folder_that_cannot_be_listed_is_an_error(site_folder, monkeypatch):
    """A folder whose entries cannot be listed is an error, never "no sites"."""

    def refuse(self):
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(Path, "iterdir", refuse)
    assert load_folder(site_folder).errors == [
        LoadError(site_folder, None, None, "cannot list: Permission denied")
    ]
    assert site_files(site_folder) == []


def test_a_failing_check_meets_its_own_file_only(site_folder, monkeypatch):
    """A bug that raises while one file is checked is an error of that file; the other sites load, and the
    message names the exception's type but not its text (which could quote the file)."""
    (site_folder / "a.yaml").write_text(_site("alpha"), encoding="utf-8")
    (site_folder / "b.yaml").write_text(_site("bravo") + "# hunter2\n", encoding="utf-8")
    real_parse = reconciler.desired.loader.parse_yaml

    def broken_on_b(text):
        if "hunter2" in text:
            raise RuntimeError(text)
        return real_parse(text)

    monkeypatch.setattr(reconciler.desired.loader, "parse_yaml", broken_on_b)
    result = load_folder(site_folder)
    assert [str(e) for e in result.errors] == [
        f"{site_folder / 'b.yaml'}: could not be checked: RuntimeError in the desired-state loader "
        "(a bug to report)"
    ]
    assert list(result.sites) == ["alpha"]
    assert load_file(site_folder / "b.yaml")[1] == result.errors
