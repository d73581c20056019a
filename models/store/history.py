"""What the workers reported over time, for the console's charts: one sample per worker every few seconds, kept
where every worker reads it (the database), so a chart is the same whichever worker draws it and survives their
restarts. Bounded by age (`prune`).

A chart asks for `series(since, buckets)`: the samples are grouped into equal time buckets in SQL (a week of 10 s
samples from 4 workers is 240k rows; a chart needs ~100 points), then summed over workers: events/s and dead
letters/s from the growth of each worker's totals (a restart starts its totals again, as a Prometheus counter's
reset), lag summed, recall and latency averaged.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Engine, Integer, cast, delete, func, insert, select

from recstream.models.store.schema import worker_samples


@dataclass(frozen=True)
class Sample:
    source: str
    at: float
    consumed: int
    learned: int
    dead_lettered: int
    requests: int
    lag: int | None = None
    served_recall: float | None = None
    online_recall: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    deep_live: str | None = None


@dataclass
class Point:
    """One bucket of a chart, every worker together."""

    at: float
    events_per_s: float = 0.0
    dead_letters_per_s: float = 0.0
    lag: int | None = None
    served_recall: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    workers: int = 0


class History:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(self, sample: Sample) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(worker_samples).values(**asdict(sample)))

    def prune(self, before: float) -> int:
        with self.engine.begin() as conn:
            return conn.execute(delete(worker_samples).where(worker_samples.c.at < before)).rowcount

    def series(self, since: float, until: float, buckets: int = 120) -> list[Point]:
        """The chart from `since` (or the first sample after it: a young deployment gets finer buckets) to
        `until` in (at most) `buckets` points, oldest first."""
        s = worker_samples.c
        with self.engine.connect() as conn:
            first = conn.execute(select(func.min(s.at)).where(s.at >= since, s.at <= until)).scalar()
        if first is None:
            return []
        since = max(since, float(first))
        width = max(int((until - since) / buckets), 1)
        bucket = (cast(s.at, Integer) // width).label("bucket")
        q = (select(s.source, bucket, func.max(s.at), func.max(s.consumed), func.max(s.dead_lettered),
                    func.max(s.lag), func.avg(s.served_recall), func.avg(s.p50_ms), func.max(s.p99_ms))
             .where(s.at >= since - width, s.at <= until)  # one bucket before: the first point's growth
             .group_by(s.source, bucket).order_by(s.source, bucket))
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        return _points(rows, width, since)


def _points(rows: list[Any], width: int, since: float) -> list[Point]:
    points: dict[int, Point] = {}
    parts: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    last: dict[str, tuple[float, int, int]] = {}
    for source, b, at, consumed, dead, lag, served, p50, p99 in rows:
        before = last.get(source)
        last[source] = (at, consumed, dead)
        if before is None or at < since:
            continue
        dt = max(at - before[0], 1e-9)
        p = points.setdefault(b, Point(at=float(b * width)))
        grew = (lambda now, then: now - then if now >= then else now)  # a restart: the totals began again
        p.events_per_s += grew(consumed, before[1]) / dt
        p.dead_letters_per_s += grew(dead, before[2]) / dt
        p.workers += 1
        if lag is not None:
            p.lag = (p.lag or 0) + int(lag)
        for name, value in (("served_recall", served), ("p50_ms", p50), ("p99_ms", p99)):
            if value is not None:
                parts[b][name].append(float(value))
    for b, p in points.items():
        for name, values in parts[b].items():
            setattr(p, name, max(values) if name == "p99_ms" else sum(values) / len(values))
    return [points[b] for b in sorted(points)]
