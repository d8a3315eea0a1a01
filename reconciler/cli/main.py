"""``sepm-reconciler`` argument parsing and dispatch.

Exit codes are part of the contract: 0 success / nothing to do, 1 error, 2 changes pending
(``plan``). Every subcommand handler returns its exit code; errors a user can meet are printed to
stderr as one clear sentence, never as a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from reconciler import __version__
from reconciler.cli import controller_cmds, desired_cmds, plan_cmds, sim_cmds


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sepm-reconciler",
        description="Rotate SEPM server certificates from desired state without orphaning clients.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    desired_cmds.register(commands)
    plan_cmds.register(commands)
    controller_cmds.register(commands)
    sim_cmds.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = args.handler
    try:
        with desired_cmds.secret_dirs_scope():
            code: int = handler(args)
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
