"""Tests of the pure rotation planner (reconciler.plan) and of ``sepm-reconciler plan``."""
