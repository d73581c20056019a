"""The HTTP API as a class of views over the worker's state, with its parameters, operator access, forwarding,
and the operator console's pages."""

__all__ = ["views", "reply", "params", "dispatch", "events", "published", "contract", "auth", "forwarding", "banner", "console"]
