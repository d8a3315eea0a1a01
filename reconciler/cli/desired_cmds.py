"""Subcommands of this area; see reconciler.cli.main for the exit-code contract."""

from __future__ import annotations

import argparse
from typing import Any


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Add this area's subcommands to the top-level parser."""
