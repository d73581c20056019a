"""The served list: the online scores blended with the deep model's, each standardised, the deep share weighted."""

from __future__ import annotations

import numpy as np

from recstream.models.deep.config import PAD
from recstream.models.online.recommender import OnlineRecommender, Recommendation
from recstream.models.serving.hotswap import LoadedModel


def _standardise(x: np.ndarray) -> np.ndarray:
    finite = np.isfinite(x)
    if not finite.any():
        return np.zeros_like(x)
    v = x[finite]
    sd = float(v.std())
    out = (x - float(v.mean())) / (sd if sd > 0 else 1.0)
    out[~finite] = 0.0
    return out


def deep_scores(online: OnlineRecommender, deep: LoadedModel | None, user_id: str) -> np.ndarray | None:
    """The deep version's scores over the online model's item rows (NaN for items newer than the version), or
    None when it cannot judge this user (no version, a cold user, no history it knows)."""
    if deep is None or not online.is_personal(user_id):
        return None
    raw = deep.scorer.scores(deep.rows(online.recent_items(user_id, deep.history)))
    if raw is None:
        return None
    rows = deep.rows_for(online)
    d = raw[rows]
    d[rows == PAD] = np.nan  # items newer than this version: the online model alone ranks them
    return d


class Mixer:
    """Online and deep scores, each standardised once, mixed at any deep share; seen items (-inf online) stay
    out. (The tuner judges several shares per event: standardising for each cost that many passes.)"""

    def __init__(self, scores: np.ndarray, deep: np.ndarray) -> None:
        self.online, self.deep = _standardise(scores), _standardise(deep)
        self.seen = ~np.isfinite(scores)

    def at(self, deep_weight: float) -> np.ndarray:
        mixed = (1.0 - deep_weight) * self.online + deep_weight * self.deep
        mixed[self.seen] = -np.inf
        return mixed


def mix(scores: np.ndarray, deep: np.ndarray, deep_weight: float) -> np.ndarray:
    """Online and deep scores, each standardised, the deep share weighted; seen items (-inf online) stay out."""
    return Mixer(scores, deep).at(deep_weight)


def blend(online: OnlineRecommender, deep: LoadedModel | None, user_id: str, k: int, exclude_seen: bool,
          deep_weight: float, deny: np.ndarray | None = None) -> tuple[Recommendation, bool]:
    """Top-k from the online scores blended with the deep model's (standardised, weighted), never an item row
    `deny` marks (see filters.py). Returns whether the deep model contributed: it does when the user has history
    it knows."""
    if online.n_items == 0 or k <= 0:
        return Recommendation([], [], "popular"), False
    scores = online.scores(user_id, exclude_seen)
    d = deep_scores(online, deep, user_id) if deep_weight > 0 else None
    if d is not None:
        scores = mix(scores, d, deep_weight)
    if deny is not None:
        scores[deny[:len(scores)]] = -np.inf
    source = "personal" if d is not None or online.is_personal(user_id) else "popular"
    return online.top_k(scores, k, source), d is not None
