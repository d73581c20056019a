"""New items get a chance: a share of each personal list's slots goes to items the catalogue says are new and
that little data backs yet, so they can earn the evidence a ranking needs (otherwise popularity and co-occurrence,
both learned from positives, never show what nobody has picked).

New = the catalogue's `created_at` within `age_s` of the newest event time the model has seen, and at most
`max_events` (decayed) positives so far. The new slots take the best such items by the user's own score; the rest
of the list is as it would be. `bench/served.py --new-item-share` reports what it does to coverage and recall.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from recstream.models.catalogue.catalogue import Catalogue
from recstream.models.catalogue.policy import NewItemPolicy
from recstream.models.online.recommender import OnlineRecommender, Recommendation
from recstream.models.serving.ask import Ask


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
    listed = set(ranked.items[:k - slots])
    picked = [(i, s) for i, s in zip(new.items, new.scores) if i not in listed][:slots]
    taken = {i for i, _ in picked}
    kept = [(i, s) for i, s in zip(ranked.items, ranked.scores) if i not in taken][:k - len(picked)]
    both = kept + picked
    return Recommendation([i for i, _ in both], [s for _, s in both], ranked.source)


class NewItemSlots:
    """Gives a personal list its new-item slots (what a worker serves, and what the served replay judges). Which
    rows are new is worked out once per `key` (a batch learned, a catalogue change), not per request; the key
    must change with the model's item count too (the item feed adds rows without learning events)."""

    def __init__(self) -> None:
        self._key: Any = None
        self._fresh = np.zeros(0, dtype=bool)

    def serve(self, served: Recommendation, policy: NewItemPolicy, ask: Ask, *, key: Any,
              created_at: Callable[[], dict[str, float]], online: OnlineRecommender,
              rank: Callable[[Ask], tuple[Recommendation, bool]]) -> Recommendation:
        """`served` with `policy.share` of its slots for the user's best new items (under the same `ask.deny`)."""
        if policy.share <= 0 or served.source != "personal":
            return served
        if key != self._key:
            self._key, self._fresh = key, new_item_rows(online, created_at(), policy)
        if not self._fresh.any():
            return served
        deny = ask.deny
        others = ~self._fresh if deny is None else deny | ~self._fresh[:len(deny)]
        new, _ = rank(ask.but(deny=others))
        return with_new_items(served, new, ask.k, policy.share)
