"""From stored interactions to next-item examples, a temporal holdout, and full-ranking metrics.

Every model is judged the same way: for each held-out positive event that is new to its user, rank the whole
catalogue from the user's history just before it (items they already had excluded), and record Recall@10 and
NDCG@10. The newest `holdout_share` of the window (by event time) is held out; everything before it trains.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from recstream.models.data.positive import DEFAULT_EVENT_WEIGHTS, is_positive
from recstream.models.deep.model import PAD, DeepModel
from recstream.models.deep.quantize import Int8Scorer

K = 10


@dataclass
class Positives:
    """Positive interactions in event-time order, with ids coded 1..n (0 is padding)."""

    user: np.ndarray
    item: np.ndarray
    ts: np.ndarray
    item_ids: list[str]
    user_ids: list[str]

    def __len__(self) -> int:
        return len(self.item)

    @classmethod
    def from_columns(cls, users: Sequence[str], items: Sequence[str], types: Sequence[str],
                     values: Sequence[float | None], ts: Sequence[float], rating_threshold: float = 4.0,
                     event_weights: dict[str, float] | None = None) -> Positives:
        """Keep what a user liked: ratings at or above the threshold, implicit events with a positive weight."""
        weights = event_weights or DEFAULT_EVENT_WEIGHTS
        keep = [is_positive(t, v, weights, rating_threshold) for t, v in zip(types, values)]
        mask = np.fromiter(keep, dtype=bool, count=len(keep))
        u_ids, u_codes = np.unique(np.asarray(users, dtype=object)[mask], return_inverse=True)
        i_ids, i_codes = np.unique(np.asarray(items, dtype=object)[mask], return_inverse=True)
        return cls(u_codes.astype(np.int64), i_codes.astype(np.int64) + 1, np.asarray(ts, dtype=np.float64)[mask],
                   [str(i) for i in i_ids], [str(u) for u in u_ids])


@dataclass
class Examples:
    """(history → next item) pairs over item codes; histories are PAD-filled on the left."""

    hist: np.ndarray
    target: np.ndarray
    #: for each example, the codes of every item its user had before it (for excluding them when ranking)
    seen: list[np.ndarray] | None = None
    #: user code and event time of each example (to judge other models on exactly these events)
    user: np.ndarray | None = None
    ts: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.target)


@dataclass
class Split:
    train: Examples
    holdout: Examples
    split_ts: float
    n_items: int
    #: train positives per item code (popularity, the baseline every model must beat)
    train_counts: np.ndarray


def temporal_split(data: Positives, history: int, holdout_share: float = 0.1, eval_max: int = 20_000,
                   seed: int = 0) -> Split:
    """Train on the oldest (1 - holdout_share) of the positives; evaluate on new-to-the-user items after it."""
    if not 0.0 < holdout_share < 1.0:
        raise ValueError(f"holdout_share must be within (0, 1), got {holdout_share}")
    n = len(data)
    split_ts = float(np.quantile(data.ts, 1.0 - holdout_share)) if n else 0.0
    order = np.argsort(data.user, kind="stable")  # by user, then (already) by time
    flat_user, flat_item, flat_ts = data.user[order], data.item[order], data.ts[order]
    pos = np.arange(n)
    first = np.r_[True, flat_user[1:] != flat_user[:-1]] if n else np.zeros(0, dtype=bool)
    group_start = np.maximum.accumulate(np.where(first, pos, 0)) if n else pos
    has_prior = pos > group_start
    in_train = flat_ts < split_ts
    # An item the user already had is no test of discovery: only first occurrences are evaluated.
    n_codes = len(data.item_ids) + 1
    keys = flat_user * n_codes + flat_item
    is_first = np.zeros(n, dtype=bool)
    is_first[np.unique(keys, return_index=True)[1]] = True

    def hist(positions: np.ndarray) -> np.ndarray:
        idx = positions[:, None] - history + np.arange(history)[None, :]
        valid = idx >= group_start[positions][:, None]
        return np.where(valid, flat_item[idx.clip(0)], PAD)

    train_pos = pos[in_train & has_prior]
    eval_pos = pos[~in_train & has_prior & is_first]
    if len(eval_pos) > eval_max:
        eval_pos = np.sort(np.random.default_rng(seed).choice(eval_pos, eval_max, replace=False))
    seen = [flat_item[group_start[j]:j] for j in eval_pos]
    counts = np.bincount(data.item[data.ts < split_ts], minlength=n_codes).astype(np.float64)
    return Split(Examples(hist(train_pos), flat_item[train_pos]),
                 Examples(hist(eval_pos), flat_item[eval_pos], seen, flat_user[eval_pos], flat_ts[eval_pos]),
                 split_ts, n_codes - 1, counts)


def rank_metrics(scores: np.ndarray, ex: Examples, offset: int = 0) -> tuple[float, float]:
    """(hits, summed NDCG) of the targets of `ex[offset : offset + len(scores)]` under `scores` (B, n_codes).

    Seen items are excluded; ties count against the target (a constant scorer earns nothing)."""
    scores = scores.astype(np.float64, copy=True)
    scores[:, PAD] = -np.inf
    targets = ex.target[offset:offset + len(scores)]
    t_scores = scores[np.arange(len(scores)), targets].copy()
    if ex.seen is not None:
        for b in range(len(scores)):
            scores[b, ex.seen[offset + b]] = -np.inf
    rank = (scores > t_scores[:, None]).sum(1) + (scores == t_scores[:, None]).sum(1) - 1
    rank = np.where(np.isfinite(t_scores) & (t_scores > -1e8), rank, np.iinfo(np.int64).max // 2)
    hit = rank < K
    return float(hit.sum()), float((hit / np.log2(np.minimum(rank, K) + 2.0)).sum())


def evaluate(score_fn: Callable[[np.ndarray], np.ndarray], ex: Examples, batch: int = 1024) -> dict[str, float]:
    """Recall@10 and NDCG@10 of `score_fn` (histories (B, L) of codes → scores (B, n_codes)) on `ex`."""
    hits = ndcg = 0.0
    for s in range(0, len(ex), batch):
        h, g = rank_metrics(score_fn(ex.hist[s:s + batch]), ex, s)
        hits += h
        ndcg += g
    n = max(len(ex), 1)
    return {"recall_at_10": hits / n, "ndcg_at_10": ndcg / n, "events": len(ex)}


def popularity_scorer(counts: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    return lambda hist: np.broadcast_to(counts, (len(hist), len(counts)))


def deep_scorer(model: DeepModel | Int8Scorer, item_ids: Sequence[str]) -> Callable[[np.ndarray], np.ndarray]:
    """Scores over the codes of `item_ids` (code c ↔ item_ids[c - 1]); items the model never saw score -inf.
    Works for the float model and its int8 variant alike (both have rows() and score_batch())."""
    lut = np.array([PAD, *model.rows(item_ids)], dtype=np.int64)

    def score(hist: np.ndarray) -> np.ndarray:
        s = model.score_batch(lut[hist])[:, lut]
        s[:, lut == PAD] = -np.inf
        return s

    return score


def training_pairs(split: Split, model: DeepModel, item_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The split's training examples in `model`'s own item rows."""
    lut = np.array([PAD, *model.rows(item_ids)], dtype=np.int64)
    return lut[split.train.hist], lut[split.train.target]
