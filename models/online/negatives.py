"""Sampled negatives: implicit data has no explicit "no", so each positive event is followed by a few items the
user did not pick, learned as 0. Drawn uniformly over known items, or in proportion to decayed popularity (which
leaves popularity to the blend term and makes the factors learn what sets a user apart from the crowd)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


class NegativeSampler:
    #: Learned events between refreshes of the popularity distribution: rebuilding it over the whole catalogue
    #: for every small chunk cost more than the chunk's learning.
    REFRESH_EVERY = 1_000

    def __init__(self, rng: np.random.Generator, count: int, kind: str) -> None:
        self.rng, self.count, self.kind = rng, count, kind  # rng: the learner's, shared with its probe draws
        self.cdf: np.ndarray | None = None
        self.refreshed_at = -self.REFRESH_EVERY

    def refresh(self, learned: int, popularity: Callable[[], np.ndarray]) -> None:
        """Re-read the catalogue's `popularity()` when REFRESH_EVERY events were learned since the last time."""
        if learned - self.refreshed_at < self.REFRESH_EVERY:
            return
        scores = popularity()
        cdf = np.cumsum(scores + 1e-9)
        self.cdf = cdf / cdf[-1] if len(scores) else None
        self.refreshed_at = learned

    def sample(self, n_events: int, n_items: int) -> np.ndarray:
        """`count` item rows for each of `n_events` events."""
        shape = (n_events, self.count)
        if self.kind == "popularity" and self.cdf is not None:
            # Items newer than the last refresh are not drawn until the next one.
            return np.searchsorted(self.cdf, self.rng.random(shape), side="right").clip(max=len(self.cdf) - 1)
        return self.rng.integers(0, n_items, size=shape)
