"""How the controller logs: JSON lines for machines, plain lines for people.

Contract:
- ``--log-format json`` (and ``auto`` when stderr is not a terminal: a container, systemd, a pipe) writes
  one JSON object per line: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, and, when the
  event carries them, ``site``, ``phase``, ``reason``, ``step``, ``gate``, ``rotation``, ``revision``;
  an exception becomes ``error`` (its traceback as text). ``human`` (``auto`` on a terminal) writes
  ``time level logger: message`` with the same fields appended as ``key=value``.
- httpx's and httpcore's per-request lines are off at INFO: a 100,000-client walk is hundreds of them per
  observation, and the controller logs what matters about SEPM itself.
- Nothing is added that a caller did not put in the record: messages and fields hold no secret because
  the code that makes them never puts one there (the SEPM client redacts, statuses hold none).

The standard library's logging with a small formatter, not structlog: httpx, asyncio and watchfiles
already log through the standard library, so one handler sees everything, and a JSON line is twenty lines
of code rather than a dependency.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Literal, TextIO

FIELDS = ("site", "phase", "reason", "step", "gate", "rotation", "revision")
LogFormat = Literal["auto", "json", "human"]
QUIET = ("httpx", "httpcore", "watchfiles")


def _fields(record: logging.LogRecord) -> dict[str, object]:
    return {name: value for name in FIELDS if (value := getattr(record, name, None)) is not None}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class HumanFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extra = " ".join(f"{k}={v}" for k, v in _fields(record).items() if f"{v}" not in record.getMessage())
        return f"{text} [{extra}]" if extra else text


class _Stderr(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is when a record is emitted (as logging's last resort does)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _: object) -> None:
        pass


def configure(*, level: str = "INFO", log_format: LogFormat = "auto") -> None:
    """Send every log record to stderr in the chosen format (replacing earlier handlers)."""
    chosen = log_format if log_format != "auto" else ("human" if sys.stderr.isatty() else "json")
    handler = _Stderr()
    handler.setFormatter(JsonFormatter() if chosen == "json" else HumanFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
