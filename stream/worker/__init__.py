"""What one worker holds and how it keeps it: the learner and deep versions, checkpoints, routing between
workers, health, the answers it gives."""

__all__ = ["state", "checkpoints", "directory", "routing", "health", "answers", "database", "samples"]
