"""Which entries of a desired-state folder are site files, and reading one without trusting it.

Contract:
- `site_files(folder)`: every entry directly in the folder whose name ends in ``.yaml`` or ``.yml``, in
  any letter case (``HQ.YAML`` is read like ``hq.yaml``), in name order, whatever the entry is: a file,
  a symbolic link (dangling or looping), a folder, a FIFO. Hidden entries (``.name``) are not site
  files: editors and Git checkouts keep their own there. An entry that looks like a site file is
  therefore read or reported by the loader, never skipped in silence. A folder that cannot be listed
  gives no entries here; `list_site_files` raises instead, for a caller that reports it.
- `read_site_file(path)`: the bytes of a regular file (symbolic links followed) of at most
  `MAX_FILE_BYTES`, or `UnreadableFile` saying what the entry is instead: a dangling link (and where it
  points), a loop of links, a folder, a FIFO or device, a file too large, or the OS's reason
  (``Permission denied``, ``No such file or directory`` for a file gone since it was listed). It never
  blocks: a FIFO is opened without waiting for a writer and refused by its type, and at most
  ``MAX_FILE_BYTES + 1`` bytes are read from anything.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

SITE_SUFFIXES = (".yaml", ".yml")

MAX_FILE_BYTES = 64 * 1024
"""A site file is a few KiB (the shipped hq.yaml is 3 KiB; twenty servers and two hundred lists would be
about 20 KiB). PyYAML's pure-Python parser needs seconds for 64 KiB of dense YAML on a loaded machine
(``benchmarks/bench_desired_hostile.py``), and every file is read at each reload; a larger file is
refused unread, so that one file cannot hold back the other sites for long."""


class UnreadableFile(Exception):
    """A folder entry that cannot be read as a site file; the message says what it is instead."""


def list_site_files(folder: Path) -> list[Path]:
    """The entries of ``folder`` that look like site files (see the module docstring); OSError if the
    folder cannot be listed."""
    return sorted(
        entry
        for entry in folder.iterdir()
        if entry.suffix.lower() in SITE_SUFFIXES and not entry.name.startswith(".")
    )


def site_files(folder: Path) -> list[Path]:
    """`list_site_files`, or no entries when the folder cannot be listed."""
    try:
        return list_site_files(folder)
    except OSError:
        return []


def read_site_file(path: Path) -> bytes:
    """The bytes of the site file at ``path``; raise UnreadableFile otherwise."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise UnreadableFile(_why_not_opened(path, exc)) from None
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise UnreadableFile(kind_of(info.st_mode))
        if info.st_size > MAX_FILE_BYTES:
            raise UnreadableFile(_too_large())
        data = read_at_most(descriptor, MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:  # it grew since fstat
            raise UnreadableFile(_too_large())
        return data
    except OSError as exc:
        raise UnreadableFile(exc.strerror or type(exc).__name__) from None
    finally:
        os.close(descriptor)


def read_at_most(descriptor: int, limit: int) -> bytes:
    """Up to ``limit`` bytes from an open file, fewer only at its end."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = os.read(descriptor, limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _why_not_opened(path: Path, exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "a loop of symbolic links"
    if exc.errno == errno.ENOENT:
        try:
            return f"a symbolic link to {os.readlink(path)}, which does not exist"
        except OSError:
            pass  # not a link: the file itself is gone
    return exc.strerror or type(exc).__name__


def _too_large() -> str:
    return f"larger than {MAX_FILE_BYTES // 1024} KiB; a site file is a few KiB"


def kind_of(mode: int) -> str:
    """What an entry that is not a regular file is, for a message."""
    if stat.S_ISDIR(mode):
        return "a folder, not a file"
    if stat.S_ISFIFO(mode):
        kind = "a FIFO"
    elif stat.S_ISSOCK(mode):
        kind = "a socket"
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        kind = "a device"
    else:
        kind = "of an unknown kind"
    return f"not a regular file ({kind})"
