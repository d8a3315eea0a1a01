"""The shared vocabulary: what was observed, what has been done, and what the planner says to do."""
