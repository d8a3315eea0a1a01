"""Telling people and Prometheus where every site stands: statuses, metrics, health.

Reads the status model (`reconciler.telemetry.status.SiteStatus`, built from a plan and an observation)
and nothing of how the controller acts, talks to SEPM or journals: an import-linter contract forbids
``act``, ``sepm`` and ``journal`` here.

- ``status``: the per-site status and how a plan becomes one;
- ``status_store``: the status files other processes read (`sepm-reconciler status`);
- ``board``: the last status of every site and the controller's counters, shared across threads;
- ``metrics``: the Prometheus collector built on the board at scrape time;
- ``server``: ``/metrics``, ``/healthz``, ``/readyz``, ``/status``.
"""
