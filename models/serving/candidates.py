"""The served scores of a large catalogue, on candidates: the index's cells nearest the user (retrieval.py), the
popular rows, the rows new since the index, and every row a sparse part scores (co-occurrence with the user's
recent items, what followed the last one), scored exactly as `blend.mixed_scores` scores them.

Mixing standardises each part over the whole catalogue, so each part's mean and spread are worked out for all
items without scoring them: the dense online part's from the index's sums (`ItemIndex.dense_moments`, with the
rows new since the index and the user's seen items set right), the sparse parts' exactly from their support.
Where too few candidates survive the request's filters, the caller scores every item instead.
"""

from __future__ import annotations

import numpy as np

from recstream.models.online.arrays import values_at
from recstream.models.online.ranking import best_rows
from recstream.models.online.recommender import OnlineRecommender, Recommendation
from recstream.models.serving.ask import Ask
from recstream.models.serving.blend import Mixer, blend, deep_scores
from recstream.models.serving.hotswap import LoadedModel
from recstream.models.serving.mix import ServedMix
from recstream.models.serving.retrieval import ItemIndex

#: candidates beyond the first k a request wants surviving its filters before the candidates are trusted
SPARE = 40
#: the deep part's best items taken as candidates
DEEP_CANDIDATES = 256
#: a request whose filters allow at most this many items scores all of them (a small category, new items)
FEW_ALLOWED = 20_000


def served_blend(online: OnlineRecommender, deep: LoadedModel | None, ask: Ask, mix: ServedMix,
                 index: ItemIndex | None, n_probe: int) -> tuple[Recommendation, bool]:
    """`blend.blend`'s list: on the candidates of `index`, or of every item where there is no index or too few
    candidates survive the request's filters."""
    if index is not None and online.n_items and ask.k > 0:
        allowed = None
        deny = ask.deny
        if deny is not None and online.n_items - np.count_nonzero(deny[:online.n_items]) <= FEW_ALLOWED:
            allowed = np.flatnonzero(~deny[:online.n_items])
        out = approximate_blend(online, deep, ask, mix, index, n_probe, allowed)
        if out is not None:
            return out
    return blend(online, deep, ask, mix)


def candidate_rows(online: OnlineRecommender, index: ItemIndex, query: np.ndarray | None, n_probe: int,
                   extra: tuple[np.ndarray, ...] = ()) -> np.ndarray:
    """Distinct rows: the index's cells nearest `query` (none for a cold user), its popular rows, rows new
    since it, and `extra`."""
    parts = [index.popular, np.arange(index.n, online.n_items), *extra]
    if query is not None:
        parts.append(index.lists.probe(query, n_probe))
    return np.unique(np.concatenate(parts))


def _moments_standardised(values: np.ndarray, total: float, total_sq: float, count: int) -> np.ndarray:
    """`values` standardised by a mean and spread known from sums over `count` entries."""
    mean = total / max(count, 1)
    sd = np.sqrt(max(total_sq / max(count, 1) - mean * mean, 0.0))
    return (values - mean) / (sd if sd > 0 else 1.0)


def _online_part(online: OnlineRecommender, index: ItemIndex, user_id: str, query: np.ndarray,
                 rows: np.ndarray, online_scores: np.ndarray) -> np.ndarray:
    """The online scores at `rows`, standardised over every item the user has not seen (as `Mixer` does)."""
    n = online.n_items
    total, total_sq = index.dense_moments(query)
    new = online.dense_rows(np.arange(index.n, n)) @ query  # rows the index's sums do not cover
    total, total_sq = total + float(new.sum()), total_sq + float(new @ new)
    sparse, values = online.sparse_scores(user_id)
    if len(sparse):
        dense = online.dense_rows(sparse) @ query
        total += float(values.sum())
        total_sq += float(((dense + values) ** 2 - dense**2).sum())
    seen = online.seen.rows(user_id)
    seen = seen[seen < n]
    if len(seen):
        held = online.scores_at(user_id, seen, exclude_seen=False)
        total, total_sq = total - float(held.sum()), total_sq - float(held @ held)
    return _moments_standardised(online_scores, total, total_sq, n - len(seen))


