"""Package act."""
