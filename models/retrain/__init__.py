"""One retraining: configured, run under the training lock, warm-started, searched, gated, registered."""

__all__ = ["config", "run", "tuning"]
