"""``sepm-reconciler validate DIR``: check a desired-state folder as the controller would read it.

Exit 0 when every site file is valid, with one line per site on stdout. Exit 1 otherwise, with every
error on stderr as ``file:line: field: message`` (valid sites are still listed on stdout); a folder that
does not exist or holds no site file is an error too. Keystores are opened, so their passwords must be
reachable; the API password and command secrets are not read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from reconciler.desired.loader import load_folder
from reconciler.desired.schema import DesiredSite


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Add this area's subcommands to the top-level parser."""
    validate = commands.add_parser(
        "validate",
        help="check a desired-state folder (schema, references, keystores)",
        description="Check every site file (*.yaml, *.yml) in DIR; exit 0 when all are valid, 1 otherwise.",
    )
    validate.add_argument("folder", metavar="DIR", type=Path, help="the desired-state folder")
    validate.set_defaults(handler=run_validate)


def run_validate(args: argparse.Namespace) -> int:
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
