"""A set of item ids as a boolean mask over a model's item rows, kept current as the model numbers new items.

Models number items in the order they first see them (`item_ids`, append-only), and a served list is chosen from
a score per row; a mask marks the rows of the set's members. Rebuilding one costs a pass over every item, so it is
done only when the set changes or the model is swapped; new rows are checked one by one as they appear.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import numpy as np


class RowMask:
    """The rows of `item_ids` whose item is in `members` (the set may change; call `changed()` when it does)."""

    def __init__(self, members: Collection[str]) -> None:
        self.members = members
        self._mask = np.zeros(0, dtype=bool)
        self._ids: Sequence[str] | None = None
        self._valid = False

    def changed(self) -> None:
        self._valid = False

    def over(self, item_ids: Sequence[str], row_of: Mapping[str, int] | None = None) -> np.ndarray:
        """The mask over `item_ids` (read-only: shared by every request until the next change). With `row_of`
        (each id's row in `item_ids`) a rebuild visits the members rather than every item."""
        n = len(item_ids)
        if not self._valid or item_ids is not self._ids or n < len(self._mask):
            self._mask = self._build(item_ids, 0, n) if row_of is None else self._from_members(row_of, n)
            self._ids, self._valid = item_ids, True
        elif n > len(self._mask):
            self._mask = np.concatenate([self._mask, self._build(item_ids, len(self._mask), n)])
        self._mask.flags.writeable = False
        return self._mask[:n]

    def _from_members(self, row_of: Mapping[str, int], n: int) -> np.ndarray:
        mask = np.zeros(n, dtype=bool)
        rows = [r for r in (row_of.get(m) for m in self.members) if r is not None and r < n]
        mask[rows] = True
        return mask

    def _build(self, item_ids: Sequence[str], start: int, end: int) -> np.ndarray:
        members = self.members
        return np.fromiter((item_ids[r] in members for r in range(start, end)), dtype=bool, count=end - start)
