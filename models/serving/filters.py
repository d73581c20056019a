"""What a request may be served: the catalogue's rules (never a deleted item, no unavailable one unless asked) and
the caller's filters (items it already shows, categories), as one mask over the model's item rows.

The mask is applied to the blended scores before the top k are chosen, so a list still has k items whenever k
eligible ones exist, and every path that ranks (personal, popular for a cold user, deep, canary) obeys it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # annotations only: the HTTP contract (and the client) import Filters without the learner
    from recstream.models.catalogue.catalogue import Catalogue
    from recstream.models.online.recommender import OnlineRecommender

#: the most item ids a request may exclude, and categories it may name
MAX_EXCLUDE, MAX_CATEGORIES = 500, 64


@dataclass(frozen=True)
class Filters:
    exclude: tuple[str, ...] = ()
    #: any of these (empty: no category filter)
    categories: tuple[str, ...] = ()
    #: false: unavailable items may be served too (deleted ones never are)
    available_only: bool = True

    def rules(self) -> list[str]:
        """What was applied, for an explanation."""
        out = ["available only" if self.available_only else "unavailable items allowed", "deleted never"]
        if self.categories:
            out.append(f"categories: {', '.join(self.categories)}")
        if self.exclude:
            out.append(f"{len(self.exclude)} item(s) excluded by the caller")
        return out


def deny_mask(online: OnlineRecommender, catalogue: Catalogue, filters: Filters) -> np.ndarray | None:
    """True for each item row the request must not be served; None when nothing is denied (the common case
    without a catalogue or filters: no array to apply)."""
    ids, row_of = online.item_ids, online.item_rows
    deny = catalogue.not_servable(ids, filters.available_only, row_of)  # shared, read-only
    if filters.categories:
        deny = deny | ~catalogue.in_categories(ids, filters.categories, row_of)
    if filters.exclude:
        rows = [r for r in (online.item_row(i) for i in filters.exclude) if r is not None]
        if rows:
            deny = deny.copy() if not deny.flags.writeable else deny
            deny[rows] = True
    return deny if deny.any() else None
