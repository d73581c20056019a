"""The event contract (schema version 1): what producers put on the behaviour and feedback topics.

Messages are UTF-8 JSON objects keyed by `user_id`. Anything that does not validate is dead-lettered with the
original bytes and a reason; see README.md "Event contract" for examples.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

from recstream.models.data.interaction import Feedback, Interaction
from recstream.stream.ingest.rejections import Rejection

SCHEMA_VERSION = 1
#: Events older than this are certainly a unit mistake (e.g. days sent as seconds).
MIN_TS = datetime(1990, 1, 1, tzinfo=UTC).timestamp()

Id = Annotated[str, StringConstraints(min_length=1, max_length=256, strip_whitespace=False)]


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    event_id: Id
    user_id: Id
    item_id: Id
    #: Event time: ISO-8601 (naive = UTC) or unix seconds (pydantic reads numbers above 2e10 as milliseconds).
    ts: datetime

    @field_validator("ts")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        return v if v.tzinfo else v.replace(tzinfo=UTC)


class BehaviourEvent(_Event):
    """A user did something with an item."""

    type: Literal["view", "click", "add_to_cart", "purchase", "rating"]
    #: The rating for `rating` events (required); an optional weight multiplier for the others.
    value: float | None = None
    context: dict[str, str | int | float | bool | None] | None = Field(default=None, max_length=32)

    @field_validator("value")
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        if v is not None and not math.isfinite(v):
            raise ValueError("value must be a finite number")
        return v

    def to_interaction(self, ts: float | None = None) -> Interaction:
        """As the online learner and the store take it; `ts` is `self.ts` in unix seconds, if already known."""
        return Interaction(self.event_id, self.user_id, self.item_id, self.type, self.value,
                           self.ts.timestamp() if ts is None else ts, self.context)


class FeedbackEvent(_Event):
    """A user reacted to a recommendation we served (`rec_id` comes from GET /recommendations)."""

    rec_id: Id
    action: Literal["impression", "click", "skip", "purchase"]
    model_version: Id

    def to_feedback(self) -> Feedback:
        return Feedback(self.event_id, self.rec_id, self.user_id, self.item_id, self.action, self.model_version,
                        self.ts.timestamp())


def describe_validation(exc: ValidationError) -> tuple[str, str]:
    errors = exc.errors(include_url=False, include_input=False)
    if errors and errors[0]["type"] in ("json_invalid", "json_type"):
        return "not_json", f"not a JSON object: {errors[0]['msg']}"
    parts = []
    for err in errors[:5]:
        loc = ".".join(str(p) for p in err["loc"]) or "message"
        parts.append(f"{loc}: {err['msg']}")
    more = f" (+{len(errors) - 5} more)" if len(errors) > 5 else ""
    return "schema", "; ".join(parts) + more


class EventParser:
    """Turns raw Kafka messages into validated records or `Rejection`s. Never raises on bad input."""

    def __init__(self, max_bytes: int = 16 * 1024, max_future_skew_s: float = 24 * 3600.0) -> None:
        self.max_bytes = max_bytes
        self.max_future_skew_s = max_future_skew_s

    def _parse(self, model: type[_Event], key: bytes | None, value: bytes | None) -> tuple[Any, float] | Rejection:
        """(the validated event, its ts in unix seconds), or why not."""
        if value is None:
            return Rejection("not_json", "empty message (a tombstone?): expected a JSON object")
        if len(value) > self.max_bytes:
            return Rejection("too_large", f"message is {len(value)} bytes, the limit is {self.max_bytes} "
                                          "(RECSTREAM_MAX_EVENT_BYTES)")
        try:
            event = model.__pydantic_validator__.validate_json(value)  # model_validate_json minus a wrapper
        except ValidationError as exc:
            return Rejection(*describe_validation(exc))
        ts = event.ts.timestamp()
        if ts < MIN_TS:
            return Rejection("bad_timestamp", f"ts {event.ts.isoformat()} is before 1990: send unix seconds or ISO-8601")
        if ts > time.time() + self.max_future_skew_s:
            return Rejection("bad_timestamp", f"ts {event.ts.isoformat()} is in the future "
                                              f"(more than {self.max_future_skew_s:.0f} s ahead of this worker's clock)")
        user_key = event.user_id.encode()
        if key != user_key:
            shown = "no key" if key is None else f"key {key[:64]!r}"
            return Rejection("key_mismatch", f"message has {shown} but user_id {event.user_id!r}: produce with "
                                             "key=user_id so every event of a user reaches the same worker")
        return event, ts

    def _behaviour(self, key: bytes | None, value: bytes | None) -> tuple[BehaviourEvent, float] | Rejection:
        got = self._parse(BehaviourEvent, key, value)
        if not isinstance(got, Rejection) and got[0].type == "rating" and got[0].value is None:
            return Rejection("schema", "value: a rating event needs a numeric value")
        return got

    def behaviour(self, key: bytes | None, value: bytes | None) -> BehaviourEvent | Rejection:
        got = self._behaviour(key, value)
        return got if isinstance(got, Rejection) else got[0]

    def interaction(self, key: bytes | None, value: bytes | None) -> Interaction | Rejection:
        """`behaviour(...).to_interaction()` on the hot path (the event time is converted once, not twice)."""
        got = self._behaviour(key, value)
        return got if isinstance(got, Rejection) else got[0].to_interaction(got[1])

    def feedback(self, key: bytes | None, value: bytes | None) -> FeedbackEvent | Rejection:
        got = self._parse(FeedbackEvent, key, value)
        return got if isinstance(got, Rejection) else got[0]
