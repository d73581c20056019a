"""The running worker: the Faust app with its ingest and background services, the launcher that starts one,
and a client for its API."""

__all__ = ["faust_app", "ingest", "services", "launcher", "own_postgres"]
