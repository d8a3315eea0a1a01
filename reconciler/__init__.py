"""sepm-reconciler: rotate SEPM server certificates from desired state without orphaning clients."""

__version__ = "0.1.0"
