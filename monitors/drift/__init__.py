"""Drift reports: windows from the event store, compared with Evidently, stored with their verdict and the
action taken."""

__all__ = ["comparison", "config", "features", "reports", "run", "windows"]
