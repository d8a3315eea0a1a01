"""Acting on a site: REST changes, site-supplied commands and operator tasks.

Every actuator only *attempts* a change. Whether it happened is decided by the next observation
(or, for what no observation can show, by an exit status or an operator's acknowledgement recorded in
the journal); the controller never records a step done on an actuator's word where SEPM can be asked.

Everything a caller needs is `attempt` (one entry point, dispatching on the step's `ActuatorKind`) and
the `Outcome` it returns; the modules behind it are one actuator each.
"""

from reconciler.act.attempt import attempt
from reconciler.act.outcome import Done, Failed, NeedsOperator, Outcome, Started

__all__ = ["Done", "Failed", "NeedsOperator", "Outcome", "Started", "attempt"]
