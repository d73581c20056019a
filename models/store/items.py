"""The catalogue table: upserts in topic order, tombstones for deletes, the whole of it read back at start."""

from __future__ import annotations

import time
from collections.abc import Sequence

from sqlalchemy import Engine, delete, insert, select

from recstream.models.catalogue.items import ItemRecord
from recstream.models.store.schema import items


class ItemStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def upsert(self, records: Sequence[ItemRecord]) -> int:
        """Apply `records` (in topic order) over what is stored: each item's fields an update leaves out keep
        their stored values. Delete-then-insert in one transaction: the same statements on SQLite and PostgreSQL."""
        if not records:
            return 0
        latest = self.get_many({r.item_id for r in records if r.present is not None})
        for r in records:
            latest[r.item_id] = r.over(latest.get(r.item_id))
        now = time.time()
        rows = [{"item_id": r.item_id, "available": r.available, "categories": list(r.categories),
                 "created_at": r.created_at, "attributes": r.attributes, "deleted": r.deleted, "updated_at": now}
                for r in latest.values()]
        ids = list(latest)
        with self.engine.begin() as conn:
            for i in range(0, len(ids), 500):
                conn.execute(delete(items).where(items.c.item_id.in_(ids[i:i + 500])))
            conn.execute(insert(items), rows)
        return len(rows)

    def get(self, item_id: str) -> ItemRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(items).where(items.c.item_id == item_id)).first()
        return None if row is None else _record(row)

    def get_many(self, ids: set[str]) -> dict[str, ItemRecord]:
        out: dict[str, ItemRecord] = {}
        wanted = sorted(ids)
        with self.engine.connect() as conn:
            for i in range(0, len(wanted), 500):
                for row in conn.execute(select(items).where(items.c.item_id.in_(wanted[i:i + 500]))):
                    out[row.item_id] = _record(row)
        return out

    def all(self) -> list[ItemRecord]:
        with self.engine.connect() as conn:
            return [_record(r) for r in conn.execute(select(items).order_by(items.c.updated_at))]


def _record(row) -> ItemRecord:  # type: ignore[no-untyped-def]
    return ItemRecord(row.item_id, bool(row.available), tuple(row.categories), row.created_at,
                      dict(row.attributes or {}), bool(row.deleted))
