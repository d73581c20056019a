"""The catalogue in a worker's memory: every item the items topic described, and what a request may be served.

Items the catalogue never heard of are served as before (a shop that publishes no catalogue loses nothing).
Deleted items are never served; unavailable ones unless a request asks for them (`available_only=false`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence

import numpy as np

from recstream.models.catalogue.items import ItemRecord
from recstream.models.catalogue.masks import RowMask

#: categories whose mask over the items is remembered (a filter of several ORs theirs)
MAX_CATEGORY_MASKS = 256


class Catalogue:
    def __init__(self) -> None:
        self.items: dict[str, ItemRecord] = {}
        self._deleted: set[str] = set()
        self._hidden: set[str] = set()  # unavailable or deleted
        self._by_category: dict[str, set[str]] = {}
        self._deleted_rows, self._hidden_rows = RowMask(self._deleted), RowMask(self._hidden)
        self._category_rows: OrderedDict[str, RowMask] = OrderedDict()
        self.applied = 0

    def __len__(self) -> int:
        return len(self.items)

    def get(self, item_id: str) -> ItemRecord | None:
        return self.items.get(item_id)

    def apply(self, records: Iterable[ItemRecord]) -> int:
        """Upsert or delete each record, in order (the topic's order per item). Returns how many."""
        n = 0
        for update in records:
            old = self.items.get(update.item_id)
            rec = update.over(old)
            self._forget(old)
            self.items[rec.item_id] = rec
            if rec.deleted:
                self._deleted.add(rec.item_id)
            if rec.deleted or not rec.available:
                self._hidden.add(rec.item_id)
            for c in rec.categories:
                self._by_category.setdefault(c, set()).add(rec.item_id)
            n += 1
        if n:
            self.applied += n
            for mask in (self._deleted_rows, self._hidden_rows, *self._category_rows.values()):
                mask.changed()
        return n

    def _forget(self, old: ItemRecord | None) -> None:
        if old is None:
            return
        self._deleted.discard(old.item_id)
        self._hidden.discard(old.item_id)
        for c in old.categories:
            members = self._by_category.get(c)
            if members is not None:
                members.discard(old.item_id)
                if not members:
                    del self._by_category[c]

    def not_servable(self, item_ids: Sequence[str], available_only: bool = True,
                     row_of: Mapping[str, int] | None = None) -> np.ndarray:
        """Rows of `item_ids` that must not be served: deleted, and unavailable unless `available_only` is off.
        (`row_of`, each id's row, lets a mask be built from its members rather than from every item.)"""
        return (self._hidden_rows if available_only else self._deleted_rows).over(item_ids, row_of)

    def in_categories(self, item_ids: Sequence[str], categories: Sequence[str],
                      row_of: Mapping[str, int] | None = None) -> np.ndarray:
        """Rows of `item_ids` in any of `categories`. A category no item has holds nothing and costs nothing: a
        request naming many unknown ones cannot make the worker build a mask for each new combination (one mask
        per known category is kept, and a filter ORs them in NumPy)."""
        known = sorted({c for c in categories if c in self._by_category})
        if not known:
            return np.zeros(len(item_ids), dtype=bool)
        masks = [self._category_mask(c).over(item_ids, row_of) for c in known]
        return masks[0] if len(masks) == 1 else np.logical_or.reduce(masks)

    def _category_mask(self, category: str) -> RowMask:
        mask = self._category_rows.get(category)
        if mask is None:
            mask = self._category_rows[category] = RowMask(_Live(self._by_category, category))
            if len(self._category_rows) > MAX_CATEGORY_MASKS:
                self._category_rows.popitem(last=False)
        else:
            self._category_rows.move_to_end(category)
        return mask

    def has_category(self, category: str) -> bool:
        return category in self._by_category

    def state(self) -> dict:
        return {"items": len(self.items), "unavailable": len(self._hidden) - len(self._deleted),
                "deleted": len(self._deleted), "categories": len(self._by_category), "updates": self.applied}


class _Live:
    """A category's members, read live (the catalogue's sets change in place, and go when emptied)."""

    def __init__(self, by_category: dict[str, set[str]], key: str) -> None:
        self.by_category, self.key = by_category, key

    def __contains__(self, item_id: object) -> bool:
        return item_id in self.by_category.get(self.key, ())

    def __iter__(self) -> Iterator[str]:
        return iter(self.by_category.get(self.key, ()))

    def __len__(self) -> int:
        return len(self.by_category.get(self.key, ()))
