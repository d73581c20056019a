"""One user's part of the online learner, as a value: what a worker writes to the store when it evicts a cold
user from memory, and puts back, unchanged, at the user's next event or request.

Item ids, not rows: rows are one learner's numbering, and the user may come back to another worker. JSON, not
pickle: whoever can write the database must not get to run code on a worker. Not kept: the feedback memory
(ignored showings), which expires on its own (`ignored_for_s`); eviction waits longer than that by default.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from recstream.models.errors import ArtefactError

if TYPE_CHECKING:
    from recstream.models.online.recommender import OnlineRecommender


@dataclass(frozen=True)
class UserState:
    #: the factor model's user vector and bias
    factors: list[float]
    bias: float
    #: events learned, and the event time of the latest
    events: int
    last_ts: float
    #: seen items, oldest first (at most the cap), and the co-occurrence window of recent positives
    seen: list[str]
    window: list[str]

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> UserState:
        try:
            raw = json.loads(data)
            state = cls(factors=[float(f) for f in raw["factors"]], bias=float(raw["bias"]),
                        events=int(raw["events"]), last_ts=float(raw["last_ts"]),
                        seen=[str(i) for i in raw["seen"]], window=[str(i) for i in raw["window"]])
        except (ValueError, TypeError, KeyError) as e:
            raise ArtefactError(f"a stored user state is not one this version wrote: {e}") from e
        return state


def idle_users(rec: OnlineRecommender, before_ts: float, limit: int) -> list[str]:
    """Up to `limit` users whose latest learned event is older than `before_ts` (event time)."""
    keys = rec.user_factors.keys
    return [keys[a] for a in rec.seen.idle(before_ts)[:limit].tolist()]  # type: ignore[misc]


def user_state(rec: OnlineRecommender, user_id: str) -> UserState | None:
    """The user's part of `rec` as a value (None for a user it does not hold)."""
    users = rec.user_factors
    a = users.row.get(user_id)
    if a is None:
        return None
    items = rec.item_ids
    window = rec.cooccurrence.window_of(user_id) if rec.cooccurrence is not None else []
    return UserState(users.matrix[a].tolist(), float(users.bias[a]), int(rec.seen.events[a]),
                     float(rec.seen.last_ts[a]), [items[r] for r in rec.seen.rows(user_id).tolist()],
                     [items[r] for r in np.asarray(window).tolist()])


def evict(rec: OnlineRecommender, user_id: str) -> UserState | None:
    """Take the user out of memory (factors, seen items, window; its rows are reused): the state that
    `readmit` puts back. None for a user `rec` does not hold."""
    state = user_state(rec, user_id)
    if state is not None:
        if rec.cooccurrence is not None:
            rec.cooccurrence.forget(user_id)
        rec.seen.forget(rec.user_factors.row[user_id])
        rec.user_factors.release(user_id)
    return state


def readmit(rec: OnlineRecommender, user_id: str, state: UserState, active_ts: float = 0.0) -> None:
    """Put an evicted user back, as it was (items it knew that `rec` does not are numbered), counted as active at
    `active_ts` if that is later than its latest event (so it is not evicted again before its event is learned)."""
    if rec.holds(user_id):
        return  # learned again meanwhile: what memory holds is newer
    a = rec.user_factors.put(user_id, np.array(state.factors), state.bias)
    rec.seen.put(a, np.array(rec.rows_of(state.seen), dtype=np.int64), state.events, max(state.last_ts, active_ts))
    if rec.cooccurrence is not None and state.window:
        rec.cooccurrence.put_window(user_id, np.array(rec.rows_of(state.window), dtype=np.int32))
