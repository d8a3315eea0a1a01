"""A command actuator's argv template: which placeholders an item may hold, and how they are written.

Contract:
- An argv item is text with ``{name}`` placeholders from `COMMAND_PLACEHOLDERS`, filled in when the
  command runs (`reconciler.act.command`); ``{{`` and ``}}`` are literal braces.
- Placeholders are plain names, with no format spec, conversion, attribute or index: ``str.format``
  would otherwise pad to any width a file asks for (``{keystore:>9999999999}`` allocates gigabytes when
  the command runs) or reach into objects (``{site.__class__}``). `argv_item` refuses anything else with
  a message that names the placeholder and says how to write it.
"""

from __future__ import annotations

import re
import string
from typing import Annotated

from pydantic import AfterValidator

COMMAND_PLACEHOLDERS: frozenset[str] = frozenset(
    {
        "site",
        "step",
        "server",
        "address",
        "keystore",
        "keystore_format",
        "fingerprint",
        "msl",
        "msl_copy",
        "http_port",
        "http_ports",
    }
)
"""What a command actuator's argv may mention. ``http_ports`` is ``server=port,server=port``."""

_LEADING_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def argv_item(item: str) -> str:
    """The item unchanged when every placeholder in it is a plain known ``{name}``; ValueError otherwise."""
    try:
        parsed = list(string.Formatter().parse(item))
    except ValueError as exc:
        raise ValueError(f"{exc} (write {{{{ and }}}} for braces)") from None
    for _, name, spec, conversion in parsed:
        if name is not None:
            _check_placeholder(name, spec or "", conversion)
    return item


def _check_placeholder(name: str, spec: str, conversion: str | None) -> None:
    if name in COMMAND_PLACEHOLDERS and not spec and conversion is None:
        return
    leading = _LEADING_NAME.match(name)
    base = leading.group(0) if leading else ""
    if base not in COMMAND_PLACEHOLDERS:
        shown = name if len(name) <= 40 else f"{name[:40]}..."
        known = ", ".join("{" + p + "}" for p in sorted(COMMAND_PLACEHOLDERS))
        raise ValueError(f"unknown placeholder {{{shown}}}; known: {known}")
    extras = [
        *(["an attribute or an index"] if name != base else []),
        *([f"a conversion (!{conversion})"] if conversion is not None else []),
        *(["a format spec"] if spec else []),
    ]
    raise ValueError(f"{{{base}}} is written with {' and '.join(extras)}; write it plainly: {{{base}}}")


ArgvItem = Annotated[str, AfterValidator(argv_item)]
