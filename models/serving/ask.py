"""One request for a served list, as one value the recipe's steps pass along (blend → exploration → new-item
slots) instead of the same five arguments each."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class Ask:
    user_id: str
    k: int = 10
    #: leave out the items the user has interacted with
    exclude_seen: bool = True
    #: item rows never served (the catalogue's rules and the request's filters: filters.deny_mask), or None
    deny: np.ndarray | None = None

    def but(self, **changes: object) -> Ask:
        """The same request with `changes` (a larger pool to explore from, other rows denied)."""
        return replace(self, **changes)  # type: ignore[arg-type]
