"""Judging what is served: a test-then-learn replay of the served list against popularity and the EASE
reference, on any interactions file; simulated users for the closed loop."""

__all__ = ["topn", "references", "recovery", "served", "simulated_users"]