def approximate_blend(online: OnlineRecommender, deep: LoadedModel | None, ask: Ask, mix: ServedMix,
                      index: ItemIndex, n_probe: int,
                      allowed: np.ndarray | None = None) -> tuple[Recommendation, bool] | None:
    """`blend.blend` on candidates (`allowed`: on exactly these rows), or None when too few candidates survive
    the filters (score every item)."""
    user_id, deny = ask.user_id, ask.deny
    query = online.dense_query(user_id)
    successors = (online.cooccurrence.successor_support(user_id, online.n_items)
                  if query is not None and mix.successors > 0 and online.cooccurrence is not None else None)
    sparse = online.sparse_scores(user_id)[0] if query is not None else np.zeros(0, dtype=np.int64)
    d = deep_scores(online, deep, user_id) if mix.deep > 0 else None
    extra = [sparse] if successors is None else [sparse, successors[0]]
    if d is not None:  # the deep part scores every item anyway: its own best are candidates too
        extra.append(best_rows(d, DEEP_CANDIDATES))
    if allowed is not None:
        rows, every = allowed, True
    else:
        rows = candidate_rows(online, index, query, n_probe, tuple(extra))
        every = len(rows) == online.n_items  # (a small catalogue: the candidates are every item)
        if deny is not None:
            rows = rows[~deny[rows]]
    scores = online.scores_at(user_id, rows, ask.exclude_seen)
    if not every and np.count_nonzero(np.isfinite(scores)) < ask.k + SPARE:
        return None
    if successors is not None and not len(successors[0]):
        successors = None
    used_deep = d is not None
    if query is not None and (used_deep or successors is not None):
        scores = _mixed_at(online, index, user_id, query, rows, scores, mix, d, successors)
    source = "personal" if query is not None or used_deep else "popular"
    return _top(online, rows, scores, ask.k, source), used_deep


def _top(online: OnlineRecommender, rows: np.ndarray, scores: np.ndarray, k: int, source: str) -> Recommendation:
    """The `k` best finite `scores` (one per row of `rows`), as `OnlineRecommender.top_k` orders them."""
    top = best_rows(scores, k)  # `rows` ascend, so ties go by row, as over every row
    return Recommendation([online.item_ids[r] for r in rows[top].tolist()], scores[top].tolist(), source)


def _mixed_at(online: OnlineRecommender, index: ItemIndex, user_id: str, query: np.ndarray, rows: np.ndarray,
              scores: np.ndarray, mix: ServedMix, deep: np.ndarray | None,
              successors: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    """`Mixer(...).at(mix)` at `rows`: each part standardised over the whole catalogue, then mixed."""
    n, seen = online.n_items, ~np.isfinite(scores)
    parts = np.zeros((3, len(rows)))
    parts[0] = _online_part(online, index, user_id, query, rows, np.where(seen, 0.0, scores))
    if successors is not None:
        at = values_at(rows, *successors)
        parts[1] = _moments_standardised(at, float(successors[1].sum()), float(successors[1] @ successors[1]), n)
    if deep is not None:
        finite = deep[np.isfinite(deep)]
        d = deep[rows]
        d[~np.isfinite(d)] = float(finite.mean()) if len(finite) else 0.0
        parts[2] = _moments_standardised(d, float(finite.sum()), float(finite @ finite), len(finite))
    shown = list(online.feedback.recently_ignored(user_id))
    ignored = values_at(rows, np.array([r for r, _ in shown], dtype=np.int64),
                        np.array([c for _, c in shown], dtype=np.float64))
    mixer = Mixer.from_parts(parts, deep is not None, ignored if ignored.any() else None, seen)
    return mixer.at(mix)
