"""The items topic contract (schema version 1): what a shop publishes about its catalogue.

Messages are keyed by `item_id`. An upsert is a JSON object (below); a delete is `{"item_id": …, "deleted": true}`
or a tombstone (the key with no value, as on a compacted topic). Anything else is dead-lettered with a reason.

    {"item_id": "sku-1", "available": true, "categories": ["shoes", "sale"],
     "created_at": "2026-11-30T09:00:00Z", "attributes": {"title": "Trail runner", "price": 89.0}}
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    ValidationError,
    field_validator,
)

from recstream.models.catalogue.items import ItemRecord
from recstream.stream.ingest.events import Id, describe_validation
from recstream.stream.ingest.rejections import Rejection

Category = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Scalar = str | int | float | bool | None


class ItemEvent(BaseModel):
    """An item of the catalogue: its availability, categories and attributes (or its deletion)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    item_id: Id
    #: false: never recommended (out of stock, hidden) until an update says true again
    available: StrictBool = True
    categories: list[Category] = Field(default_factory=list, max_length=64)
    #: when the item entered the catalogue: ISO-8601 (naive = UTC) or unix seconds
    created_at: datetime | None = None
    attributes: dict[str, Scalar] = Field(default_factory=dict, max_length=64)
    #: true: the item is gone for good (same as a tombstone)
    deleted: StrictBool = False

    @field_validator("created_at")
    @classmethod
    def _utc(cls, v: datetime | None) -> datetime | None:
        return v if v is None or v.tzinfo else v.replace(tzinfo=UTC)

    def to_record(self) -> ItemRecord:
        """An update of the fields the message names (a delete replaces the whole item)."""
        named = self.model_fields_set - {"item_id", "schema_version"}
        return ItemRecord(self.item_id, self.available and not self.deleted, tuple(dict.fromkeys(self.categories)),
                          self.created_at.timestamp() if self.created_at else None, dict(self.attributes),
                          self.deleted, None if self.deleted else frozenset(named))


def parse_item(key: bytes | None, value: bytes | None, max_bytes: int = 16 * 1024) -> ItemRecord | Rejection:
    """An items-topic message as a catalogue record, or why not. Never raises on bad input."""
    if value is None:  # a tombstone: the key names the deleted item
        if not key:
            return Rejection("key_mismatch", "a tombstone (no value) needs the item_id as its key")
        try:
            return ItemRecord(key.decode("utf-8"), available=False, deleted=True)
        except UnicodeDecodeError:
            return Rejection("key_mismatch", "a tombstone's key must be the item_id in UTF-8")
    if len(value) > max_bytes:
        return Rejection("too_large", f"message is {len(value)} bytes, the limit is {max_bytes} "
                                      "(RECSTREAM_MAX_EVENT_BYTES)")
    try:
        item = ItemEvent.__pydantic_validator__.validate_json(value)
    except ValidationError as exc:
        return Rejection(*describe_validation(exc))
    if key != item.item_id.encode():
        shown = "no key" if key is None else f"key {key[:64]!r}"
        return Rejection("key_mismatch", f"message has {shown} but item_id {item.item_id!r}: produce with "
                                         "key=item_id so every update of an item stays in order")
    return item.to_record()
