"""Live progress on a terminal: the current step and a bar per gate, redrawn as statuses arrive.

On a TTY the last line is redrawn in place; elsewhere (CI logs, pipes) a line is printed only when the
step or the gate's count changes, so the output stays readable.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TextIO

from reconciler.telemetry.status import SiteStatus

_BAR = 30


def bar(done: int, total: int, width: int = _BAR) -> str:
    """``[#########.....]`` for done/total (full when total is 0: nothing to wait for)."""
    filled = width if total <= 0 else min(width, round(width * done / total))
    return "[" + "#" * filled + "." * (width - filled) + "]"


@dataclass
class ProgressView:
    out: TextIO = field(default_factory=lambda: sys.stdout)
    _last_key: tuple[str | None, str, int] | None = None
    _live: bool = False
    steps_seen: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._tty = self.out.isatty()

    def update(self, status: SiteStatus) -> None:
        passed = status.gate.passed if status.gate else -1
        key = (status.current_step, status.reason, passed)
        if key == self._last_key:
            return
        new_step = self._last_key is None or self._last_key[0] != status.current_step
        self._last_key = key
        if new_step and status.current_step and status.current_step not in self.steps_seen:
            self.steps_seen.append(status.current_step)
        line = self.render(status)
        if self._tty:
            if new_step and self._live:
                self.out.write("\n")
            self.out.write("\r\033[K" + line)
            self._live = True
        else:
            self.out.write(line + "\n")
        self.out.flush()

    def render(self, status: SiteStatus) -> str:
        position = f"{status.steps_done}/{status.steps_total}" if status.steps_total else "-"
        head = f"{status.site} {status.phase:<11} step {position:>5}"
        if status.gate is not None and status.current_step:
            gate = status.gate
            return f"{head}  {status.current_step:<26} {bar(gate.passed, gate.in_scope)} {gate.summary()}"
        if status.phase == "Stalled":
            return f"{head}  STALLED {status.reason}: {status.message}"
        # Other steps are named by their description: their ids carry SEPM's 32-hex group ids.
        return f"{head}  {status.message}"

    def finish(self) -> None:
        if self._tty and self._live:
            self.out.write("\n")
            self.out.flush()
