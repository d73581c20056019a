"""The HTTP API as a class of views over the worker's state, with its parameters, operator access and
forwarding."""

__all__ = ["views", "reply", "params", "auth", "forwarding", "banner"]
