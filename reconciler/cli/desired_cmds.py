"""``sepm-reconciler validate DIR``: check a desired-state folder as the controller would read it.

Exit 0 when every site file is valid, with one line per site on stdout. Exit 1 otherwise, with every
error on stderr as ``file:line: field: message`` (valid sites are still listed on stdout); a folder that
does not exist or holds no site file is an error too. Keystores are opened, so their passwords must be
reachable; the API password and command secrets are not read, but a ``{file: ...}`` reference outside
the allowed secret directories (or to a file others may write) is an error.

``--secret-dir`` (`secret_dir_option`, also on ``run`` and ``observe``) names the directories
``{file: ...}`` secrets may be read from; it overrides ``SEPM_RECONCILER_SECRET_DIRS``
(`reconciler.desired.secret_dirs`) by setting it for the command (restored when it ends), so run
``validate`` with the same option or variable as the controller.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from reconciler.desired.loader import load_folder
from reconciler.desired.schema import DesiredSite
from reconciler.desired.secret_dirs import DEFAULT_SECRET_DIRS, SECRET_DIRS_VARIABLE


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Add this area's subcommands to the top-level parser."""
    validate = commands.add_parser(
        "validate",
        help="check a desired-state folder (schema, references, keystores)",
        description="Check every site file (*.yaml, *.yml) in DIR; exit 0 when all are valid, 1 otherwise.",
    )
    validate.add_argument("folder", metavar="DIR", type=Path, help="the desired-state folder")
    secret_dir_option(validate)
    validate.set_defaults(handler=run_validate)


def secret_dir_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--secret-dir DIR`` (repeatable) to a command that resolves or checks secrets."""
    parser.add_argument(
        "--secret-dir",
        dest="secret_dirs",
        metavar="DIR",
        action="append",
        type=_secret_dir,
        default=[],
        help=f"a directory {{file: ...}} secrets may be read from (repeatable; default: "
        f"${SECRET_DIRS_VARIABLE}, else {os.pathsep.join(DEFAULT_SECRET_DIRS)})",
    )


def use_secret_dirs(args: argparse.Namespace) -> None:
    """Make ``--secret-dir`` the policy for every secret resolved until the command ends
    (`secret_dirs_scope`)."""
    if args.secret_dirs:
        os.environ[SECRET_DIRS_VARIABLE] = os.pathsep.join(str(d) for d in args.secret_dirs)


@contextmanager
def secret_dirs_scope() -> Iterator[None]:
    """Restore ``SEPM_RECONCILER_SECRET_DIRS`` as it was when one command ends, so that a command run
    in-process (a test, an embedding program) leaves no policy behind for the next."""
    before = os.environ.get(SECRET_DIRS_VARIABLE)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(SECRET_DIRS_VARIABLE, None)
        else:
            os.environ[SECRET_DIRS_VARIABLE] = before


def _secret_dir(text: str) -> Path:
    if not text or os.pathsep in text:
        raise argparse.ArgumentTypeError(f"a directory, without {os.pathsep!r}")
    return Path(text).absolute()


def run_validate(args: argparse.Namespace) -> int:
    use_secret_dirs(args)
    result = load_folder(args.folder)
    for name in sorted(result.sites):
        print(_summary(result.sites[name], result.files[name]))
    for error in result.errors:
        print(error, file=sys.stderr)
    if not result.ok:
        print(f"invalid: {_count(len(result.errors), 'error')}", file=sys.stderr)
        return 1
    return 0


def _summary(site: DesiredSite, file: Path) -> str:
    keystores = sum(1 for s in site.servers if s.certificate.keystore is not None)
    parts = [
        _count(len(site.servers), "server"),
        _count(len(site.management_server_lists), "management server list"),
        f"procedure {site.procedure}",
    ]
    if keystores:
        parts.append(f"{_count(keystores, 'keystore')} checked")
    return f"{site.site}: valid ({file}): {', '.join(parts)}"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'s' if number != 1 else ''}"
