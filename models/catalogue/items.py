"""One catalogue entry, as the items topic carries it and the store keeps it."""

from __future__ import annotations

from typing import Any, NamedTuple


class ItemRecord(NamedTuple):
    item_id: str
    #: False: out of stock, hidden, not for sale: never served (unless a request asks for unavailable ones too)
    available: bool = True
    categories: tuple[str, ...] = ()
    #: when the item entered the catalogue (unix seconds), if the shop says
    created_at: float | None = None
    attributes: dict[str, Any] = {}  # noqa: RUF012 - never mutated: a record is replaced whole
    #: a delete: kept as a tombstone so a restart and a late replay both know the item is gone
    deleted: bool = False
    #: the fields an update names (None: all of them): the others keep their earlier values
    present: frozenset[str] | None = None

    def over(self, old: ItemRecord | None) -> ItemRecord:
        """This update applied to the item's earlier record (`old`, if any): a whole record as stored."""
        if self.present is None or old is None or old.deleted:
            return self._replace(present=None)
        return old._replace(**{f: getattr(self, f) for f in self.present}, present=None)

    def as_dict(self) -> dict[str, Any]:
        return {"item_id": self.item_id, "available": self.available, "categories": list(self.categories),
                "created_at": self.created_at, "attributes": self.attributes, "deleted": self.deleted}
