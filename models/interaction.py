"""The plain record every learner, store and generator in `models/` speaks.

`models/` never sees Kafka: the stream layer validates wire events and hands over these tuples.
"""

from __future__ import annotations

from typing import Any, NamedTuple

#: Behaviour event types, in rough order of intent.
EVENT_TYPES: tuple[str, ...] = ("view", "click", "add_to_cart", "purchase", "rating")


class Interaction(NamedTuple):
    """One validated user-behaviour event."""

    event_id: str
    user_id: str
    item_id: str
    type: str
    value: float | None
    ts: float  # event time, unix seconds (UTC)
    context: dict[str, Any] | None = None


class Feedback(NamedTuple):
    """One validated reaction to a recommendation we served."""

    event_id: str
    rec_id: str
    user_id: str
    item_id: str
    action: str  # impression, click, skip, purchase
    model_version: str
    ts: float
