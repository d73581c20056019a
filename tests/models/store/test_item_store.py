"""The catalogue table on SQLite and PostgreSQL: the last record per item wins, deletes stay as tombstones."""

from recstream.models.catalogue.items import ItemRecord
from recstream.models.store.items import ItemStore


def test_upserts_keep_the_latest_record_per_item_and_deletes_as_tombstones(engine):
    store = ItemStore(engine)
    assert store.upsert([ItemRecord("a", categories=("x",), attributes={"title": "A"}),
                         ItemRecord("a", available=False, categories=("x", "y"), created_at=1.5e9),
                         ItemRecord("b")]) == 2
    store.upsert([ItemRecord("b", deleted=True)])
    assert store.get("a") == ItemRecord("a", False, ("x", "y"), 1.5e9, {}, False)
    assert store.get("b").deleted and store.get("nope") is None
    assert {r.item_id for r in store.all()} == {"a", "b"}


def test_a_partial_update_keeps_the_stored_fields_it_does_not_name(engine):
    store = ItemStore(engine)
    store.upsert([ItemRecord("a", categories=("x",), attributes={"title": "A"})])
    store.upsert([ItemRecord("a", available=False, present=frozenset({"available"}))])
    assert store.get("a") == ItemRecord("a", False, ("x",), None, {"title": "A"})
