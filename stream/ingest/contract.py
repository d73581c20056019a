"""The published contract: JSON Schema for the behaviour, feedback and items topics, from the pydantic models the
worker validates with, so producers in any language can check their messages before sending them.

What a schema cannot say is checked by the worker only (and dead-lettered with a reason): the message key must be
the `user_id`, `ts` must be after 1990 and at most a day ahead of the worker's clock, 16 KiB at most.
"""

from __future__ import annotations

import copy
from typing import Any

from recstream.stream.ingest.events import SCHEMA_VERSION, BehaviourEvent, FeedbackEvent
from recstream.stream.ingest.item_events import ItemEvent

TOPICS = {"behaviour": BehaviourEvent, "feedback": FeedbackEvent, "items": ItemEvent}
#: what each topic's messages are keyed by
KEYS = {"behaviour": "user_id", "feedback": "user_id", "items": "item_id"}

#: `ts` as producers may send it (pydantic alone would publish ISO strings only)
_TS = {"anyOf": [{"type": "string", "minLength": 10}, {"type": "number", "exclusiveMinimum": 0}],
       "description": "event time: ISO-8601 (naive = UTC) or unix seconds (numbers above 2e10 are read as "
                      "milliseconds)"}
_NEEDS_VALUE = {"if": {"properties": {"type": {"const": "rating"}}, "required": ["type"]},
                "then": {"required": ["value"], "properties": {"value": {"type": "number"}}}}


def json_schema(topic: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of messages on `topic` ("behaviour", "feedback" or "items")."""
    model = TOPICS.get(topic)
    if model is None:
        raise ValueError(f"no schema for {topic!r}: choose one of {', '.join(TOPICS)}")
    schema = copy.deepcopy(model.model_json_schema(mode="validation"))
    if "ts" in schema["properties"]:
        schema["properties"]["ts"] = {**_TS, "title": "Ts"}
    if topic == "behaviour":
        schema["allOf"] = [_NEEDS_VALUE]
    doc = (model.__doc__ or "").strip()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://recstream.dev/schemas/{topic}/v{SCHEMA_VERSION}.json",
            **schema, "description": f"{doc} Key the Kafka message by {KEYS[topic]} (the same bytes)."}
