"""What each user has interacted with: excluded from their recommendations, and their recent history for
sequence models. Bounded per user (the oldest item is forgotten past the cap).

Users are rows of the learner's user numbering; each one's items are a block of one pooled int32 array
(pool.py), not a Python object per user: at 297k users a dict of item rows each took 74 MB, the pool 25 MB
(bench/large.py --scale 0.3).
"""

from __future__ import annotations

import numpy as np

from recstream.models.online.arrays import grown

_NONE = np.zeros(0, dtype=np.int64)


def _block_sizes(cap: int) -> np.ndarray:
    """The pool's block sizes: powers of two from 4, then the cap."""
    sizes = [min(4, cap)]
    while sizes[-1] < cap:
        sizes.append(min(2 * sizes[-1], cap))
    return np.array(sizes, dtype=np.int64)


class SeenItems:
    """User row -> item rows, most recent last, and the events learned per user.

    `user_row` (user id -> row) is the learner's numbering, linked by the owner (`link`) and not pickled.
    """

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.sizes = _block_sizes(cap)
        self.user_row: dict[str, int] = {}
        self.start = np.zeros(1024, dtype=np.int64)
        self.length = np.zeros(1024, dtype=np.int32)
        self.klass = np.full(1024, -1, dtype=np.int8)
        #: events learned per user row, and the time of the latest
        self.events = np.zeros(1024, dtype=np.int32)
        self.last_ts = np.zeros(1024, dtype=np.float64)
        self.pool = np.zeros(4096, dtype=np.int32)
        #: the pool's next unused slot, users with events, then each block size's free list (pool.py)
        self.state = np.concatenate([[0, 0], np.full(len(self.sizes), -1)]).astype(np.int64)

    def link(self, user_row: dict[str, int]) -> None:
        self.user_row = user_row

    @property
    def n_users(self) -> int:
        """Users with at least one learned event."""
        return int(self.state[1])

    # ---- learning ----------------------------------------------------------------------------------------
    def learn(self, users: np.ndarray, rows: np.ndarray, ts: np.ndarray, neg_rows: np.ndarray | None,
              wants_neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Events in order: each user row's item row put last in its list, its events counted (and the time of
        its latest event noted). Returns (event index, item row) of the candidate negatives `neg_rows[j]` (for
        events where `wants_neg`) that the event's user had not seen before it, nor its own item."""
        from recstream.models.online import pool  # compiled; loaded with the learner's kernels

        self._fit_users(int(users.max()) + 1)
        if neg_rows is None:
            neg_rows, wants_neg = np.zeros((len(users), 0), dtype=np.int64), np.zeros(len(users), dtype=np.bool_)
        neg_event = np.empty(neg_rows.size, dtype=np.int64)
        neg_item = np.empty(neg_rows.size, dtype=np.int64)
        done, n_neg = 0, 0
        while True:
            done, n_neg = pool.learn(self.start, self.length, self.klass, self.events, self.last_ts, self.pool,
                                     self.state, self.sizes, users, rows, ts, done, neg_rows, wants_neg, neg_event,
                                     neg_item, n_neg)
            if done == len(users):
                return neg_event[:n_neg], neg_item[:n_neg]
            self.pool = grown(self.pool, 2 * len(self.pool))

    def _fit_users(self, n: int) -> None:
        if n <= len(self.start):
            return
        size = max(n, 2 * len(self.start))
        self.start, self.length, self.events, self.last_ts = (
            grown(a, size) for a in (self.start, self.length, self.events, self.last_ts))
        klass = np.full(size, -1, dtype=np.int8)
        klass[:len(self.klass)] = self.klass
        self.klass = klass

    def forget(self, a: int) -> None:
        """Empty user row `a` (its block joins its size's free list; the row is the owner's to reuse)."""
        k = self.klass[a]
        if k >= 0:  # (pool.py's layout: the free-list heads start at state[2])
            self.pool[self.start[a]] = self.state[2 + k]
            self.state[2 + k] = self.start[a]
        if self.events[a] > 0:
            self.state[1] -= 1
        self.start[a], self.length[a], self.klass[a], self.events[a], self.last_ts[a] = 0, 0, -1, 0, 0.0

    def put(self, a: int, rows: np.ndarray, events: int, last_ts: float) -> None:
        """User row `a` (empty) with these item rows (oldest first, at most the cap) and events."""
        self._fit_users(a + 1)
        if len(rows):  # (counts one event a row: set right below)
            self.learn(np.full(len(rows), a, dtype=np.int64), rows.astype(np.int64), np.full(len(rows), last_ts),
                       None, np.zeros(len(rows), dtype=np.bool_))
        self.state[1] += int(events > 0) - int(len(rows) > 0)
        self.events[a], self.last_ts[a] = events, last_ts

    def latest_ts(self) -> float:
        """The time of the latest event learned (0 before any)."""
        return float(self.last_ts.max(initial=0.0))

    def idle(self, before_ts: float) -> np.ndarray:
        """User rows with events whose latest event is older than `before_ts`."""
        n = len(self.events)
        return np.flatnonzero((self.events[:n] > 0) & (self.last_ts[:n] < before_ts))

    # ---- reading -----------------------------------------------------------------------------------------
    def _block(self, user_id: str) -> np.ndarray:
        a = self.user_row.get(user_id)
        if a is None or a >= len(self.start):
            return _NONE
        s = self.start[a]
        return self.pool[s:s + self.length[a]]

    def events_of(self, user_id: str) -> int:
        a = self.user_row.get(user_id)
        return int(self.events[a]) if a is not None and a < len(self.events) else 0

    def contains(self, user_id: str, row: int) -> bool:
        return bool((self._block(user_id) == row).any())

    def rows(self, user_id: str) -> np.ndarray:
        """The user's seen item rows, oldest first."""
        return self._block(user_id).astype(np.int64)

    def mask(self, scores: np.ndarray, user_id: str) -> None:
        """The user's seen items at -inf in `scores` (one user's row)."""
        scores[self._block(user_id)] = -np.inf

    def recent(self, user_id: str, n: int) -> list[int]:
        """The user's `n` most recent distinct item rows, oldest first."""
        block = self._block(user_id)
        return block[max(0, len(block) - n):].tolist() if n > 0 else []

    # ---- checkpoints: each list packed end to end ---------------------------------------------------------
    def __getstate__(self) -> dict:
        # Up to the last row in use (rows of evicted users are holes, reused later: not the count of users).
        n = int(np.flatnonzero((self.events > 0) | (self.length > 0)).max(initial=-1)) + 1
        lengths = self.length[:n].astype(np.int64)
        offsets = np.repeat(self.start[:n] - np.cumsum(lengths) + lengths, lengths)
        flat = self.pool[offsets + np.arange(len(offsets))] if len(offsets) else np.zeros(0, dtype=np.int32)
        return {"cap": self.cap, "lengths": lengths.astype(np.int32), "flat": flat, "events": self.events[:n].copy(),
                "last_ts": self.last_ts[:n].copy()}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["cap"])
        if "by_user" in state:  # before pooled lists: a dict per user, converted by the owner (legacy.py)
            self.by_user = state["by_user"]
            return
        self.load(state["lengths"], state["flat"], state["events"], state["last_ts"])

    def load(self, lengths: np.ndarray, flat: np.ndarray, events: np.ndarray, last_ts: np.ndarray) -> None:
        """Every user row's list (`lengths[a]` items of `flat`, end to end) and event count, each list in the
        smallest block that holds it."""
        n = len(lengths)
        self._fit_users(n)
        klass = np.searchsorted(self.sizes, lengths).astype(np.int8)
        klass[lengths == 0] = -1
        blocks = np.where(klass >= 0, self.sizes[np.maximum(klass, 0)], 0)
        ends = np.cumsum(blocks)
        self.pool = np.zeros(max(4096, int(ends[-1]) if n else 0), dtype=np.int32)
        self.start[:n], self.length[:n], self.klass[:n] = ends - blocks, lengths, klass
        self.events[:n], self.last_ts[:n] = events, last_ts
        firsts = np.repeat(ends - blocks - np.cumsum(lengths) + lengths, lengths)
        self.pool[firsts + np.arange(len(flat))] = flat
        self.state[0], self.state[1] = int(ends[-1]) if n else 0, int(np.count_nonzero(events))
