"""What the factor model learns for an event: a class label (logistic loss, ratings) or the event type's weight."""

from __future__ import annotations

from collections.abc import Sequence

from recstream.models.data.positive import implicit_weight, is_positive
from recstream.models.online.config import OnlineConfig


class EventTargets:
    """(type, value) -> target, cached: most streams use a handful of pairs."""

    MAX_CACHED = 4096

    def __init__(self, config: OnlineConfig) -> None:
        self.config = config
        self._cache: dict[tuple[str, float | None], float] = {}

    def one(self, type_: str, value: float | None) -> float:
        cfg = self.config
        if type_ == "rating" or cfg.loss == "log":  # a class label, not a magnitude
            return 1.0 if is_positive(type_, value, cfg.event_weights, cfg.rating_threshold) else 0.0
        return implicit_weight(type_, value, cfg.event_weights)

    def of(self, types: Sequence[str], values: Sequence[float | None]) -> list[float]:
        cache, out = self._cache, []
        for key in zip(types, values):
            t = cache.get(key)
            if t is None:
                t = self.one(*key)
                if len(cache) < self.MAX_CACHED:
                    cache[key] = t
            out.append(t)
        return out
