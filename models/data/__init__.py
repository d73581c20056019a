"""What the learners read: the interaction record, what counts as positive, data files, the synthetic
generator."""

__all__ = ["interaction", "positive", "files", "synthetic"]
