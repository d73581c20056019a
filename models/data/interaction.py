"""The plain record every learner, store and generator in `models/` speaks.

`models/` never sees Kafka: the stream layer validates wire events and hands over these tuples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter
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


@dataclass(frozen=True, slots=True)
class InteractionColumns:
    """Interactions as columns (the context left out): what the helper processes hand the learner. A batch of
    2,000 `Interaction`s took ~1.5 us an event to pickle and ~0.8 us to unpickle; its columns ~0.2 us each."""

    event_ids: tuple[str, ...]
    user_ids: tuple[str, ...]
    item_ids: tuple[str, ...]
    types: tuple[str, ...]
    values: tuple[float | None, ...]
    ts: tuple[float, ...]

    @classmethod
    def of(cls, events: Sequence[Interaction]) -> InteractionColumns:
        if not events:
            return cls((), (), (), (), (), ())
        ids, users, items, types, values, ts, _ = zip(*events, strict=True)
        return cls(ids, users, items, types, values, ts)

    def __len__(self) -> int:
        return len(self.event_ids)

    def __getitem__(self, rows: slice) -> InteractionColumns:
        return InteractionColumns(self.event_ids[rows], self.user_ids[rows], self.item_ids[rows], self.types[rows],
                                  self.values[rows], self.ts[rows])

    def take(self, rows: Sequence[int]) -> InteractionColumns:
        """The interactions at `rows`, in that order."""
        if not rows:
            return InteractionColumns.of(())
        get = itemgetter(*rows)  # one row: the value itself, not a tuple of one

        def pick(col: tuple) -> tuple:
            return get(col) if len(rows) > 1 else (get(col),)

        return InteractionColumns(pick(self.event_ids), pick(self.user_ids), pick(self.item_ids), pick(self.types),
                                  pick(self.values), pick(self.ts))
