"""What each user has interacted with: excluded from their recommendations, and their recent history for
sequence models. Bounded per user (the oldest item is forgotten past the cap)."""

from __future__ import annotations

from itertools import islice

import numpy as np


class SeenItems:
    """user -> item rows, insertion-ordered (most recent last). The learner's hot loop updates `by_user`
    directly (a method call per event costs more than the update); everything else reads through here."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.by_user: dict[str, dict[int, None]] = {}

    def contains(self, user_id: str, row: int) -> bool:
        seen = self.by_user.get(user_id)
        return seen is not None and row in seen

    def rows(self, user_id: str) -> np.ndarray:
        """The user's seen item rows, oldest first."""
        seen = self.by_user.get(user_id)
        return np.fromiter(seen, dtype=np.int64, count=len(seen)) if seen else np.zeros(0, dtype=np.int64)

    def mask(self, scores: np.ndarray, user_id: str) -> None:
        """The user's seen items at -inf in `scores` (one user's row)."""
        scores[self.rows(user_id)] = -np.inf

    def recent(self, user_id: str, n: int) -> list[int]:
        """The user's `n` most recent distinct item rows, oldest first."""
        seen = self.by_user.get(user_id)
        if not seen:
            return []
        return list(reversed(list(islice(reversed(seen), n))))
