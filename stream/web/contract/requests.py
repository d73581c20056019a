"""What a caller may send: query parameters and JSON bodies, as pydantic models. The views parse with them
(`parse.py`), the OpenAPI document is generated from them (`openapi.py`).

    GET  /recommendations/u1?k=10&exclude=sku-1,sku-2&category=shoes&category=sale&available_only=true
    POST /recommendations/u1  {"k": 10, "exclude": ["sku-1", "sku-2"], "category": ["shoes", "sale"]}

A query is read leniently (`k=10`, `explain=yes`); a JSON body strictly (`"k": "10"` is refused), and a body's
unknown fields are refused rather than ignored.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from recstream.models.serving.filters import MAX_CATEGORIES, MAX_EXCLUDE, Filters

MAX_K = 200
#: most events one POST /events may carry
MAX_EVENTS = 500
Text = Annotated[str, StringConstraints(max_length=1000)]
Actor = Annotated[str, StringConstraints(max_length=64)]


def _whole(v: Any) -> Any:
    """JSON Schema's integer includes 10.0: take it as 10 (a fraction is still refused)."""
    return int(v) if isinstance(v, float) and v.is_integer() else v


def _ids(values: list[str], most: int, split: bool) -> list[str]:
    ids = [v.strip() for raw in values for v in (raw.split(",") if split else [raw])]
    ids = list(dict.fromkeys(i for i in ids if i))
    if len(ids) > most:
        raise ValueError(f"takes at most {most} values, got {len(ids)}")
    too_long = next((i for i in ids if len(i) > 256), None)
    if too_long is not None:
        raise ValueError(f"values are at most 256 characters, got one of {len(too_long)}")
    return ids


class _Listing(BaseModel):
    """How many items, and which may be listed (the catalogue's rules are applied as well)."""

    model_config = ConfigDict(frozen=True)
    #: a query's `exclude=a,b` is two ids; a JSON body's strings are ids as they are (they may hold commas)
    split_ids: ClassVar[bool] = True

    k: int = Field(10, ge=1, le=MAX_K, description=f"an integer between 1 and {MAX_K}")
    exclude: list[str] = Field([], description=f"a list of strings: item ids never to list, at most {MAX_EXCLUDE} "
                               "(in a query, repeated or comma-separated)")
    category: list[str] = Field([], description=f"a list of strings: categories, at most {MAX_CATEGORIES}; an item "
                                "listed must be in one of them (in a query, repeated or comma-separated)")
    available_only: bool = Field(True, description="true or false: only items the catalogue has available")

    _k = field_validator("k", mode="before")(_whole)

    @field_validator("exclude")
    @classmethod
    def _exclude(cls, v: list[str]) -> list[str]:
        return _ids(v, MAX_EXCLUDE, cls.split_ids)

    @field_validator("category")
    @classmethod
    def _category(cls, v: list[str]) -> list[str]:
        return _ids(v, MAX_CATEGORIES, cls.split_ids)

    def filters(self) -> Filters:
        return Filters(tuple(self.exclude), tuple(self.category), self.available_only)


class SimilarQuery(_Listing):
    """GET /items/{item_id}/similar"""


class RecommendationQuery(_Listing):
    """GET /recommendations/{user_id}"""

    exclude_seen: bool = Field(True, description="true or false: leave out items the user has interacted with")
    explain: bool = Field(False, description="true or false: say why each item is listed (needs read access "
                          "when reads are protected)")


class RecommendationBody(RecommendationQuery):
    """POST /recommendations/{user_id}: the query's fields as JSON, for ids that hold commas or long lists."""

    model_config = ConfigDict(frozen=True, strict=True, extra="forbid",
                              json_schema_extra={"examples": [{"k": 10, "exclude": ["sku-1"]}]})
    split_ids: ClassVar[bool] = False


class DriftReportsQuery(BaseModel):
    limit: int = Field(50, ge=1, le=1000, description="an integer between 1 and 1000: the newest reports listed")
    _limit = field_validator("limit", mode="before")(_whole)


class _OperatorBody(BaseModel):
    """Who changes what, and why: written to the registry's audit log."""

    model_config = ConfigDict(strict=True, extra="forbid", json_schema_extra={"examples": [{"reason": "..."}]})

    reason: Text = Field("", description="a string: why (kept in the audit log)")
    actor: Actor | None = Field(None, description="a string: who, for the audit log (default operator)")

    def who(self) -> str:
        return f"api:{self.actor or 'operator'}"


class RetrainBody(_OperatorBody):
    """POST /models/retrain"""


class PromoteBody(_OperatorBody):
    """POST /models/{ref}/promote"""

    canary: bool | float | None = Field(None, description="true (this worker's RECSTREAM_CANARY_SHARE), a share "
                                        "between 0 and 1, or false/absent for a full promotion")


class RollbackBody(_OperatorBody):
    """POST /models/rollback"""

    to: str | int | None = Field(None, description="a version name or id (default: the one before the live one)")
    kind: str | None = Field(None, description="a string: the model kind, deep or online (default: to's kind, "
                             "else deep)")


class CanaryShareBody(_OperatorBody):
    """POST /models/canary"""

    share: float = Field(description="a number between 0 and 1: the running canary's share of users")
    kind: str = Field("deep", description="a string: the model kind (deep or online)")


#: an event as the topics take it; each is validated on its own (one bad event does not refuse the batch)
RawEvents = Annotated[list[dict[str, Any]], Field(max_length=MAX_EVENTS)]


def _events(schema: str) -> dict[str, Any]:
    return {"type": "array", "maxItems": MAX_EVENTS, "items": {
        "type": "object", "description": f"an event as on the topic: #/components/schemas/{schema}"}}


class EventsBody(BaseModel):
    """POST /events: behaviour and feedback events, exactly as on the topics (schema version 1)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"behaviour": [
        {"event_id": "e1", "user_id": "u1", "item_id": "sku-1", "type": "click", "ts": "2026-12-06T10:00:00Z"}]}]})

    # Each item is checked on its own, after the request is taken: an event that is not a BehaviourEvent is
    # refused in the answer, with its dead-letter code, and the rest are produced. So the document types the
    # items as objects and names their schema, rather than make one bad event refuse the whole request.
    behaviour: Annotated[RawEvents, WithJsonSchema(_events("BehaviourEvent"))] = Field(
        [], description=f"behaviour events, each a BehaviourEvent (at most {MAX_EVENTS} with the feedback)")
    feedback: Annotated[RawEvents, WithJsonSchema(_events("FeedbackEvent"))] = Field(
        [], description=f"feedback events, each a FeedbackEvent (at most {MAX_EVENTS} with the behaviour)")

    @model_validator(mode="after")
    def _at_most(self) -> EventsBody:
        if len(self.behaviour) + len(self.feedback) > MAX_EVENTS:
            raise ValueError(f"takes at most {MAX_EVENTS} events in all, got "
                             f"{len(self.behaviour) + len(self.feedback)}: send several requests")
        return self
