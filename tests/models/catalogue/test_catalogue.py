"""The catalogue in memory: upserts, deletes, categories, and masks that follow a model's growing item rows."""

import numpy as np

from recstream.models.catalogue.catalogue import Catalogue
from recstream.models.catalogue.items import ItemRecord


def rows(mask, ids):
    return [ids[r] for r in np.flatnonzero(mask)]


def test_unavailable_and_deleted_items_are_masked_and_a_later_update_brings_one_back():
    ids = ["a", "b", "c", "d"]
    cat = Catalogue()
    cat.apply([ItemRecord("a", categories=("books",)), ItemRecord("b", available=False, categories=("books",)),
               ItemRecord("c", deleted=True)])
    assert rows(cat.not_servable(ids), ids) == ["b", "c"]
    assert rows(cat.not_servable(ids, available_only=False), ids) == ["c"]  # deleted stays out regardless
    cat.apply([ItemRecord("b", available=True, categories=("toys",))])  # back in stock, moved to toys
    assert rows(cat.not_servable(ids), ids) == ["c"]
    assert rows(cat.in_categories(ids, ["books"]), ids) == ["a"]
    assert rows(cat.in_categories(ids, ["toys", "books"]), ids) == ["a", "b"]
    assert cat.state() == {"items": 3, "unavailable": 0, "deleted": 1, "categories": 2, "updates": 4}


def test_masks_follow_new_item_rows_and_a_swapped_numbering():
    ids = ["a", "b"]
    cat = Catalogue()
    cat.apply([ItemRecord("x", available=False), ItemRecord("y", categories=("new",))])
    assert not cat.not_servable(ids).any()
    ids += ["x", "y"]  # the model learned two more items (the same list object grows)
    assert rows(cat.not_servable(ids), ids) == ["x"]
    assert rows(cat.in_categories(ids, ["new"]), ids) == ["y"]
    other = ["y", "x"]  # a restored checkpoint numbers items differently
    assert rows(cat.not_servable(other), other) == ["x"]
    mask = cat.not_servable(other)
    assert not mask.flags.writeable  # shared between requests: callers combine, never write


def test_an_update_changes_only_the_fields_it_names_and_a_delete_resets_the_item():
    cat = Catalogue()
    cat.apply([ItemRecord("a", categories=("books",), attributes={"title": "A"})])
    cat.apply([ItemRecord("a", available=False, present=frozenset({"available"}))])
    assert cat.get("a") == ItemRecord("a", False, ("books",), None, {"title": "A"})
    cat.apply([ItemRecord("a", deleted=True), ItemRecord("a", available=True, present=frozenset({"available"}))])
    assert cat.get("a") == ItemRecord("a", True)  # back after a delete: nothing of the old item survives
