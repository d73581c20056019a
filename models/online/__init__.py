"""The online learner: River factors learned per event in compiled kernels, co-occurrence and popularity, its
prequential probes, what each user has seen, what feedback teaches it, checkpoints, and the replay that judges it."""

__all__ = [
    "config", "recommender", "targets", "negatives", "chunk_sgd", "kernels", "cooccurrence", "shift", "popularity",
    "prequential", "seen", "pool", "users", "item_deltas", "delta_codec", "feedback", "checkpoint", "legacy", "replay", "arrays",
    "ranking",
]
