"""The names of the simulator's faults, apart from their machinery (`reconciler.sim.faults`): the console's
command line lists them without loading a TLS or HTTP stack."""

FAULT_KINDS = (
    "errors",
    "too-many-requests",
    "delay",
    "page",
    "throttle",
    "expire-tokens",
    "server-down",
    "corrupt-certificate",
    "repair-certificate",
)
