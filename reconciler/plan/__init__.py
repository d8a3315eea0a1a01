"""Package plan."""
