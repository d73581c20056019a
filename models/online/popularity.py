"""Time-decayed item popularity: the fallback for cold users and a blend term for known ones."""

from __future__ import annotations

import math

import numpy as np

from recstream.models.online.arrays import grown


class DecayedPopularity:
    """Item scores that halve every `half_life` seconds of event time, kept in one NumPy vector.

    Instead of decaying every item on every event, each new event adds `weight * 2**((t - t_ref)/half_life)`:
    relative order is what ranking needs, and it is the same. `t_ref` moves forward (rescaling the vector) before
    the growth factor can overflow.

    >>> p = DecayedPopularity(half_life=10.0)
    >>> p.add(np.array([0, 0, 1]), np.array([1.0, 1.0, 1.0]), np.array([0.0, 0.0, 20.0]))
    >>> [round(float(x), 2) for x in p.scores(2)]  # two events 20 s (two half-lives) ago vs one now
    [0.5, 1.0]
    """

    def __init__(self, half_life: float = 7 * 24 * 3600.0, capacity: int = 1024) -> None:
        if half_life <= 0:
            raise ValueError(f"popularity half_life must be > 0 seconds, got {half_life}")
        self.half_life = float(half_life)
        self._values = np.zeros(capacity, dtype=np.float64)
        self.t_ref: float | None = None
        self.now: float | None = None

    def _grow(self, n: int) -> None:
        if n > len(self._values):
            self._values = grown(self._values, max(n, 2 * len(self._values)))

    def add(self, rows: np.ndarray, weights: np.ndarray, ts: np.ndarray) -> None:
        """Count events for item `rows` with `weights` at event times `ts` (unix seconds)."""
        if len(rows) == 0:
            return
        self._grow(int(rows.max()) + 1)
        latest = float(ts.max())
        if self.t_ref is None:
            self.t_ref = latest
        self.now = latest if self.now is None else max(self.now, latest)
        if (self.now - self.t_ref) / self.half_life > 500:  # 2**500 is near float64's limit: rebase
            shift = self.now - self.t_ref
            self._values *= 2.0 ** (-shift / self.half_life)
            self.t_ref = self.now
        growth = np.exp2((ts - self.t_ref) / self.half_life)
        np.add.at(self._values, rows, weights * growth)

    def scores(self, n_items: int) -> np.ndarray:
        """Decayed popularity of the first `n_items` rows, in event-count units as of the latest event."""
        self._grow(n_items)
        if self.now is None or self.t_ref is None:
            return self._values[:n_items].copy()
        return self._values[:n_items] * math.exp2(-(self.now - self.t_ref) / self.half_life)

    def scores_at(self, rows: np.ndarray) -> np.ndarray:
        """`scores` of item `rows` only (rows beyond any counted item score 0). Changes nothing, so a thread
        may read while another learns."""
        rows = np.asarray(rows, dtype=np.int64)
        values = self._values
        decay = 1.0 if self.now is None or self.t_ref is None else math.exp2(-(self.now - self.t_ref) / self.half_life)
        inside = rows < len(values)
        if inside.all():
            return values[rows] * decay
        out = np.zeros(len(rows))
        out[inside] = values[rows[inside]] * decay
        return out

    def raw(self, n_items: int) -> np.ndarray:
        """Undecayed-to-now values: same order as `scores`, no copy (for ranking on the hot path)."""
        self._grow(n_items)
        return self._values[:n_items]
