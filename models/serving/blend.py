"""The served list: the online scores blended with the deep model's, each standardised, the deep share weighted."""

from __future__ import annotations

import numpy as np

from recstream.models.deep.model import PAD
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


def blend(online: OnlineRecommender, deep: LoadedModel | None, user_id: str, k: int, exclude_seen: bool,
          deep_weight: float) -> tuple[Recommendation, bool]:
    """Top-k from the online scores blended with the deep model's (standardised, weighted). Returns whether the
    deep model contributed: it does when the user has history it knows."""
    if online.n_items == 0 or k <= 0:
        return Recommendation([], [], "popular"), False
    scores = online.scores(user_id, exclude_seen)
    personal = online.is_personal(user_id)
    if deep is None or deep_weight <= 0 or not personal:
        return online.top_k(scores, k, "personal" if personal else "popular"), False
    history = deep.rows(online.recent_items(user_id, deep.history))
    deep_scores = deep.scorer.scores(history)
    if deep_scores is None:
        return online.top_k(scores, k, "personal"), False
    rows = deep.rows_for(online)
    d = deep_scores[rows]
    d[rows == PAD] = np.nan  # items newer than this version: the online model alone ranks them
    mixed = (1.0 - deep_weight) * _standardise(scores) + deep_weight * _standardise(d)
    mixed[~np.isfinite(scores)] = -np.inf  # seen items stay out
    return online.top_k(mixed, k, "personal"), True
