"""The served scores: the online learner's scores, what followed the user's last item (successors) and the deep
model's, each standardised, mixed by a `ServedMix` (successor weight, deep share)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from recstream.models.deep.config import PAD
from recstream.models.online.ranking import standardised
from recstream.models.online.recommender import OnlineRecommender, Recommendation
from recstream.models.serving.ask import Ask
from recstream.models.serving.hotswap import LoadedModel
from recstream.models.serving.mix import ServedMix


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


def successor_scores(online: OnlineRecommender, user_id: str) -> np.ndarray | None:
    """How often each item came right after the user's newest positive item, or None (a cold user, no counts)."""
    co = online.cooccurrence
    if co is None or not online.is_personal(user_id):
        return None
    out = np.zeros(online.n_items)
    co.add_successor_scores(out, user_id, 1.0)
    return out if out.any() else None


@lru_cache(maxsize=64)
def _coefficients(mixes: tuple[ServedMix, ...], has_deep: bool) -> np.ndarray:
    """Each mix's part weights, a row each; without a deep part every share of it serves the others alone."""
    return np.array([(m if has_deep else ServedMix(m.successors, 0.0)).coefficients() for m in mixes])


@lru_cache(maxsize=64)
def _distinct_coefficients(mixes: tuple[ServedMix, ...], has_deep: bool) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of `_coefficients` and, per mix, which one it is: without a deep part the tuner's 25
    mixes are 5 (every deep share mixes the same), so judging one event costs a fifth."""
    distinct, inverse = np.unique(_coefficients(mixes, has_deep), axis=0, return_inverse=True)
    return distinct, inverse.reshape(-1)


class Mixer:
    """The parts of a user's served scores, each standardised once, mixed by any `ServedMix`; seen items (-inf
    online) stay out. (The tuner judges many mixes per event: standardising for each cost that many passes.)
    `ignored` counts each item's recent ignored showings: after mixing, each lowers the item by the whole spread
    of the mixed scores, so what a user was shown and ignored ranks below everything else, however strongly a
    part ranks it (a demotion inside the online part alone is diluted by standardising and mixing)."""

    def __init__(self, scores: np.ndarray, deep: np.ndarray | None = None,
                 successors: np.ndarray | None = None, ignored: np.ndarray | None = None) -> None:
        parts = np.zeros((3, len(scores)))
        for p, x in enumerate((scores, successors, deep)):
            if x is not None:
                parts[p] = standardised(np.asarray(x, dtype=np.float64))
        self._set(parts, deep is not None, ignored, ~np.isfinite(scores))

    def _set(self, parts: np.ndarray, has_deep: bool, ignored: np.ndarray | None, seen: np.ndarray) -> None:
        self.parts, self.has_deep, self.ignored, self.seen = parts, has_deep, ignored, seen

    @classmethod
    def from_parts(cls, parts: np.ndarray, has_deep: bool, ignored: np.ndarray | None, seen: np.ndarray) -> Mixer:
        """A mixer of parts standardised already (rows: online, successors, deep), over some items only."""
        mixer = cls.__new__(cls)
        mixer._set(parts, has_deep, ignored, seen)
        return mixer

    def _mixed(self, coefficients: np.ndarray) -> np.ndarray:
        """A row of mixed scores per row of part weights, the ignored items lowered."""
        mixed = coefficients @ self.parts
        if self.ignored is not None:
            mixed -= self.ignored * (np.ptp(mixed, axis=-1, keepdims=True) + 1.0)
        return mixed

    def at(self, mix: ServedMix) -> np.ndarray:
        mixed = self._mixed(_coefficients((mix,), self.has_deep))[0]
        mixed[self.seen] = -np.inf
        return mixed

    def ranks_of(self, mixes: tuple[ServedMix, ...], row: int) -> np.ndarray:
        """For each mix, how many items score at least as high as item `row` (ties against it; a seen item
        ranks last): one matrix product for all of them."""
        if self.seen[row]:
            return np.full(len(mixes), len(self.seen) + 1)
        distinct, which = _distinct_coefficients(mixes, self.has_deep)
        mixed = self._mixed(distinct)
        mixed[:, self.seen] = -np.inf
        return np.count_nonzero(mixed >= mixed[:, row:row + 1], axis=1)[which]


def mixed_scores(online: OnlineRecommender, deep: LoadedModel | None, user_id: str, exclude_seen: bool,
                 mix: ServedMix) -> tuple[np.ndarray, bool]:
    """The user's served scores over every item row, and whether the deep model took part."""
    scores = online.scores(user_id, exclude_seen)
    d = deep_scores(online, deep, user_id) if mix.deep > 0 else None
    s = successor_scores(online, user_id) if mix.successors > 0 else None
    if d is None and s is None:
        return scores, False
    return Mixer(scores, d, s, ignored_showings(online, user_id)).at(mix), d is not None


def ignored_showings(online: OnlineRecommender, user_id: str) -> np.ndarray | None:
    """How many times each item was lately shown to `user_id` and ignored, or None when none was."""
    ignored = [(row, count) for row, count in online.feedback.recently_ignored(user_id) if row < online.n_items]
    if not ignored:
        return None
    counts = np.zeros(online.n_items)
    rows, showings = zip(*ignored, strict=True)
    counts[list(rows)] = showings
    return counts


def blend(online: OnlineRecommender, deep: LoadedModel | None, ask: Ask, mix: ServedMix) -> tuple[Recommendation, bool]:
    """Top-k of the user's served scores (`mixed_scores`), never an item row `ask.deny` marks (see filters.py).
    Returns whether the deep model contributed: it does when the user has history it knows."""
    user_id, k, deny = ask.user_id, ask.k, ask.deny
    if online.n_items == 0 or k <= 0 or (deny is not None and deny[:online.n_items].all()):
        return Recommendation([], [], "popular"), False  # nothing may be served: nothing to score
    scores, used_deep = mixed_scores(online, deep, user_id, ask.exclude_seen, mix)
    if deny is not None:
        scores[deny[:len(scores)]] = -np.inf
    source = "personal" if used_deep or online.is_personal(user_id) else "popular"
    return online.top_k(scores, k, source), used_deep
