"""What a worker's own events taught the item side, summed into deltas its peers add instead of relearning events.

Every worker needs what all users say about items (which are popular now, which go together, what follows
what), but learns users in full only on its own partitions. Replaying every peer's raw event item-side cost a
worker 15.7 us an event, a quarter of an own event (bench/scale.py, 2026-12-07), so a group could never take more
than one worker's item-side rate. Instead the owner keeps the counts it makes while it learns (the co-occurrence
kernel writes them down as it counts them: the pairs depend on the user's window, which only the owner holds),
sums them over a short interval, and its peers add the sums to their own tables (`apply_delta`).

What a peer gets is the owner's counts, summed: popularity exactly (each weight carried at the interval's
latest event time), companion and successor counts as sums per pair, so a peer's bounded tables see one
weighted update per pair instead of several of 1 (space-saving keeps the same heavy pairs either way), and what
the owner's shift watch saw, chunk by chunk. And how the owner's own steps changed item factors and biases:
every worker starts an item from the same draw (chunk_sgd.py: seeded by its name), so each adding the others'
changes keeps one set of item factors, learned by all users, each change arriving up to a delta late. Peers
keep no window for the owner's users (memory a worker no longer spends on its peers' users).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from recstream.models.errors import DeltaFormatError
from recstream.models.online.chunk_sgd import FactorRows
from recstream.models.online.cooccurrence import CoOccurrence, Counted
from recstream.models.online.popularity import DecayedPopularity

__all__ = ["ItemDelta", "ItemSide", "ItemSideLog", "apply_delta"]

_PAIRS = np.zeros((0, 2), dtype=np.int32)
_F32 = np.zeros(0, dtype=np.float32)


@dataclass
class ItemDelta:
    """Item-side counts and item-factor changes of some events, by item id: every index below is a position in
    `items`."""

    items: list[str]
    #: events and positive events behind it
    events: int
    positives: int
    #: popularity weights are carried to this event time: each is sum(weight * 2**((ts - t0) / half_life))
    t0: float
    pop_items: np.ndarray
    pop_values: np.ndarray
    #: positive events per item of `pop_items`
    pop_counts: np.ndarray
    #: (item, companion) pairs, counted both ways, `pair_counts` times, with `pair_near` near weight
    pairs: np.ndarray = field(default_factory=lambda: _PAIRS)
    pair_counts: np.ndarray = field(default_factory=lambda: _F32)
    pair_near: np.ndarray = field(default_factory=lambda: _F32)
    #: (item, successor) pairs, `next_counts` times each
    nexts: np.ndarray = field(default_factory=lambda: _PAIRS)
    next_counts: np.ndarray = field(default_factory=lambda: _F32)
    #: what the sender's shift watch saw, a row per learned chunk: (new pairs with a user's newest item, how many
    #: of them were known companions)
    watch: np.ndarray = field(default_factory=lambda: _PAIRS)
    #: how the sender's own learning changed item factors and biases, summed (`factor_items` index `items`)
    factor_items: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    factors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    factor_bias: np.ndarray = field(default_factory=lambda: _F32)
    #: where the owner's learning of each "topic:partition" stood after these events (the next offset)
    ends: dict[str, int] = field(default_factory=dict)
    #: wall-clock time the first of these events was learned (how fresh a peer's knowledge is)
    learned_at: float = 0.0

    def split(self, max_pairs: int) -> list[ItemDelta]:
        """Parts of at most `max_pairs` pairs and successors each, and as many bytes of factor rows (a pair is
        16 bytes, a factor row 8 + 4 a dimension), every part with only the items it names; popularity, the
        event counts and the shift watch travel in the first."""
        per_factor = max(max_pairs * 16 // (8 + 4 * self.factors.shape[1]), 1)
        n = max(-(-len(self.pairs) // max_pairs), -(-len(self.nexts) // max_pairs),
                -(-len(self.factor_items) // per_factor), 1)
        if n == 1:
            return [self]
        parts = []
        for k in range(n):
            cut, rows = slice(k * max_pairs, (k + 1) * max_pairs), slice(k * per_factor, (k + 1) * per_factor)
            first = k == 0
            part = replace(self, events=self.events if first else 0, positives=self.positives if first else 0,
                           watch=self.watch if first else self.watch[:0],
                           pop_items=self.pop_items if first else self.pop_items[:0],
                           pop_values=self.pop_values if first else self.pop_values[:0],
                           pop_counts=self.pop_counts if first else self.pop_counts[:0],
                           pairs=self.pairs[cut], pair_counts=self.pair_counts[cut], pair_near=self.pair_near[cut],
                           nexts=self.nexts[cut], next_counts=self.next_counts[cut],
                           factor_items=self.factor_items[rows], factors=self.factors[rows],
                           factor_bias=self.factor_bias[rows])
            parts.append(part.compact())
        return parts

    def compact(self) -> ItemDelta:
        """The same delta naming only the items its arrays use."""
        used = _distinct(np.concatenate([self.pop_items, self.pairs.ravel(), self.nexts.ravel(),
                                         self.factor_items]).astype(np.int64))
        if len(used) == len(self.items):
            return self
        at = np.full(len(self.items), -1, dtype=np.int32)
        at[used] = np.arange(len(used), dtype=np.int32)
        return replace(self, items=list(map(self.items.__getitem__, used.tolist())), pop_items=at[self.pop_items],
                       pairs=at[self.pairs], nexts=at[self.nexts], factor_items=at[self.factor_items])


def _summed(keys: np.ndarray, *values: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """(distinct keys, each of `values` summed per key, rows of a 2-d one): sorted and reduced (np.unique's
    hashing with an inverse, and np.add.at, took most of a delta's time)."""
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if len(keys) else np.zeros(0, dtype=np.int64)
    return keys[starts], [np.add.reduceat(v[order], starts) if len(starts) else np.zeros(0) for v in values]


def _distinct(keys: np.ndarray) -> np.ndarray:
    keys = np.sort(keys)
    return keys[np.r_[True, keys[1:] != keys[:-1]]] if len(keys) else keys


class ItemSideLog:
    """The item-side counts of this worker's own events since the last `take`, in its item rows."""

    def __init__(self, half_life: float) -> None:
        self.half_life = half_life
        self._clear()

    def _clear(self) -> None:
        self._pop: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._counted: list[Counted] = []
        self._steps: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.events = 0
        self.first_at: float | None = None

    def add(self, rows: np.ndarray, weights: np.ndarray, ts: np.ndarray, counted: Counted | None, now: float) -> None:
        """One learned chunk: its item rows, popularity weights, event times, and what co-occurrence counted."""
        self._pop.append((rows, weights, ts))
        if counted is not None:
            self._counted.append(counted)
        self.events += len(rows)
        if self.first_at is None:
            self.first_at = now

    def stepped(self, rows: np.ndarray, factors: np.ndarray, bias: np.ndarray) -> None:
        """Own learning changed item `rows` by `factors` and `bias` (the learner calls this, chunk_sgd.py)."""
        self._steps.append((rows, factors, bias))

    def _factor_changes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not self._steps:
            return np.zeros(0, dtype=np.int64), np.zeros((0, 0)), np.zeros(0)
        rows, factors, bias = (np.concatenate(a) for a in zip(*self._steps, strict=True))
        distinct, (summed,) = _summed(rows, np.column_stack([factors, bias]))
        return distinct, summed[:, :-1], summed[:, -1]

    @property
    def rows(self) -> int:
        """Pairs and factor changes kept (several per chunk each: a size to send by)."""
        return sum(len(c.pairs) for c in self._counted) + sum(len(r) for r, _, _ in self._steps)

    def take(self, item_ids: Sequence[str], ends: dict[str, int]) -> ItemDelta | None:
        """The sums since the last take, by item id (None when nothing was learned); the log starts afresh."""
        if not self.events:
            return None
        rows, weights, ts = (np.concatenate(a) for a in zip(*self._pop, strict=True))
        t0 = float(ts.max())
        pop_rows, (values, counts) = _summed(rows, weights * np.exp2((ts - t0) / self.half_life),
                                             (weights > 0).astype(np.float64))
        c = Counted(*(np.concatenate(a) for a in list(zip(*self._counted, strict=True))[:3])) if self._counted \
            else Counted(_PAIRS, _F32, _PAIRS)
        pairs = np.sort(c.pairs, axis=1).astype(np.int64)  # counted both ways: (a, b) and (b, a) are one pair
        top = max(int(rows.max()), int(pairs.max(initial=0)), int(c.nexts.max(initial=0))) + 1
        pair_keys, (pair_counts, near) = _summed(pairs[:, 0] * top + pairs[:, 1], np.ones(len(pairs)), c.near)
        next_keys, (next_counts,) = _summed(c.nexts[:, 0].astype(np.int64) * top + c.nexts[:, 1], np.ones(len(c.nexts)))
        pair_rows = np.stack([pair_keys // top, pair_keys % top], axis=1)
        next_rows = np.stack([next_keys // top, next_keys % top], axis=1)
        factor_rows, factors, factor_bias = self._factor_changes()  # (negatives: items not among the events)
        top = max(top, int(factor_rows.max(initial=0)) + 1)
        used = _distinct(np.concatenate([pop_rows, pair_rows.ravel(), next_rows.ravel(), factor_rows]))
        at = np.full(top, -1, dtype=np.int32)
        at[used] = np.arange(len(used), dtype=np.int32)
        f32 = np.float32
        delta = ItemDelta(
            list(map(item_ids.__getitem__, used.tolist())), self.events, int(counts.sum()), t0, at[pop_rows], values,
            counts.astype(f32), at[pair_rows], pair_counts.astype(f32), near.astype(f32), at[next_rows],
            next_counts.astype(f32), np.array([(x.paired, x.known) for x in self._counted], dtype=np.int32).reshape(-1, 2),
            at[factor_rows], factors.astype(f32), factor_bias.astype(f32), dict(ends), self.first_at or 0.0)
        self._clear()
        return delta


class ItemSide(Protocol):
    """What a delta is added to (an OnlineRecommender)."""

    popularity: DecayedPopularity
    cooccurrence: CoOccurrence | None
    peer_events_learned: int

    @property
    def item_factors(self) -> FactorRows: ...

    def rows_of(self, item_ids: Sequence[str]) -> list[int]: ...


def apply_delta(rec: ItemSide, delta: ItemDelta) -> None:
    """Add a peer's item-side counts to `rec` (new items are numbered; their factors start as any new item's)."""
    rows = np.array(rec.rows_of(delta.items), dtype=np.int64)
    pop_rows = rows[delta.pop_items]
    if len(pop_rows):
        rec.popularity.add(pop_rows, delta.pop_values, np.full(len(pop_rows), delta.t0))
    if rec.cooccurrence is not None:
        counted = Counted(rows[delta.pairs].astype(np.int32), delta.pair_near, rows[delta.nexts].astype(np.int32))
        rec.cooccurrence.apply(counted, delta.pair_counts, delta.next_counts, pop_rows,
                               delta.pop_counts.astype(np.float64), delta.watch)
    if len(delta.factor_items):
        _add_factors(rec.item_factors, rows[delta.factor_items], delta)
    rec.peer_events_learned += delta.events


def _add_factors(side: FactorRows, rows: np.ndarray, delta: ItemDelta) -> None:
    """Add the sender's changes to item rows, each drawn first if it has no factors here yet (its name gives it
    the same start as the sender's)."""
    if delta.factors.shape[1] != side.matrix.shape[1]:
        raise DeltaFormatError(f"delta's item factors have {delta.factors.shape[1]} dimensions, this model "
                               f"{side.matrix.shape[1]} (RECSTREAM_ONLINE_N_FACTORS differs between workers)")
    for r in rows[~side.has[rows]].tolist():
        side.index(side.keys[r])
    side.matrix[rows] += delta.factors
    side.bias[rows] += delta.factor_bias
