"""The desired state the controller acts on: the folder as last validly read, file by file, with its revision.

Contract:
- ``reload()`` reads the whole folder and never raises. A valid file replaces what was known from it;
  an invalid file keeps the last valid state of the site it held in force, and its errors are reported
  for that site: the site its file declares (even if never valid), else the site the file held before,
  else globally (``unattributed_errors``). Nothing acts on an invalid file.
- A folder that is missing, empty or unreadable as a whole changes nothing (a Git checkout may be half
  way): every site stays in force and the error is reported globally.
- A site whose file disappeared is dropped from ``sites`` and listed in ``removed`` (its worker finishes
  an active rotation first; that is the runner's business).
- ``revision`` is the Git revision of the checkout (`reconciler.controller.revision`); ``revisions``
  holds, per site, the revision its state in force was read at (an invalid file keeps the older one).
- ``watch()`` yields after each relevant change (`reconciler.controller.checkout`: git-sync's symlink
  swaps included; the journal's own writes never count), for ever.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.controller.checkout import changes
from reconciler.controller.revision import Revision, read_revision
from reconciler.desired.loader import LoadError, LoadResult, load_folder
from reconciler.desired.schema import DesiredSite

log = logging.getLogger(__name__)


@dataclass
class DesiredSource:
    folder: Path
    sites: dict[str, DesiredSite] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    unattributed_errors: list[str] = field(default_factory=list)
    removed: dict[str, Path] = field(default_factory=dict)
    revision: Revision = field(default_factory=Revision)
    revisions: dict[str, Revision] = field(default_factory=dict)

    @property
    def git_revision(self) -> str:
        """The checkout's commit id ("" outside Git)."""
        return self.revision.commit

    def reload(self) -> bool:
        """Read the folder again; True when the set of valid desired states changed."""
        revision = read_revision(self.folder)
        try:
            result = load_folder(self.folder)
        except (
            Exception
        ) as failure:  # a loader bug must not end the controller: report it, keep the last state
            log.exception("reading %s failed", self.folder)
            result = LoadResult(
                sites={}, errors=[LoadError(self.folder, None, None, f"unreadable: {failure}")]
            )
        if any(error.file == self.folder for error in result.errors):
            # The folder itself is missing, empty or unreadable (a checkout half-way?): "no files" is
            # never "no sites"; everything known stays in force until the folder reads again.
            self.unattributed_errors = [str(error) for error in result.errors]
            self.revision = revision
            for message in self.unattributed_errors:
                log.warning("invalid desired state: %s", message)
            return False
        before = {name: site.digest() for name, site in self.sites.items()}
        sites = dict(result.sites)
        files = {name: result.files[name] for name in sites}
        revisions = {name: revision for name in sites}
        owner_of = {_resolved(path): name for name, path in {**self.files, **result.files}.items()}
        errors: dict[str, list[str]] = {}
        unattributed: list[str] = []
        for error in result.errors:
            owner = owner_of.get(_resolved(error.file))
            if owner is None:
                unattributed.append(str(error))
                continue
            errors.setdefault(owner, []).append(str(error))
            if owner in self.sites and owner not in sites:
                # The file held this site before: keep its last valid state (and revision) in force.
                sites[owner], files[owner] = self.sites[owner], self.files[owner]
                revisions[owner] = self.revisions.get(owner, Revision())
        removed = {name: path for name, path in self.files.items() if name not in sites and not path.exists()}
        for name, path in removed.items():
            errors.setdefault(name, []).append(f"{path}: removed: the site is no longer managed")
        self.sites, self.files, self.revisions = sites, files, revisions
        self.errors, self.unattributed_errors, self.removed = errors, unattributed, removed
        self.revision = revision
        for message in unattributed + [m for ms in errors.values() for m in ms]:
            log.warning("invalid desired state: %s", message, extra={"revision": str(revision)})
        return before != {name: site.digest() for name, site in self.sites.items()}

    async def watch(self, *, debounce_ms: int = 400) -> AsyncIterator[None]:
        """Yield once per (debounced) batch of relevant changes to the folder (module docstring)."""
        async for _ in changes(self.folder, debounce_ms=debounce_ms):
            yield None


def _resolved(path: Path) -> Path:
    """``path`` with its links resolved; a loop of links (reported by the loader) stays as written."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # Python before 3.13 raises RuntimeError for a loop
        return path.absolute()
