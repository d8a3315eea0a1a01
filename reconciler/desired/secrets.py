"""Secret references (``{env: NAME}`` / ``{file: PATH}``) to their values, at the moment they are needed.

Contract:
- An environment variable is used as it is; a file gives its first line, stripped of surrounding
  whitespace (so ``echo secret > file`` works). A relative file is read relative to ``base``, the
  folder of the desired-state file that holds the reference.
- An unset variable, an empty value, an unreadable or empty file raise `SecretError`. Its message names
  the reference (variable or file) and never contains the value or any part of the file, so it is safe
  to log, to put in a status and to show in a test report. Exceptions are raised ``from None`` because a
  chained UnicodeDecodeError would quote the file's bytes.
"""

from __future__ import annotations

import os
from pathlib import Path

from reconciler.desired.schema import SecretRef


class SecretError(Exception):
    """A secret reference that cannot be resolved; the message names the reference, never a value."""


def secret_path(ref: SecretRef, *, base: Path | None = None) -> Path | None:
    """The file a ``{file: ...}`` reference points at (joined to ``base`` when relative), else None."""
    if ref.file is None:
        return None
    path = Path(ref.file).expanduser()
    return path if path.is_absolute() or base is None else base / path


def resolve_secret(ref: SecretRef, *, base: Path | None = None) -> str:
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
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SecretError(f"secret file {path} is not UTF-8 text") from None
    except OSError as exc:
        raise SecretError(f"cannot read secret file {path}: {exc.strerror or type(exc).__name__}") from None
    lines = text.splitlines()
    value = lines[0].strip() if lines else ""
    if not value:
        raise SecretError(f"secret file {path} is empty (the secret is its first line)")
    return value
