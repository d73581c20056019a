"""New items get a chance: a share of each personal list's slots goes to items the catalogue says are new and
that little data backs yet, so they can earn the evidence a ranking needs (otherwise popularity and co-occurrence,
both learned from positives, never show what nobody has picked).

New = the catalogue's `created_at` within `age_s` of the newest event time the model has seen, and at most
`max_events` (decayed) positives so far. The new slots take the best such items by the user's own score; the rest
of the list is as it would be. `bench/served.py --new-item-share` reports what it does to coverage and recall.
"""

from __future__ import annotations

import numpy as np

from recstream.models.catalogue.catalogue import Catalogue
from recstream.models.catalogue.policy import NewItemPolicy
from recstream.models.online.recommender import OnlineRecommender, Recommendation


def new_item_rows(online: OnlineRecommender, created_at: dict[str, float], policy: NewItemPolicy) -> np.ndarray:
    """True for the item rows that are new by `policy` (`created_at`: item id -> unix seconds)."""
    n = online.n_items
    fresh = np.zeros(n, dtype=bool)
    now = online.popularity.now
    if now is None or not created_at:
        return fresh
    counts = online.popularity.scores(n)
    for item, ts in created_at.items():
        row = online.item_row(item)
        if row is not None and row < n and ts >= now - policy.age_s and counts[row] <= policy.max_events:
            fresh[row] = True
    return fresh


def catalogue_created_at(catalogue: Catalogue) -> dict[str, float]:
    return {i: r.created_at for i, r in catalogue.items.items() if r.created_at is not None and not r.deleted}


def with_new_items(ranked: Recommendation, new: Recommendation, k: int, share: float) -> Recommendation:
    """`ranked`'s top items with the last `round(share * k)` slots given to `new`'s best items not already in the
    list (fewer when there are fewer new ones)."""
    slots = min(round(share * k), len(new.items))
    if slots <= 0:
        return Recommendation(ranked.items[:k], ranked.scores[:k], ranked.source)
    picked = [(i, s) for i, s in zip(new.items, new.scores) if i not in set(ranked.items[:k - slots])][:slots]
    kept = [(i, s) for i, s in zip(ranked.items, ranked.scores) if i not in {p for p, _ in picked}][:k - len(picked)]
    both = kept + picked
    return Recommendation([i for i, _ in both], [s for _, s in both], ranked.source)
