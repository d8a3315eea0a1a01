"""The long-running controller: one worker per site, triggered by desired-state changes, polls and gates."""
