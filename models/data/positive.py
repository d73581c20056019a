"""What counts as a positive event: the one rule the online learner, the deep model and the canary share."""

from __future__ import annotations

DEFAULT_EVENT_WEIGHTS: dict[str, float] = {"view": 0.3, "click": 0.6, "add_to_cart": 0.8, "purchase": 1.0}


def implicit_weight(event_type: str, value: float | None, weights: dict[str, float]) -> float:
    """How much an implicit event says the user likes the item (its type's weight, times `value` when given)."""
    weight = weights.get(event_type, 0.0)
    return weight if value is None else weight * float(value)


def is_positive(event_type: str, value: float | None, weights: dict[str, float], rating_threshold: float) -> bool:
    """Whether an event says the user liked the item: the one rule the online and the deep model both learn."""
    if event_type == "rating":
        return (value or 0.0) >= rating_threshold
    return implicit_weight(event_type, value, weights) > 0
