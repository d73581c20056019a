"""Items like a given one ("more like this"), from what the online model knows: the items most often positive
with it in users' recent windows (co-occurrence), then, when it has fewer companions than asked for, the most
popular items.

Companions are read from the near counts (a pair weighs similar_pair_decay^(steps apart - 1), cooccurrence.py),
not divided by the companion's own count: on bench/similar.py dividing by count^0.1 cost MovieLens 5%
(0.0627 vs 0.0658) and gained sessions 0.6% (0.686 vs 0.682). Item factors were measured and left out: they
found the next item 10-20x less often than co-occurrence.
"""

from __future__ import annotations

import numpy as np

from recstream.models.online.recommender import OnlineRecommender, Recommendation

#: companion counts are divided by the companion's count to this power (bench/similar.py: 0 .. 0.25 measured)
POPULARITY_EXPONENT = 0.0


def similar(online: OnlineRecommender, item_id: str, k: int, deny: np.ndarray | None = None,
            exponent: float = POPULARITY_EXPONENT) -> Recommendation:
    """The `k` items most like `item_id` (never itself, never a row `deny` marks), best first; scores are
    companion scores, then (for popular fill-ins) negative ranks."""
    row = online.item_row(item_id)
    if row is None or k <= 0:
        return Recommendation([], [], "similar")
    allowed = (lambda r: r != row and (deny is None or r >= len(deny) or not deny[r]))
    picked: list[tuple[int, float]] = []
    if online.cooccurrence is not None:
        rows, scores = online.cooccurrence.companions(row, exponent)
        picked = [(r, s) for r, s in zip(rows.tolist(), scores.tolist()) if allowed(r)][:k]
    if len(picked) < k:  # too few companions yet: the popular items fill the list
        taken = {r for r, _ in picked} | {row}
        fill = [r for r in _most_popular(online, deny, k + len(taken)) if r not in taken]
        picked += [(r, -float(n + 1)) for n, r in enumerate(fill[:k - len(picked)])]
    return Recommendation([online.item_ids[r] for r, _ in picked], [s for _, s in picked], "similar")


def _most_popular(online: OnlineRecommender, deny: np.ndarray | None, m: int) -> list[int]:
    """The `m` most popular rows `deny` allows, best first, ties to the lower row (as a stable sort of the whole
    catalogue per request would give, at the cost of a partition)."""
    pop = online.popularity.scores(online.n_items).copy()
    if deny is not None:
        pop[:len(deny)][deny[:len(pop)]] = -np.inf
    m = min(m, len(pop))
    if m <= 0:
        return []
    cut = np.partition(pop, len(pop) - m)[len(pop) - m]  # the m-th highest
    top = np.flatnonzero(pop >= cut)  # with every tie at the cut, so the lower rows win them
    top = top[np.lexsort((top, -pop[top]))][:m]
    return [int(r) for r in top if np.isfinite(pop[r])]
