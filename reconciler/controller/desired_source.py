"""The desired state the controller acts on: the folder as last validly read, file by file.

Contract:
- ``reload()`` reads the whole folder. A file that is valid replaces what was known from it; a file that
  is invalid keeps the last valid state of the site it held in force, and its errors are reported for that
  site (and globally when the file cannot be tied to a site). Nothing acts on an invalid file.
- A site whose file disappeared is dropped from ``sites`` (its worker finishes an active rotation first;
  that is the worker's business, see `reconciler.controller.runner`).
- ``watch()`` yields after each change under the folder's *parent*: Git checkouts that swap a symlink
  (``desired-state -> .git-sync/rev-123``) replace the folder itself, which a watch on the folder would miss.
  Changes are debounced so a checkout of many files is one reload.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import watchfiles

from reconciler.desired.loader import LoadError, load_folder, site_files
from reconciler.desired.schema import DesiredSite

log = logging.getLogger(__name__)


@dataclass
class DesiredSource:
    folder: Path
    sites: dict[str, DesiredSite] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    unattributed_errors: list[str] = field(default_factory=list)
    git_revision: str = ""
    _site_of_file: dict[Path, str] = field(default_factory=dict)

    def reload(self) -> bool:
        """Read the folder again; True when the set of valid desired states changed."""
        result = load_folder(self.folder)
        before = {name: site.digest() for name, site in self.sites.items()}
        errors: dict[str, list[str]] = {}
        unattributed: list[str] = []
        broken_files = {_resolved(e.file) for e in result.errors}
        present = {_resolved(p) for p in site_files(self.folder)} if self.folder.is_dir() else set()
        sites: dict[str, DesiredSite] = {}
        files: dict[str, Path] = {}
        for name, site in result.sites.items():
            sites[name] = site
            files[name] = result.files[name]
            self._site_of_file[_resolved(result.files[name])] = name
        for error in result.errors:
            owner = self._site_of_file.get(_resolved(error.file))
            _attribute(error, owner, errors, unattributed)
            if owner is not None and owner in self.sites and owner not in sites:
                # The file held this site before: keep its last valid state in force.
                sites[owner] = self.sites[owner]
                files[owner] = self.files[owner]
        for path in list(self._site_of_file):
            if path not in present and path not in broken_files:
                del self._site_of_file[path]
        self.sites, self.files, self.errors, self.unattributed_errors = sites, files, errors, unattributed
        self.git_revision = git_revision(self.folder)
        for message in unattributed + [m for ms in errors.values() for m in ms]:
            log.warning("invalid desired state: %s", message)
        after = {name: site.digest() for name, site in self.sites.items()}
        return before != after

    async def watch(self, *, debounce_ms: int = 400) -> AsyncIterator[None]:
        """Yield once per (debounced) batch of changes under the folder's parent."""
        parent = self.folder.resolve().parent
        async for _ in watchfiles.awatch(parent, debounce=debounce_ms, recursive=True):
            yield None


def _resolved(path: Path) -> Path:
    """``path`` with its links resolved; a loop of links (reported by the loader) stays as written."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # Python before 3.13 raises RuntimeError for a loop
        return path.absolute()


def _attribute(error: LoadError, name: str | None, errors: dict[str, list[str]], loose: list[str]) -> None:
    if name is None:
        loose.append(str(error))
    else:
        errors.setdefault(name, []).append(str(error))


def git_revision(folder: Path) -> str:
    """The Git commit the folder was checked out at, or "" outside a repository."""
    try:
        done = subprocess.run(  # noqa: S603 (fixed argv, no shell)
            ["git", "-C", str(folder.resolve()), "rev-parse", "HEAD"],  # noqa: S607 (git from PATH is intended)
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""
