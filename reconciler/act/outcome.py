"""What one attempt at a step came to: the one typed outcome every actuator returns.

``Outcome`` is one of:

- `Done`: the change is made and visible (REST: read back), or it is a change SEPM cannot show (an MSL
  copy or deletion by a command) and the command's success is all the evidence there is.
  ``applied_at`` is SEPM's epoch ms the gate counts from.
- `Started`: the act was made but SEPM does not show it yet (a certificate import by a command): the
  journal's intent stays open and a later observation decides.
- `Failed`: the attempt failed. ``permanent`` means trying again cannot help (a human must act: the
  site stalls); otherwise the controller backs off, honouring ``retry_after`` when SEPM gave one.
  ``reason`` is a CamelCase word for status and metrics; ``message`` is one line for people and
  ``detail`` more of it for the journal (both already redacted).
- `NeedsOperator`: a person must act at the console; ``instructions`` say exactly how.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Done:
    applied_at: int
    message: str = ""


@dataclass(frozen=True)
class Started:
    message: str = ""


@dataclass(frozen=True)
class Failed:
    reason: str
    message: str
    permanent: bool = False
    retry_after: float | None = None
    detail: str = ""

    @property
    def journal_text(self) -> str:
        return f"{self.message}\n{self.detail}" if self.detail else self.message


@dataclass(frozen=True)
class NeedsOperator:
    instructions: tuple[str, ...]


Outcome = Done | Started | Failed | NeedsOperator
