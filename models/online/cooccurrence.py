"""Item co-occurrence within users' recent positives: "people who just liked these also liked that".

The factor model learns slowly what a user is like; a user's last few items say a lot about the next one (a
session of rating war films, a basket being filled). Each positive event pairs its item with the user's last
`window` positive items; each item keeps its `neighbours` most frequent companions (space-saving counts, so
memory is fixed per item however the catalogue grows: 64 neighbours = 1 KB an item, near counts included, and
16 successors 0.2 KB). Beside each count, a
`near` count weighs a pair by how close the two were in the user's window (near_decay^(steps apart - 1)):
"more like this" reads it (bench/similar.py: the item right before the next one says most about it), while a
user's score reads the plain counts (weighing pairs by closeness there cost MovieLens 4%, bench/served.py). A user's score for
item c is `log1p(sum over window items w of decay**age(w) * companions(w, c) / sqrt(count(c)))`, added to the
personal score by the recommender.

Measured on the MovieLens replay (bench/replay.py; test-then-learn Recall@10 on ratings >= 4): popularity 0.0788,
the factors alone 0.0788, with co-occurrence 0.0963 (95% intervals apart); the sweep behind the defaults is in
README.md ("How the default model was chosen").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from recstream.models.online.arrays import grown
from recstream.models.online.config import OnlineConfig, check_cooccurrence
from recstream.models.online.shift import ShiftWatch

_NO_WINDOW = np.zeros(0, dtype=np.int32)
#: what `learn` passes the kernel for its count log when nothing is recorded
_NO_LOG = (np.zeros((0, 2), dtype=np.int32), np.zeros(0, dtype=np.float32), np.zeros((0, 2), dtype=np.int32))


class Counted(NamedTuple):
    """Counts `CoOccurrence.learn` made, in item rows: (item, companion) pairs, each pair's near weight, and
    (item, successor) pairs; and what the shift watch saw (new pairs with a user's newest item, how many of them
    were known companions), so a peer's watch sees the whole stream as one worker's does."""

    pairs: np.ndarray
    near: np.ndarray
    nexts: np.ndarray
    paired: int = 0
    known: int = 0

#: the arrays with a row per item
_PER_ITEM = ("nbr", "cnt", "err", "near", "item_count", "nxt", "nxt_cnt", "nxt_err")


class CoOccurrence:
    """Companion counts per item, and each user's window of recent positive items (rows of the item numbering
    the owner uses). Learning and scoring are compiled loops (kernels.py)."""

    def __init__(self, window: int = 10, neighbours: int = 64, decay: float = 0.8,
                 half_life: float | None = None, shift_fade: float | None = None, near_decay: float = 0.5,
                 successors: int = 16) -> None:
        check_cooccurrence(window, neighbours, decay)
        self.window, self.neighbours, self.decay = window, neighbours, decay
        self.near_decay = near_decay
        #: companion counts halve every this many positives (None: never), aged in steps of a quarter of it
        self.half_life = half_life
        self._unaged = 0.0
        #: counts are multiplied by this when tastes shift (shift.py; None: not watched)
        self.shift_fade = shift_fade
        self.shift_watch = ShiftWatch() if shift_fade is not None else None
        #: user id -> row of `recent`; rows below `users_used` not in it are free (`forget`), reused first
        self.user_row: dict[str, int] = {}
        self.users_used = 0
        self._free_users: list[int] = []
        self.recent = np.zeros((1024, window), dtype=np.int32)
        self.recent_len = np.zeros(1024, dtype=np.int32)
        #: per item row: companion item rows (-1 = free slot), their counts, and each count's possible overcount
        self.nbr = np.full((1024, neighbours), -1, dtype=np.int32)
        self.cnt = np.zeros((1024, neighbours), dtype=np.float32)
        self.err = np.zeros((1024, neighbours), dtype=np.float32)
        #: per slot: the pair counts weighed by closeness (read by companions(), i.e. similar items)
        self.near = np.zeros((1024, neighbours), dtype=np.float32)
        #: positive events per item
        self.item_count = np.zeros(1024, dtype=np.float64)
        #: per item row: the items that came right after it in a user's positives (directed), counted the same way
        self.nxt = np.full((1024, successors), -1, dtype=np.int32)
        self.nxt_cnt = np.zeros((1024, successors), dtype=np.float32)
        self.nxt_err = np.zeros((1024, successors), dtype=np.float32)
        #: rows below this are initialised (free slots -1); the rest of the capacity is untouched zeros
        self._ready = 1024

    def __getstate__(self) -> dict:
        # Without the spare capacity (up to half of each array): a checkpoint keeps the rows in use.
        state = self.__dict__.copy()
        used = np.flatnonzero(self.item_count)  # an item has companions only once it has been positive
        n = int(used[-1]) + 1 if len(used) else 0
        for name in _PER_ITEM:
            state[name] = state[name][:n]
        state["_ready"] = min(n, self._ready)
        state["recent"], state["recent_len"] = self.recent[:self.users_used], self.recent_len[:self.users_used]
        return state

    def _grow_items(self, n: int) -> None:
        """Rows for the items below `n`. Capacity doubles (`grown`: spare rows take no memory), and a row's free
        slots are set to -1 only once an item needs it, which would otherwise write every spare page."""
        old = len(self.item_count)
        if n > old:
            size = max(n, 2 * old)
            for name in _PER_ITEM:
                setattr(self, name, grown(getattr(self, name), size))
        if n > self._ready:
            self.nbr[self._ready:n] = -1
            self.nxt[self._ready:n] = -1
            self._ready = n

    def _user_rows(self, users: Sequence[str]) -> np.ndarray:
        row_of = self.user_row
        rows = [row_of.get(u, -1) for u in users]
        if -1 in rows:
            for k, u in enumerate(users):
                if rows[k] < 0:
                    rows[k] = row_of.get(u, -1)
                    if rows[k] < 0:
                        rows[k] = row_of[u] = self._new_user_row()
        return np.array(rows, dtype=np.int64)

    def _new_user_row(self) -> int:
        if self._free_users:
            return self._free_users.pop()
        r, self.users_used = self.users_used, self.users_used + 1
        if r == len(self.recent_len):
            size = max(1024, 2 * r)
            self.recent, self.recent_len = grown(self.recent, size), grown(self.recent_len, size)
        return r

    def forget(self, user_id: str) -> None:
        """Drop the user's window (its row is reused)."""
        r = self.user_row.pop(user_id, None)
        if r is not None:
            self.recent_len[r] = 0
            self._free_users.append(r)

    def put_window(self, user_id: str, rows: np.ndarray) -> None:
        """The user's window of recent positive item rows (oldest first), as `window_of` gave it."""
        rows = rows[-self.window:]
        if len(rows):
            self._grow_items(int(rows.max()) + 1)  # (the kernels read the window's rows unchecked)
        if user_id not in self.user_row:
            self.user_row[user_id] = self._new_user_row()
        r = self.user_row[user_id]
        self.recent[r, :len(rows)], self.recent_len[r] = rows, len(rows)

    def learn(self, users: Sequence[str], item_rows: Sequence[int], positive: Sequence[bool],
              record: bool = False) -> Counted | None:
        """Learn events in order: each positive one pairs its item with the user's window, then joins it. With
        `record`, returns the counts made (what a peer applies with `apply`)."""
        if not len(users):
            return None
        items = np.asarray(item_rows, dtype=np.int64)
        # Both may replace the arrays (growing them): the kernel, which does not check bounds, must get the new ones.
        self._grow_items(int(items.max()) + 1)
        user_rows = self._user_rows(users)
        from recstream.models.online import kernels  # loaded with the learner (see chunk_sgd._loss_code)

        positive = np.asarray(positive, dtype=np.bool_)
        if record:
            n = int(positive.sum())
            pairs, near, nexts = (np.empty((n * self.window, 2), dtype=np.int32),
                                  np.empty(n * self.window, dtype=np.float32), np.empty((n, 2), dtype=np.int32))
        else:
            pairs, near, nexts = _NO_LOG
        paired, known, n_pairs, n_next = kernels.cooccur_learn(
            self.recent, self.recent_len, self.nbr, self.cnt, self.err, self.near, self.item_count, user_rows, items,
            positive, self.near_decay, self.nxt, self.nxt_cnt, self.nxt_err, pairs, near, nexts)
        if self.shift_watch is not None and self.shift_watch.observe(paired, known):
            self._fade(self.shift_fade)
        self._age(int(positive.sum()))
        return Counted(pairs[:n_pairs], near[:n_pairs], nexts[:n_next], paired, known) if record else None

    def apply(self, counted: Counted, pair_counts: np.ndarray, next_counts: np.ndarray, rows: np.ndarray,
              positives: np.ndarray, watch: np.ndarray) -> None:
        """Add what a peer counted (`counted`, each pair `pair_counts` times and each successor `next_counts`
        times) and its positive events per item (`positives` at item `rows`): its `learn`, summed. `watch`: what
        its shift watch saw, (paired, known) per chunk it learned, which this one sees too."""
        if self.shift_watch is not None:
            noticed = [self.shift_watch.observe(int(p), int(k)) for p, k in watch]  # every chunk, as the sender did
            if any(noticed):
                self._fade(self.shift_fade)
        top = max((int(a.max()) + 1 for a in (counted.pairs, counted.nexts, rows) if a.size), default=0)
        if not top:
            return
        self._grow_items(top)
        from recstream.models.online import kernels

        np.add.at(self.item_count, rows, positives)
        kernels.cooccur_apply(self.nbr, self.cnt, self.err, self.near, self.nxt, self.nxt_cnt, self.nxt_err,
                              counted.pairs, pair_counts, counted.near, counted.nexts, next_counts)
        self._age(int(positives.sum()))

    def __setstate__(self, state: dict) -> None:
        state.setdefault("half_life", None)  # checkpoints from before counts could fade
        state.setdefault("_unaged", 0.0)
        state.setdefault("shift_fade", None)
        state.setdefault("shift_watch", None)
        state.setdefault("_ready", len(state["item_count"]))  # before lazy rows: every row was initialised
        state.setdefault("users_used", len(state["user_row"]))  # before user rows were reused
        state.setdefault("_free_users", [])
        if "near" not in state:  # before near counts: the plain ones (lower bounds) are the best start
            state["near"] = state["cnt"] - state["err"]
            state["near_decay"] = OnlineConfig.similar_pair_decay
        if "nxt" not in state:  # before successors were counted: they start from nothing
            shape = state["cnt"].shape
            state["nxt"] = np.full(shape, -1, dtype=np.int32)
            state["nxt_cnt"], state["nxt_err"] = np.zeros(shape, dtype=np.float32), np.zeros(shape, dtype=np.float32)
        self.__dict__.update(state)

    @property
    def shifts(self) -> int:
        """Taste shifts noticed so far (each faded the counts once)."""
        return self.shift_watch.shifts if self.shift_watch is not None else 0

    def _age(self, positives: int) -> None:
        """Fade every count by 2^-(positives / half_life), a quarter half-life at a time (one pass each)."""
        if not self.half_life:
            return
        self._unaged += positives
        if self._unaged < self.half_life / 4:
            return
        factor = 0.5 ** (self._unaged / self.half_life)
        self._unaged = 0.0
        self._fade(factor)

    def _fade(self, factor: float) -> None:
        n = self._ready  # (the spare rows are zeros: leave their pages untouched)
        for a in (self.cnt, self.err, self.near, self.nxt_cnt, self.nxt_err):
            a[:n] *= np.float32(factor)
        self.item_count[:n] *= factor

    def window_of(self, user_id: str) -> np.ndarray:
        """The user's recent positive item rows, oldest first (empty for a user with none)."""
        r = self.user_row.get(user_id)
        if r is None:
            return _NO_WINDOW  # (`recent` may have no rows at all: a checkpoint keeps only the rows in use)
        return self.recent[r, :self.recent_len[r]]

    def add_scores(self, out: np.ndarray, user_id: str, scale: float) -> None:
        """Add `scale` times the user's co-occurrence scores to `out` (one entry per item row)."""
        window = self.window_of(user_id)
        if not len(window):
            return
        from recstream.models.online import kernels

        ages = np.arange(len(window) - 1, -1, -1, dtype=np.float64)  # the window is oldest first
        kernels.cooccur_scores(out, window, self.decay ** ages, self.nbr, self.cnt, self.err, self.item_count, scale)

    def support(self, user_id: str, n_items: int) -> tuple[np.ndarray, np.ndarray]:
        """(item rows, scores) where the user's co-occurrence scores (`add_scores` at scale 1) are not zero,
        among the first `n_items` rows: the same figures without an array over the whole catalogue."""
        window = self.window_of(user_id)
        if not len(window):
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        from recstream.models.online import kernels

        ages = np.arange(len(window) - 1, -1, -1, dtype=np.float64)
        return kernels.cooccur_support(window, self.decay ** ages, self.nbr, self.cnt, self.err, self.item_count,
                                       n_items)

    def successor_support(self, user_id: str, n_items: int) -> tuple[np.ndarray, np.ndarray]:
        """(item rows, scores) where `add_successor_scores` (scale 1) adds something, among the first `n_items`."""
        window = self.window_of(user_id)
        if not len(window) or window[-1] >= len(self.item_count):
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        last = int(window[-1])
        rows, counts = self.nxt[last].astype(np.int64), self.nxt_cnt[last] - self.nxt_err[last]
        free = np.flatnonzero(rows < 0)  # slots fill in order: the first free one ends them
        end = int(free[0]) if len(free) else len(rows)
        rows, counts = rows[:end], counts[:end]
        keep = (rows < n_items) & (counts > 0)
        return rows[keep], np.log1p(counts[keep].astype(np.float64))

    def add_successor_scores(self, out: np.ndarray, user_id: str, scale: float) -> None:
        """Add `scale * log1p(times each item came right after the user's newest positive item)` to `out`."""
        rows, scores = self.successor_support(user_id, len(out))
        out[rows] += scale * scores

    def by_source(self, user_id: str, rows: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
        """(the user's window rows, each one's score for `rows` alone): which recent items put an item in the
        list (an explanation; the sum over sources is not the total, which is a log of the sum)."""
        window = self.window_of(user_id)
        parts = np.zeros((len(window), len(rows)))
        if not len(window):
            return window, parts
        from recstream.models.online import kernels

        out = np.zeros(len(self.item_count))
        for j in range(len(window)):
            out[:] = 0.0
            age = np.array([self.decay ** (len(window) - 1 - j)])
            kernels.cooccur_scores(out, window[j:j + 1], age, self.nbr, self.cnt, self.err, self.item_count, scale)
            parts[j] = out[np.minimum(rows, len(out) - 1)] * (rows < len(out))
        return window, parts

    def companions(self, row: int, exponent: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
        """(item rows, scores) of the items most often positive close to item `row` in users' recent windows
        (near counts), each divided by the companion's own count to the `exponent`; best first."""
        if row >= len(self.item_count):
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        nbr = self.nbr[row]
        keep = nbr >= 0
        rows = nbr[keep].astype(np.int64)
        scores = self.near[row][keep] / np.maximum(self.item_count[rows], 1.0) ** exponent
        order = [o for o in np.argsort(-scores, kind="stable") if scores[o] > 0]
        return rows[order], scores[order]


def cooccurrence_for(cfg: OnlineConfig) -> CoOccurrence | None:
    """The co-occurrence counts `cfg` asks for (None when its weight is 0: no counting, no cost)."""
    if cfg.cooccurrence_weight <= 0:
        return None
    return CoOccurrence(cfg.cooccurrence_window, cfg.cooccurrence_neighbours, cfg.cooccurrence_decay,
                        cfg.cooccurrence_half_life, cfg.cooccurrence_shift_fade, cfg.similar_pair_decay,
                        cfg.successor_neighbours)
