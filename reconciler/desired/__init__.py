"""Desired state: the schema of ``desired-state/*.yaml`` and the loader that reads and checks a folder."""
