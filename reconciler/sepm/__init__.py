"""Package sepm."""
