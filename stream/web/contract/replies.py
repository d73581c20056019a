"""What the API answers, as pydantic models: the OpenAPI document's response schemas. The views build these
shapes as plain dicts on the hot path; the fuzz test (tests/integration/test_http_contract.py) checks every
answer of a live worker against them, so a view that drifts from its model fails the suite."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Error(BaseModel):
    """Every refusal (4xx) and failure: what went wrong and what to send instead."""

    error: str = Field(description="what was wrong, and what to send instead")


class ScoredItem(BaseModel):
    item_id: str
    score: float
    why: dict[str, Any] | None = Field(None, description="with explain=true: where the item's score came from")


class ModelVersions(BaseModel):
    online: str
    deep: str | None


class Recommendations(BaseModel):
    """A served list. Feedback events echo `rec_id` and `model_version`."""

    user_id: str
    rec_id: str = Field(description="this list's id: send it back in feedback events")
    items: list[ScoredItem]
    source: str = Field(description="what made the list: personal, popular, ...")
    model_version: str = Field(description="the released version that shaped the list (echo it in feedback)")
    model_versions: ModelVersions
    canary: bool
    events_learned: int
    served_by: str = Field(description="the worker that answered")
    explanation: dict[str, Any] | None = None


class Similar(BaseModel):
    item_id: str
    items: list[ScoredItem]
    rules: list[str] = Field(description="the catalogue's rules and the caller's filters, in words")
    served_by: str


class Item(BaseModel):
    item_id: str
    catalogue: dict[str, Any] | None = Field(description="the catalogue's record, if the item is in it")
    seen_in_events: bool
    served_by: str


class Health(BaseModel):
    """Liveness; with read access (or no read protection), the worker's whole state."""

    status: str
    uptime_s: float
    worker: str
    partitions: list[int]


class Ready(BaseModel):
    ready: bool
    why: str
    partitions: list[int]


class Versions(BaseModel):
    versions: list[dict[str, Any]]
    serving_here: dict[str, Any]


class Runs(BaseModel):
    runs: list[dict[str, Any]]


class Version(BaseModel):
    """A model version with its audit log."""

    id: int
    name: str
    kind: str
    audit: list[dict[str, Any]]


class Change(BaseModel):
    """An operator's change, as the registry recorded it."""


class RetrainQueued(BaseModel):
    run_id: int
    queued: bool
    note: str


class DriftReports(BaseModel):
    reports: list[dict[str, Any]]


class Refused(BaseModel):
    topic: str = Field(description="behaviour or feedback")
    index: int = Field(description="the event's place in its list")
    event_id: str | None
    code: str = Field(description="the dead-letter code: too_large, not_json, schema, bad_timestamp, key_mismatch")
    reason: str = Field(description="what was wrong, and what to send instead")


class EventsAnswer(BaseModel):
    """Every event of the request is either accepted (produced to Kafka, keyed by user_id) or refused with why."""

    accepted: int = Field(description="events produced to the topics")
    duplicates: int = Field(description="events whose event_id this worker produced recently (not produced again)")
    refused: list[Refused]
