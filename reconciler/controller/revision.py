"""The Git revision a desired-state folder was checked out at: commit id and subject.

Contract:
- Read with ``git --no-optional-locks -c safe.directory=* log -1`` from inside the folder: it writes
  nothing (no index refresh, no lock), and works on a checkout owned by another user (a mounted
  volume, git-sync's sidecar) and in git-sync's layout, where the folder lies in a worktree
  (``root/.worktrees/<commit>``) reached through a swapped symlink (``root/current``).
- Without git, or outside a repository, the commit is still told when the resolved path runs through a
  directory named by a full commit id (git-sync names each worktree so); the subject is then unknown.
- Never raises and never waits more than a few seconds: a revision is information, not a condition.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

_COMMIT = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
_SEPARATOR = "\x1f"
TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class Revision:
    commit: str = ""
    subject: str = ""

    def __bool__(self) -> bool:
        return bool(self.commit)

    def __str__(self) -> str:
        """``0123abcd (subject)`` for logs and status lines; ``unknown`` outside Git."""
        if not self.commit:
            return "unknown"
        return f"{self.commit[:12]} ({self.subject})" if self.subject else self.commit[:12]


def read_revision(folder: Path) -> Revision:
    """The revision ``folder`` was checked out at (see the module docstring)."""
    resolved = folder.resolve()
    try:
        done = subprocess.run(  # noqa: S603 (fixed argv, no shell)
            [  # noqa: S607 (git from PATH is intended)
                "git",
                "--no-optional-locks",
                "-c",
                "safe.directory=*",
                "-C",
                str(resolved),
                "log",
                "-1",
                f"--format=%H{_SEPARATOR}%s",
            ],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return _from_path(resolved)
    commit, _, subject = done.stdout.strip().partition(_SEPARATOR)
    if done.returncode != 0 or not _COMMIT.match(commit):
        return _from_path(resolved)
    return Revision(commit=commit, subject=subject.strip()[:200])


def _from_path(resolved: Path) -> Revision:
    for part in reversed(resolved.parts):
        if _COMMIT.match(part):
            return Revision(commit=part)
    return Revision()
