"""The operator console every worker serves: server-rendered pages (no build step, no script, no CDN) over what
the workers and the database know, signed in with the operator token, each change confirmed and audited."""

__all__ = ["actions", "charts", "forms", "html", "monitoring", "overview", "session", "versions", "views"]
