"""Secret references (``{env: NAME}`` / ``{file: PATH}``) to their values, at the moment they are needed.

Contract:
- An environment variable is used as it is; a file gives its first line, stripped of surrounding
  whitespace (so ``echo secret > file`` works). A relative file is joined to ``base``, the folder of the
  desired-state file that holds the reference.
- A file is read only from the directories the operator allows, and only when nobody but its owner may
  change it (`reconciler.desired.secret_dirs`; ``dirs`` defaults to the process's policy, read from the
  environment). It is opened without following a last link (the real path was checked, so a link there
  means it changed meanwhile), without blocking (a FIFO is refused by its type), and at most
  `MAX_SECRET_BYTES` of it are read.
- An unset variable, an empty value, a file refused, unreadable or empty raise `SecretError`. Its
  message names the reference (variable or file) and never contains the value or any part of the file,
  so it is safe to log, to put in a status and to show in a test report. Exceptions are raised
  ``from None`` because a chained UnicodeDecodeError would quote the file's bytes.
- `secret_references(site)` lists every reference a site makes, with its YAML path, and
  `file_secret_problem(ref, ...)` says what would stop a file reference from being read as far as can be
  known without reading it (outside the allowed directories, or a file or directory others may write;
  a file that does not exist is not a problem until it is needed). ``validate`` reports both.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel

from reconciler.desired.folder import kind_of, read_at_most
from reconciler.desired.schema import SecretRef
from reconciler.desired.secret_dirs import SecretDirs, untrusted
from reconciler.desired.yamlsource import YamlPath

MAX_SECRET_BYTES = 64 * 1024
"""A password or token is a line of a few dozen bytes; a longer first line is not a secret we expect."""


class SecretError(Exception):
    """A secret reference that cannot be resolved; the message names the reference, never a value."""


def secret_path(ref: SecretRef, *, base: Path | None = None) -> Path | None:
    """The file a ``{file: ...}`` reference points at (joined to ``base`` when relative), else None."""
    if ref.file is None:
        return None
    path = Path(ref.file).expanduser()
    return path if path.is_absolute() or base is None else base / path


def resolve_secret(ref: SecretRef, *, base: Path | None = None, dirs: SecretDirs | None = None) -> str:
    """The secret's value; raise SecretError naming the reference when there is none."""
    if ref.env is not None:
        value = os.environ.get(ref.env)
        if value is None:
            raise SecretError(f"environment variable {ref.env} is not set")
        if not value:
            raise SecretError(f"environment variable {ref.env} is empty")
        return value
    path = secret_path(ref, base=base)
    if path is None:  # SecretRef guarantees one of env or file; this keeps the type checker honest
        raise SecretError("the secret reference names neither an environment variable nor a file")
    line = _first_line(path, dirs or SecretDirs.from_environment())
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretError(f"secret file {path} is not UTF-8 text") from None
    lines = text.splitlines()
    value = lines[0].strip() if lines else ""
    if not value:
        raise SecretError(f"secret file {path} is empty (the secret is its first line)")
    return value


def _first_line(path: Path, dirs: SecretDirs) -> bytes:
    """The bytes of the file's first line (up to its first newline), once the file is found trustworthy."""
    real, allowed = dirs.locate(path)
    if allowed is None:
        raise SecretError(dirs.outside(path, real))
    try:
        descriptor = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise SecretError(f"cannot read secret file {path}: {exc.strerror or type(exc).__name__}") from None
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise SecretError(f"cannot read secret file {path}: {kind_of(info.st_mode)}")
        problem = untrusted(path, real, allowed, info)
        if problem is not None:
            raise SecretError(problem)
        data = read_at_most(descriptor, MAX_SECRET_BYTES + 1)
    except OSError as exc:
        raise SecretError(f"cannot read secret file {path}: {exc.strerror or type(exc).__name__}") from None
    finally:
        os.close(descriptor)
    end = data.find(b"\n")
    if end < 0 and len(data) > MAX_SECRET_BYTES:
        raise SecretError(
            f"the first line of secret file {path} is longer than {MAX_SECRET_BYTES // 1024} KiB"
        )
    return data if end < 0 else data[:end]


def file_secret_problem(ref: SecretRef, *, base: Path | None, dirs: SecretDirs) -> str | None:
    """What would stop a ``{file: ...}`` reference from being read, short of reading it; None for env."""
    path = secret_path(ref, base=base)
    if path is None:
        return None
    real, allowed = dirs.locate(path)
    if allowed is None:
        return dirs.outside(path, real)
    try:
        info = os.stat(real)
    except OSError:
        return None  # not there (yet): it is needed, and reported, only when used
    if not stat.S_ISREG(info.st_mode):
        return f"cannot read secret file {path}: {kind_of(info.st_mode)}"
    return untrusted(path, real, allowed, info)


def secret_references(value: object, at: YamlPath = ()) -> Iterator[tuple[YamlPath, SecretRef]]:
    """Every SecretRef in a desired-state model, with its path in the YAML (camelCase keys)."""
    if isinstance(value, SecretRef):
        yield at, value
    elif isinstance(value, BaseModel):
        for name, info in type(value).model_fields.items():
            yield from secret_references(getattr(value, name), (*at, info.alias or name))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from secret_references(item, (*at, index))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from secret_references(item, (*at, key))
