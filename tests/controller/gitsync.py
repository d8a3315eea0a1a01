"""git-sync's layout, made with real Git: a root with the repository, one worktree per synced commit under
``.worktrees/<commit>``, and a ``current`` symlink swapped atomically to the newest one; old worktrees
are removed after the swap (git-sync v4's ``--root``, ``--link=current`` behaviour)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ENV = {
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "HOME": "/nonexistent",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Security Team",
    "GIT_AUTHOR_EMAIL": "sec@example.com",
    "GIT_COMMITTER_NAME": "Security Team",
    "GIT_COMMITTER_EMAIL": "sec@example.com",
}


def git(*args: str, cwd: Path) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=ENV, capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout.strip()


class GitSync:
    """An origin repository that commits, and a git-sync root that follows it."""

    def __init__(self, base: Path) -> None:
        self.origin = base / "origin"
        self.root = base / "git"
        self.link = self.root / "current"
        self.origin.mkdir(parents=True)
        self.root.mkdir(parents=True)
        git("init", "-q", "-b", "main", cwd=self.origin)
        git("init", "-q", cwd=self.root)
        git("remote", "add", "origin", str(self.origin), cwd=self.root)
        self.synced: list[str] = []

    def commit(self, files: dict[str, str], subject: str) -> str:
        """Write ``files`` (path -> text) in the origin and commit them; returns the commit id."""
        for name, text in files.items():
            path = self.origin / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        git("add", "-A", cwd=self.origin)
        git("commit", "-q", "-m", subject, cwd=self.origin)
        return git("rev-parse", "HEAD", cwd=self.origin)

    def sync(self) -> str:
        """Fetch, add the new worktree, swap the link atomically, remove the previous worktree."""
        git("fetch", "-q", "origin", "main", cwd=self.root)
        commit = git("rev-parse", "FETCH_HEAD", cwd=self.root)
        git("worktree", "add", "-q", "--detach", f".worktrees/{commit}", commit, cwd=self.root)
        staging = self.root / ".current.tmp"
        staging.symlink_to(Path(".worktrees") / commit)
        os.replace(staging, self.link)
        for old in self.synced:
            git("worktree", "remove", "--force", f".worktrees/{old}", cwd=self.root)
        git("worktree", "prune", cwd=self.root)
        self.synced = [commit]
        return commit
