"""What the learners read: the interaction record, what counts as positive, the partition key, data files, the
synthetic generator."""

__all__ = ["interaction", "positive", "keys", "files", "synthetic"]
