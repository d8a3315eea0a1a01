"""The pure rotation planner: ``plan(desired, observed, progress, now) -> Plan``.

No I/O, no clock, no logging (an import-linter contract forbids them here). Modules, read in this order:
``site`` (facts derived from an observation), ``scope`` (procedure, treated targets, servers to update),
``checks`` and ``drift`` (blocking checks), ``gates`` (evidence arithmetic), ``steps`` (step construction) and
``planner`` (assembly and sequencing).
"""

from reconciler.plan.planner import plan

__all__ = ["plan"]
