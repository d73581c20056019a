"""Exploration: a share of the slots goes to items just below the cut, so the list does not only ever show what
already looked best (a closed loop otherwise learns about nothing else). epsilon-greedy over the next candidates:
the items ranked right after the exploited ones are those the model is least sure it should leave out."""

from __future__ import annotations

import numpy as np

from recstream.models.online.recommender import Recommendation

#: explored items are drawn from the next `POOL` x k candidates
POOL = 4


def explore(ranked: Recommendation, k: int, share: float, rng: np.random.Generator) -> Recommendation:
    """The top-`k` of `ranked` (best first, at least k long to explore) with `round(share * k)` of the last slots
    given to items drawn at random from the candidates after the kept ones."""
    slots = min(round(share * k), k)
    keep = k - slots
    pool = len(ranked.items) - keep
    if slots <= 0 or pool <= slots:
        return Recommendation(ranked.items[:k], ranked.scores[:k], ranked.source)
    picks = sorted(rng.choice(pool, slots, replace=False).tolist())
    rows = list(range(keep)) + [keep + p for p in picks]
    return Recommendation([ranked.items[r] for r in rows], [ranked.scores[r] for r in rows], ranked.source)
