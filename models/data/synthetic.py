"""A synthetic interaction stream: users with genre tastes that drift, and an optional sudden preference shift.

Used by the demo, the tests and the benchmarks (tests never need the real datasets in ../shared/data).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from recstream.models.data.interaction import EVENT_TYPES, Interaction

#: Funnel shares of the event types (view, click, add_to_cart, purchase, rating).
TYPE_SHARES = np.array([0.6, 0.25, 0.08, 0.04, 0.03])


@dataclass(frozen=True)
class SyntheticSpec:
    users: int = 1_000
    items: int = 2_000
    genres: int = 12
    events: int = 50_000
    seed: int = 7
    start_ts: float = 1_767_225_600.0  # 2026-01-01T00:00:00Z
    events_per_second: float = 50.0  # event-time rate, not replay speed
    #: How far tastes wander every 1,000 events (0 = stationary).
    drift: float = 0.02
    #: Event index at which every user's favourite genres rotate and each genre gets new hits (None = no shift).
    shift_at: int | None = None
    #: Zipf exponent of item popularity within a genre.
    zipf: float = 1.1
    prefix: str = "syn"
    #: Sessions instead of users: anonymous session ids (`s<n>`), a few clicks each (mean `session_length`), each
    #: next item mostly (`follow`) one of the last item's `related` items, else a popular one. A shift re-draws
    #: what is related to what.
    sessions: bool = False
    session_length: float = 4.0
    related: int = 5
    follow: float = 0.8
    concurrent: int = 50

    def __post_init__(self) -> None:
        for name in ("users", "items", "genres", "events"):
            if getattr(self, name) < 1:
                raise ValueError(f"synthetic {name} must be >= 1, got {getattr(self, name)}")
        if self.genres > self.items:
            raise ValueError(f"synthetic genres ({self.genres}) cannot exceed items ({self.items})")
        if self.shift_at is not None and not 0 <= self.shift_at <= self.events:
            raise ValueError(f"shift_at must be within [0, events={self.events}], got {self.shift_at}")


def _item_genre(rng: np.random.Generator, spec: SyntheticSpec) -> np.ndarray:
    return rng.integers(0, spec.genres, size=spec.items)  # the stream's first draw


def item_genres(spec: SyntheticSpec) -> dict[str, int]:
    """Each item's genre in the (non-session) stream `spec` generates: the synthetic catalogue."""
    return {f"i{n}": int(g) for n, g in enumerate(_item_genre(np.random.default_rng(spec.seed), spec))}


def generate(spec: SyntheticSpec, block: int = 1_000) -> Iterator[Interaction]:
    """Yield `spec.events` interactions in event-time order (deterministic for a given spec)."""
    if spec.sessions:
        yield from _sessions(spec)
        return
    rng = np.random.default_rng(spec.seed)
    item_genre = _item_genre(rng, spec)
    genre_items = [np.flatnonzero(item_genre == g) for g in range(spec.genres)]
    genre_items = [g if len(g) else np.array([0]) for g in genre_items]
    # Each user likes 2-3 genres much more than the rest.
    prefs = rng.dirichlet(np.full(spec.genres, 0.3), size=spec.users)
    activity = rng.pareto(1.5, size=spec.users) + 1.0
    activity /= activity.sum()
    type_cdf = np.cumsum(TYPE_SHARES)
    produced = 0
    ts = spec.start_ts
    shifted = False
    while produced < spec.events:
        n = min(block, spec.events - produced)
        if spec.shift_at is not None and not shifted:
            if produced >= spec.shift_at:
                prefs = np.roll(prefs, spec.genres // 2, axis=1)  # favourite genres become unloved ones
                genre_items = [rng.permutation(g) for g in genre_items]  # and each genre has new hits
                shifted = True
            else:
                n = min(n, spec.shift_at - produced)  # end the block exactly at the shift
        users = rng.choice(spec.users, size=n, p=activity)
        cdf = np.cumsum(prefs[users], axis=1)
        genres = np.minimum((rng.random((n, 1)) > cdf).sum(axis=1), spec.genres - 1)
        ranks = np.minimum(rng.zipf(spec.zipf, size=n) - 1, spec.items)
        types = np.minimum(np.searchsorted(type_cdf, rng.random(n)), len(EVENT_TYPES) - 1)
        gaps = rng.exponential(1.0 / spec.events_per_second, size=n)
        liked = prefs[users, genres] >= np.sort(prefs[users], axis=1)[:, -3]
        for j in range(n):
            pool = genre_items[genres[j]]
            item = int(pool[ranks[j] % len(pool)])
            ts += float(gaps[j])
            etype = EVENT_TYPES[types[j]]
            value = None
            if etype == "rating":
                value = float(np.clip(round(rng.normal(4.2 if liked[j] else 2.6, 0.8)), 1, 5))
            yield Interaction(f"{spec.prefix}-{spec.seed}-{produced + j}", f"u{users[j]}", f"i{item}", etype,
                              value, round(ts, 3))
        produced += n
        if spec.drift > 0:
            prefs = prefs * np.exp(rng.normal(0, spec.drift, size=prefs.shape))
            prefs /= prefs.sum(axis=1, keepdims=True)


def _sessions(spec: SyntheticSpec) -> Iterator[Interaction]:
    """Short anonymous sessions whose next click mostly follows the last one (see SyntheticSpec.sessions);
    `concurrent` of them are open at a time, so their clicks interleave as on a live site."""
    rng = np.random.default_rng(spec.seed)
    popularity = 1.0 / np.arange(1, spec.items + 1) ** spec.zipf
    popularity /= popularity.sum()

    def draw_related() -> np.ndarray:  # each item's related items: a few of any popularity, the first likelier
        return rng.integers(0, spec.items, size=(spec.items, spec.related))

    related, weights = draw_related(), 0.5 ** np.arange(spec.related)
    weights /= weights.sum()
    #: open sessions: [session number, clicks left, current item]
    open_: list[list[int]] = []
    ts, started, shifted = spec.start_ts, 0, False
    for n in range(spec.events):
        if spec.shift_at is not None and n >= spec.shift_at and not shifted:
            related, shifted = draw_related(), True
        while len(open_) < spec.concurrent:
            open_.append([started, 1 + int(rng.geometric(1.0 / spec.session_length)),
                          int(rng.choice(spec.items, p=popularity))])
            started += 1
        k = int(rng.integers(len(open_)))
        session = open_[k]
        ts += float(rng.exponential(1.0 / spec.events_per_second))
        yield Interaction(f"{spec.prefix}-{spec.seed}-{n}", f"s{session[0]}", f"i{session[2]}", "click", None,
                          round(ts, 3))
        session[1] -= 1
        if session[1] == 0:
            open_.pop(k)
        elif rng.random() < spec.follow:
            session[2] = int(related[session[2], rng.choice(spec.related, p=weights)])
        else:
            session[2] = int(rng.choice(spec.items, p=popularity))
