"""A worker's sample for the console's charts (models/store/history.py): its totals, its lag, the quality of
what it serves, and its request latency over the interval since the last sample (from the difference of two
readings of the latency histogram, so a slow minute shows even after a day of fast ones)."""

from __future__ import annotations

import time

from recstream.models.store.history import Sample
from recstream.monitors.metrics import buckets, quantile_ms
from recstream.stream.worker.state import WorkerState


class Sampler:
    def __init__(self) -> None:
        self._last: list[tuple[float, float]] = []

    def sample(self, state: WorkerState) -> Sample:
        now = buckets(state.metrics.request_seconds)
        interval = [(b, c - (self._last[k][1] if k < len(self._last) else 0.0)) for k, (b, c) in enumerate(now)]
        self._last = now
        p, r = state.pipeline, state.recommender
        stats = p.stats if p is not None else None
        return Sample(source=state.source, at=time.time(), consumed=stats.consumed if stats else 0,
                      learned=r.events_learned, dead_lettered=sum(stats.dead_lettered.values()) if stats else 0,
                      requests=int(now[-1][1]) if now else 0,
                      lag=sum(stats.lag.values()) if stats else None,
                      served_recall=state.judge.recall_at_10, online_recall=r.prequential.recall_at_10,
                      p50_ms=quantile_ms(interval, 0.5), p99_ms=quantile_ms(interval, 0.99),
                      deep_live=state.deep.state()["live"])  # type: ignore[arg-type]
