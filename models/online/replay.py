"""Prequential (test-then-learn) replay: how recommenders are judged here — top-N on a stream, not rating error."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace

from recstream.models.data.interaction import Interaction
from recstream.models.online.config import OnlineConfig
from recstream.models.online.recommender import OnlineRecommender
from recstream.models.stats import wilson_interval


@dataclass
class ReplayResult:
    name: str
    recall_at_10: float
    ci95: tuple[float, float]
    trials: int
    events: int

    def as_dict(self) -> dict:
        return {"name": self.name, "recall_at_10": round(self.recall_at_10, 4),
                "ci95": [round(self.ci95[0], 4), round(self.ci95[1], 4)], "trials": self.trials,
                "events": self.events}


def chunks(events: Iterable[Interaction], size: int) -> Iterator[list[Interaction]]:
    batch: list[Interaction] = []
    for e in events:
        batch.append(e)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def replay(events: Sequence[Interaction], config: OnlineConfig, name: str, chunk: int = 100) -> ReplayResult:
    """Replay `events` in order through an `OnlineRecommender`, scoring every positive event before learning it."""
    rec = OnlineRecommender(replace(config, prequential_max_per_s=None))  # every sampled probe: deterministic
    for batch in chunks(events, chunk):
        rec.learn(batch)
    recall = rec.prequential.recall_at_10 or 0.0
    return ReplayResult(name, recall, wilson_interval(rec.prequential.hits, rec.prequential.trials),
                        rec.prequential.trials, rec.events_learned)


def popularity_config(base: OnlineConfig) -> OnlineConfig:
    """The baseline: the same pipeline serving decayed popularity to everyone (a user never becomes personal)."""
    from dataclasses import replace

    return replace(base, min_user_events=10**12, negatives=0)
