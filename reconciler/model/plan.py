"""The planner's answer: ordered steps, each done, ready, waiting or blocked.

Contract between the planner and whoever carries a plan out:
- Steps come in execution order. The pending steps start with a **run** of ``ready`` ones (``ready``):
  the current step, and, when it is an action or an open gate, the actions that follow it up to the next
  gate. The controller carries the run out in one pass, in order, each step journalled and verified, and
  stops at the first that does not complete at once (a command SEPM does not show yet, an operator task,
  a failure). Nothing in a run depends on anything but what comes before it in the run or is done;
  everything after the run is ``waiting``.
- Gates carry ``eta``: the earliest SEPM instant each can open, from each client's check-in grid, chained
  over the gates as if every act were instant; ``Plan.eta`` is the rotation's, and
  ``Plan.evidence_lower_bound`` what is left of it (``eta - now``): the physical bound.
- ``ready`` with ``satisfied=True`` means observation already shows the step's effect: the controller
  records it done with the observation's server time instead of acting ("ensure" semantics, which is
  what makes a restart after kill -9 safe).
- A ``gate`` step that is ``ready`` means its evidence is met (or a human proceeded): the controller
  records it, there is nothing to do on SEPM.
- ``waiting`` is not failure: the gate measurement says how far along it is and when it is due.
- ``blocked`` carries a CamelCase ``reason`` (for status and metrics) and a ``message`` that tells a
  human what is wrong and what to do.
- ``originals`` is what the controller journals when it starts the rotation, before the first act.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from reconciler.model.progress import LocationOriginal, Procedure


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StepKind(StrEnum):
    COPY_MSL = "copy_msl"
    """Make the HTTP copy of a Management Server List (not possible through REST)."""
    ASSIGN_MSL = "assign_msl"
    """Point a location at a Management Server List (REST: ``sem_server``)."""
    DISABLE_SECURE_COMMUNICATIONS = "disable_secure_communications"
    ENABLE_SECURE_COMMUNICATIONS = "enable_secure_communications"
    UPDATE_CERTIFICATE = "update_certificate"
    """Replace one server's certificate (not possible through REST)."""
    DELETE_MSL_COPY = "delete_msl_copy"
    GATE = "gate"
    """Wait for heartbeat evidence; nothing is done on SEPM."""
    CHECK = "check"
    """A blocking check that failed (always ``blocked``): a human must act; nothing is done on SEPM."""


class StepState(StrEnum):
    DONE = "done"
    READY = "ready"
    WAITING = "waiting"
    BLOCKED = "blocked"


class ActuatorKind(StrEnum):
    """Who carries a step out (`reconciler.act.attempt` dispatches on it)."""

    REST = "rest"
    """SEPM's REST API: location settings."""
    COMMAND = "command"
    """A site-supplied program (desired state ``actuators``)."""
    OPERATOR = "operator"
    """A person at the SEPM console, told exactly what to do; observation or ``ack`` completes it."""
    JOURNAL = "journal"
    """Nothing to do on SEPM: a gate, recorded in the journal once its evidence is met."""


class GateMeasurement(_Frozen):
    """How far a gate's evidence has come.

    A client in scope has passed when ``last_update_time > since + (cycles - 1) * heartbeat`` for its
    group and it holds its group's current policy serial (DESIGN.md, Gates).
    """

    cycles: int
    since: int = Field(description="SEPM epoch ms of the change the gate counts from (the latest)")
    deadline: int = Field(description="SEPM epoch ms after which the site is stalled")
    earliest_open: int = Field(description="SEPM epoch ms before which minimumWait keeps the gate shut")
    eta: int = Field(
        default=0,
        description="SEPM epoch ms: the earliest instant it can open, predicted from each client's check-ins",
    )
    in_scope: int
    passed: int
    max_lagging: int
    lagging: tuple[str, ...] = Field(
        default=(), description="names of the lagging clients furthest behind (earliest last check-in first)"
    )
    dormant: tuple[str, ...] = Field(default=(), description="names of clients excluded as dormant")
    dormant_count: int = 0
    open: bool

    def summary(self) -> str:
        """``4,812/5,000 clients through 3 heartbeats`` for status lines."""
        return f"{self.passed:,}/{self.in_scope:,} clients through {self.cycles} heartbeats"


class Step(_Frozen):
    """One transition of a rotation."""

    id: str = Field(description="stable across re-plans, e.g. 'assign_msl:<group>/<location>'")
    kind: StepKind
    state: StepState
    actuator: ActuatorKind
    description: str
    server: str | None = None
    group_id: str | None = None
    group_path: str | None = None
    location_id: str | None = None
    location_name: str | None = None
    management_server_list: str | None = Field(default=None, description="the MSL to assign / copy / delete")
    source_management_server_list: str | None = Field(default=None, description="copy_msl: the original")
    secure_communications: bool | None = None
    http_ports: dict[str, int] | None = Field(default=None, description="copy_msl: server -> HTTP port")
    certificate: str | None = Field(default=None, description="update_certificate: desired fingerprint")
    keystore: str | None = None
    satisfied: bool = False
    gate: GateMeasurement | None = None
    eta: int | None = Field(default=None, description="a gate: the earliest SEPM epoch ms it can open")
    reason: str | None = None
    message: str | None = None

    @property
    def target(self) -> str:
        """What the step acts on, for the journal: a server, a group's location, or an MSL."""
        if self.server:
            return f"server {self.server}"
        if self.group_id:
            return f"{self.group_path or self.group_id} / {self.location_name or self.location_id}"
        return self.management_server_list or ""


class NoFailover(_Frozen):
    """The clients a plan counts as unable to fail over (the 14.2 rule), and where they are."""

    patterns: tuple[str, ...] = Field(description="the desired state's noFailoverVersions")
    clients: int
    groups: tuple[str, ...] = Field(description="settings-source groups holding such clients, by path")


class Plan(_Frozen):
    """The ordered steps for one site, and what to journal when the rotation starts."""

    site: str
    procedure: Procedure | None = None
    steps: tuple[Step, ...] = ()
    originals: dict[str, LocationOriginal] = Field(default_factory=dict)
    original_certificates: dict[str, str] = Field(default_factory=dict)
    dormant: tuple[str, ...] = ()
    no_failover: NoFailover | None = Field(
        default=None, description="clients that get the single-server treatment because of their version"
    )
    eta: int | None = Field(
        default=None,
        description="SEPM epoch ms: the rotation's earliest possible completion (None: nothing left)",
    )
    evidence_lower_bound: int = Field(
        default=0, description="ms: the least SEPM time the remaining gates can take (eta - now)"
    )

    @property
    def pending(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.state is not StepState.DONE)

    @property
    def current(self) -> Step | None:
        return next(iter(self.pending), None)

    @property
    def ready(self) -> tuple[Step, ...]:
        """The run of ready steps the controller carries out in one pass, in order (see the contract)."""
        run: list[Step] = []
        for step in self.pending:
            if step.state is not StepState.READY:
                break
            run.append(step)
        return tuple(run)

    @property
    def converged(self) -> bool:
        """Nothing left to do."""
        return not self.pending

    @property
    def blocked(self) -> Step | None:
        return next((s for s in self.steps if s.state is StepState.BLOCKED), None)
