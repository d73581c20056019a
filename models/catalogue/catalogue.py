"""The catalogue in a worker's memory: every item the items topic described, and what a request may be served.

Items the catalogue never heard of are served as before (a shop that publishes no catalogue loses nothing).
Deleted items are never served; unavailable ones unless a request asks for them (`available_only=false`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence

import numpy as np

from recstream.models.catalogue.items import ItemRecord
from recstream.models.catalogue.masks import RowMask

#: category filters remembered (each a mask over the items): requests mostly repeat a few
MAX_CATEGORY_MASKS = 64


class Catalogue:
    def __init__(self) -> None:
        self.items: dict[str, ItemRecord] = {}
        self._deleted: set[str] = set()
        self._hidden: set[str] = set()  # unavailable or deleted
        self._by_category: dict[str, set[str]] = {}
        self._deleted_rows, self._hidden_rows = RowMask(self._deleted), RowMask(self._hidden)
        self._category_rows: OrderedDict[tuple[str, ...], RowMask] = OrderedDict()
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

    def not_servable(self, item_ids: Sequence[str], available_only: bool = True) -> np.ndarray:
        """Rows of `item_ids` that must not be served: deleted, and unavailable unless `available_only` is off."""
        return (self._hidden_rows if available_only else self._deleted_rows).over(item_ids)

    def in_categories(self, item_ids: Sequence[str], categories: Sequence[str]) -> np.ndarray:
        """Rows of `item_ids` in any of `categories`."""
        key = tuple(sorted(set(categories)))
        mask = self._category_rows.get(key)
        if mask is None:
            mask = RowMask(_Union(self._by_category, key))
            self._category_rows[key] = mask
            if len(self._category_rows) > MAX_CATEGORY_MASKS:
                self._category_rows.popitem(last=False)
        else:
            self._category_rows.move_to_end(key)
        return mask.over(item_ids)

    def has_category(self, category: str) -> bool:
        return category in self._by_category

    def state(self) -> dict:
        return {"items": len(self.items), "unavailable": len(self._hidden) - len(self._deleted),
                "deleted": len(self._deleted), "categories": len(self._by_category), "updates": self.applied}


class _Union:
    """Membership in any of several categories, read live (the catalogue's sets change in place)."""

    def __init__(self, by_category: dict[str, set[str]], keys: tuple[str, ...]) -> None:
        self.by_category, self.keys = by_category, keys

    def __contains__(self, item_id: object) -> bool:
        return any(item_id in self.by_category.get(c, ()) for c in self.keys)
