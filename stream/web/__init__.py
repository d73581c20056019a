"""The HTTP API: its contract (routes, models, OpenAPI), the serving and the operator views over the worker's
state, access rules, events over HTTP, forwarding, and the operator console's pages."""

__all__ = ["serving", "operator", "reply", "params", "dispatch", "events", "published", "contract", "auth", "forwarding", "banner", "console"]
