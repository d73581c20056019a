"""The online learner's live quality figure: test-then-learn probes and their rate limit.

A sample of each chunk's novel positive events is scored against the state before the chunk (the same scores
users are served); the rank of the item that came next gives the prequential Recall@10, and each probe's output
statistics (top-1 z-score, popular share of the top-10) feed the drift monitor.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

import numpy as np

#: (event ts, hit, top-1 score z, popular share) of one probe
Probe = tuple[float, int, float, float]


def thinned(sample: float, n_items: int, cells_per_event: float) -> float:
    """The share of events to probe when each probe scores `n_items` items: `sample`, or less, so that probes
    cost at most `cells_per_event` item scores per event on average whatever the catalogue's size."""
    return sample if n_items * sample <= cells_per_event else cells_per_event / n_items


class ProbeBudget:
    """At most `per_s` probes a second of `clock` time, handed out in bursts: all the wanted probes (up to one
    second's worth) once the bucket holds that many, else none, the tokens saved for a later chunk. A sustained
    flood then pays a probe's fixed cost (the catalogue's popularity, the output statistics) once per burst
    rather than once per chunk; a burst after a quiet spell is scored whole."""

    def __init__(self, per_s: float, clock: Callable[[], float] = time.monotonic, burst: int | None = None) -> None:
        self.per_s, self.clock = per_s, clock
        #: most probes granted at once (default: a second's worth)
        self.burst = burst
        self.tokens = 0.0
        self.at: float | None = None

    def __getstate__(self) -> dict:
        return {"per_s": self.per_s, "burst": self.burst}  # tokens and clock belong to this process's clock

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["per_s"], burst=state.get("burst"))  # type: ignore[misc]

    def grant(self, wanted: int) -> int:
        now = self.clock()
        burst = self.burst or max(int(self.per_s), 1)  # below one a second: one probe every 1/per_s seconds
        refill = burst if self.at is None else max(now - self.at, 0.0) * self.per_s
        self.at = now
        self.tokens = min(burst, self.tokens + refill)
        granted = min(wanted, burst)
        if granted > self.tokens:
            return 0
        self.tokens -= granted
        return granted


class Prequential:
    """Which events to probe, what the probes found, and the probes kept for the drift monitor."""

    #: Probes kept for the drift monitor between drains (a worker whose probes nobody drains keeps the newest).
    MAX_PROBES = 100_000
    #: "Popular" for a probe's popular_share: the catalogue's top 1% (at least 10 items) by popularity,
    #: recomputed every REFRESH_EVERY events learned (a full partition per chunk cost more than the chunk).
    POPULAR_SHARE = 0.01
    REFRESH_EVERY = 1_000

    def __init__(self, sample: float, max_per_s: float | None) -> None:
        self.sample = sample
        self.budget = ProbeBudget(max_per_s) if max_per_s is not None else None
        self.hits = 0
        self.trials = 0
        self.probes: deque[Probe] = deque(maxlen=self.MAX_PROBES)
        #: (events learned when computed, mask) of the items probes count as popular
        self._popular: tuple[int, np.ndarray] | None = None

    @property
    def recall_at_10(self) -> float | None:
        """Share of probed positive events whose item was in the top-10 so far."""
        return self.hits / self.trials if self.trials else None

    def pick(self, draws: np.ndarray, positive: list[bool], novel: Callable[[int], bool], n_items: int,
             cells_per_event: float) -> list[int]:
        """The events to probe: drawn at the sample rate (thinned for a large catalogue, see `thinned`), positive,
        new to their user, within the budget."""
        sample = thinned(self.sample, n_items, cells_per_event)
        picks = [i for i in np.flatnonzero(draws < sample).tolist() if positive[i] and novel(i)]
        if picks and self.budget is not None:
            picks = picks[:self.budget.grant(len(picks))]
        return picks

    def popular_mask(self, popularity: np.ndarray, learned: int) -> np.ndarray:
        """Which items count as popular, given the catalogue's `popularity` after `learned` events."""
        n, cached = len(popularity), self._popular
        if cached is None or learned - cached[0] >= self.REFRESH_EVERY or len(cached[1]) > n:
            mask = np.zeros(n, dtype=bool)
            top = max(10, int(n * self.POPULAR_SHARE))
            mask[np.argpartition(popularity, -top)[-top:] if n > top else slice(None)] = True
            self._popular = cached = (learned, mask)
        mask = cached[1]
        return mask if len(mask) == n else np.concatenate([mask, np.zeros(n - len(mask), dtype=bool)])

    def record(self, ts: list[float], target: np.ndarray, rank: np.ndarray, z: np.ndarray,
               share: np.ndarray) -> None:
        """One burst of probes: event times, the target items' scores, their ranks and output statistics."""
        hits = np.isfinite(target) & (rank <= 10)
        self.hits += int(hits.sum())
        self.trials += len(ts)
        self.probes.extend(zip(ts, hits.astype(int).tolist(), z.tolist(), share.tolist()))

    def drain(self) -> list[Probe]:
        """Hand over (and forget) the probes recorded since the last drain."""
        out = list(self.probes)
        self.probes.clear()
        return out


def output_stats(scores: np.ndarray, popular: np.ndarray) -> tuple[float, float]:
    """(top-1 score as a z-score over the rankable items, share of the top-10 that is popular, ties to the lower
    column) for one list: the definition `kernels.probe_stats` computes for many at once (the tests compare)."""
    finite = np.isfinite(scores)
    valid = scores[finite]
    if valid.size == 0:
        return 0.0, 0.0
    std = float(valid.std())
    z = (float(valid.max()) - float(valid.mean())) / std if std > 0 else 0.0
    top = np.flatnonzero(finite)[np.argsort(-valid, kind="stable")[:10]]
    return z, float(popular[top].mean())
