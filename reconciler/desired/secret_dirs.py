"""Where ``{file: ...}`` secrets may be read from, and which files there the controller trusts.

Why: a site file names both the server the API password is sent to (``api.url``, pinned in the same
file) and where the password comes from. Without a limit, anyone who can commit a site file could make
the controller send the first line of any file it can read to a server of their own.

Contract:
- The operator allows directories with ``SEPM_RECONCILER_SECRET_DIRS`` (`SECRET_DIRS_VARIABLE`,
  ``os.pathsep``-separated), which ``run``, ``observe`` and ``validate`` set from ``--secret-dir``
  (repeatable; the option wins over the variable). Unset, it is ``/run/secrets``, where Docker and
  Kubernetes mount secrets; set but empty, no directory is allowed. `SecretDirs.from_environment` reads
  it at each use, so that every place a secret is resolved (the controller, the actuators, ``validate``)
  applies one policy without it being handed down through every layer.
- `SecretDirs.locate(path)`: the file's real path (symbolic links resolved first, so a link inside an
  allowed directory that leads outside is refused, and a link from outside into one is followed) and
  the allowed directory holding it, or None. A relative reference has already been joined to its site
  file's folder (`reconciler.desired.secrets`), so it must land inside an allowed directory as well.
- `untrusted(...)`: a secret file is not read when group or others may write it, nor when a directory
  from the allowed one down to the file may be written by group or others, unless that directory is
  sticky (only an entry's owner may then replace it; Kubernetes mounts secret volumes with mode 1777)
  and the entry in it belongs to root or to the controller's own user. Directories above the allowed one
  are the operator's to keep.
- Messages name the reference's path (and the real path when a link leads elsewhere), never the content.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

SECRET_DIRS_VARIABLE = "SEPM_RECONCILER_SECRET_DIRS"  # noqa: S105 (a variable's name)
DEFAULT_SECRET_DIRS = ("/run/secrets",)
_WRITABLE_BY_OTHERS = stat.S_IWGRP | stat.S_IWOTH


@dataclass(frozen=True)
class SecretDirs:
    """The directories ``{file: ...}`` secrets may be read from, as the operator wrote them."""

    dirs: tuple[Path, ...]

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> SecretDirs:
        raw = environ.get(SECRET_DIRS_VARIABLE)
        parts = DEFAULT_SECRET_DIRS if raw is None else tuple(p for p in raw.split(os.pathsep) if p)
        return cls(tuple(Path(p) for p in parts))

    def describe(self) -> str:
        return ", ".join(str(d) for d in self.dirs) if self.dirs else "none"

    def locate(self, path: Path) -> tuple[Path, Path | None]:
        """The real path of ``path``, and the real path of the allowed directory holding it (or None)."""
        real = Path(os.path.realpath(path))
        for allowed in self.dirs:
            real_allowed = Path(os.path.realpath(allowed))
            if real.is_relative_to(real_allowed):
                return real, real_allowed
        return real, None

    def outside(self, path: Path, real: Path) -> str:
        """The message for a file outside every allowed directory."""
        via = f" (a link to {real})" if real != Path(os.path.abspath(path)) else ""
        return (
            f"secret file {path}{via} is outside the directories secrets may be read from "
            f"({self.describe()}); the operator allows one with --secret-dir or {SECRET_DIRS_VARIABLE}"
        )


def untrusted(path: Path, real: Path, allowed: Path, info: os.stat_result) -> str | None:
    """Why the file at ``real`` (``info``: its stat) must not be trusted, or None; see the module docstring.

    ``real`` lies in ``allowed``, both real paths; ``path`` is the reference's path for messages.
    """
    if info.st_mode & _WRITABLE_BY_OTHERS:
        return (
            f"secret file {path} can be written by {_who(info.st_mode)} (mode {_mode(info)}); "
            "make it writable by its owner only (chmod go-w)"
        )
    parts = real.relative_to(allowed).parts
    directory = allowed
    for index in range(len(parts)):
        entry = directory / parts[index]
        try:
            held = os.lstat(directory)
            below = info if index == len(parts) - 1 else os.lstat(entry)
        except OSError as exc:
            return f"cannot check secret file {path}: {exc.strerror or type(exc).__name__}"
        if held.st_mode & _WRITABLE_BY_OTHERS:
            who, mode = _who(held.st_mode), _mode(held)
            if not held.st_mode & stat.S_ISVTX:
                return (
                    f"secret file {path} is in {directory}, which {who} can write (mode {mode}); "
                    "make it writable by its owner only, or sticky"
                )
            if below.st_uid not in (0, os.geteuid()):
                return (
                    f"secret file {path}: {entry} belongs to user {below.st_uid} in {directory}, which "
                    f"{who} can write (mode {mode}); there it must belong to root or to the controller's user"
                )
        directory = entry
    return None


def _mode(info: os.stat_result) -> str:
    return f"{stat.S_IMODE(info.st_mode):04o}"


def _who(mode: int) -> str:
    group, others = mode & stat.S_IWGRP, mode & stat.S_IWOTH
    return "group and others" if group and others else "its group" if group else "others"
