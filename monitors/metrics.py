"""Prometheus metrics of a worker, served at GET /metrics.

Counters that the pipeline already keeps (consumed, dead-lettered by reason, learned) are read at scrape time
by a collector instead of being incremented per event: the hot path pays nothing for them. Only latencies are
observed as they happen (one histogram observation per learned batch and per request).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

#: aiohttp refuses a charset inside content_type; Prometheus reads text/plain as its 0.0.4 text format.
CONTENT_TYPE = "text/plain"


@dataclass
class Snapshot:
    """What the collector reads from a worker at scrape time."""

    consumed: int = 0
    stored: int = 0
    learned: int = 0
    duplicates: int = 0
    #: batches that failed and were re-read from the last commit (broker errors, database outages)
    batch_failures: int = 0
    #: consumer-group rebalances this worker took part in
    rebalances: int = 0
    #: records found on another partition than Kafka's default partitioner puts their key on (sampled)
    misrouted_keys: int = 0
    #: recommendation requests forwarded to the worker owning the user's partition
    forwarded: int = 0
    #: other workers' events learned item-side through the item feed
    item_feed_events: int = 0
    #: users the online learner holds; idle users moved to the database, and read back (RECSTREAM_ONLINE_EVICT_*)
    users_held: int = 0
    users_evicted: int = 0
    users_readmitted: int = 0
    assigned_partitions: int = 0
    #: the last broker probe answered (None: not probed yet); probes it did not answer
    broker_up: bool | None = None
    broker_failed_probes: int = 0
    #: the last database probe answered (None: not probed yet); probes it did not answer
    database_up: bool | None = None
    database_failed_probes: int = 0
    dead_lettered: dict[str, int] = field(default_factory=dict)
    #: (topic, partition) -> messages not yet consumed
    lag: dict[tuple[str, int], int] = field(default_factory=dict)
    prequential_recall_at_10: float | None = None
    #: share of judged positive events whose item was in the list the user would have been served
    served_recall_at_10: float | None = None
    #: the deep share of the served blend now
    deep_weight: float | None = None
    #: role ("live", "canary", "serving") -> version name, for the deep model
    deep_versions: dict[str, str] = field(default_factory=dict)
    drift_share: float | None = None
    drift_detected: bool | None = None
    drift_report_id: int | None = None


class _StateCollector(Collector):
    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        s = self._snapshot()
        for name, value, doc in (
            ("recstream_events_consumed", s.consumed, "Kafka records consumed (behaviour and feedback)"),
            ("recstream_events_stored", s.stored, "behaviour events newly stored"),
            ("recstream_events_learned", s.learned, "behaviour events learned by the online model"),
            ("recstream_events_duplicate", s.duplicates, "redelivered events skipped by learning"),
            ("recstream_batch_failures", s.batch_failures, "batches that failed and were re-read from the last commit"),
            ("recstream_rebalances", s.rebalances, "consumer-group rebalances (partition assignments received)"),
            ("recstream_misrouted_keys", s.misrouted_keys,
             "sampled records whose key Kafka's default partitioner puts on another partition"),
            ("recstream_requests_forwarded", s.forwarded,
             "recommendation requests forwarded to the worker that owns the user's partition"),
            ("recstream_item_feed_events", s.item_feed_events,
             "other workers' behaviour events learned item-side (popularity, co-occurrence)"),
            ("recstream_users_evicted", s.users_evicted, "idle users moved from memory to the database"),
            ("recstream_users_readmitted", s.users_readmitted,
             "evicted users read back from the database at their next event or request"),
            ("recstream_database_failed_probes", s.database_failed_probes,
             "database probes (SELECT 1 every worker heartbeat) that got no answer"),
            ("recstream_broker_failed_probes", s.broker_failed_probes,
             "broker probes (a metadata request every worker heartbeat) that got no answer"),
        ):
            c = CounterMetricFamily(name, doc)
            c.add_metric([], value)
            yield c
        dl = CounterMetricFamily("recstream_events_dead_lettered", "records sent to the dead-letter topic",
                                 labels=["reason"])
        for reason, n in sorted(s.dead_lettered.items()):
            dl.add_metric([reason], n)
        yield dl
        lag = GaugeMetricFamily("recstream_consumer_lag", "records behind the end of each assigned partition",
                                labels=["topic", "partition"])
        for (topic, partition), n in sorted(s.lag.items()):
            lag.add_metric([topic, str(partition)], n)
        yield lag
        yield GaugeMetricFamily("recstream_assigned_partitions", "behaviour-topic partitions this worker consumes",
                                value=s.assigned_partitions)
        yield GaugeMetricFamily("recstream_users_held", "users the online learner holds in memory", value=s.users_held)
        yield from _optional_gauges(s)
        info = GaugeMetricFamily("recstream_model_version", "deep model versions this worker serves (value 1)",
                                 labels=["role", "version"])
        for role, name in sorted(s.deep_versions.items()):
            info.add_metric([role, name], 1)
        yield info


def _optional_gauges(s: Snapshot) -> Iterator[Metric]:
    """The gauges that exist only once known (a probe answered, an event judged, a drift report made)."""
    drift = s.drift_share is not None
    for name, value, doc in (
        ("recstream_database_up", s.database_up, "1 when the database answered the last probe"),
        ("recstream_broker_up", s.broker_up, "1 when the Kafka broker answered the last probe"),
        ("recstream_prequential_recall_at_10", s.prequential_recall_at_10,
         "share of probed positive events that were in the user's top-10 beforehand"),
        ("recstream_served_recall_at_10", s.served_recall_at_10,
         "share of judged positive events whose item was in the list served beforehand"),
        ("recstream_deep_weight", s.deep_weight, "the deep model's share of the served blend now"),
        ("recstream_drift_share", s.drift_share, "share of drifted columns in the latest drift report"),
        ("recstream_drift_detected", bool(s.drift_detected) if drift else None,
         "1 when the latest drift report found drift"),
        ("recstream_drift_report_id", (s.drift_report_id or 0) if drift else None, "id of the latest drift report"),
    ):
        if value is not None:
            yield GaugeMetricFamily(name, doc, value=float(value))


class WorkerMetrics:
    """One registry per worker (not the process-global one, so tests can build several)."""

    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        self.registry = CollectorRegistry()
        self.learn_batch_seconds = Histogram(
            "recstream_learn_batch_seconds", "time to dead-letter and learn one consumed batch",
            registry=self.registry, buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0))
        self.request_seconds = Histogram(
            "recstream_request_seconds", "time to answer GET /recommendations", registry=self.registry,
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0))
        self.item_delta_lag_seconds = Histogram(
            "recstream_item_delta_lag_seconds", "time from a peer learning events to their item-side counts "
            "being added here", registry=self.registry, buckets=(0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0))
        self.registry.register(_StateCollector(snapshot))

    def render(self) -> bytes:
        return generate_latest(self.registry)


def buckets(histogram: Histogram) -> list[tuple[float, float]]:
    """(upper bound in seconds, cumulative count) of each bucket, +Inf last."""
    return [(float(s.labels["le"]), s.value) for m in histogram.collect() for s in m.samples
            if s.name.endswith("_bucket")]


def quantile_ms(histogram: Histogram | list[tuple[float, float]], q: float) -> float | None:
    """The `q` quantile of a histogram (or of its `buckets`, e.g. the difference of two readings) in
    milliseconds, read off the cumulative buckets (the upper bound of the bucket it falls in, as Prometheus'
    histogram_quantile does without interpolation); None without samples."""
    cumulative = histogram if isinstance(histogram, list) else buckets(histogram)
    total = cumulative[-1][1] if cumulative else 0
    if not total:
        return None
    for bound, count in cumulative:
        if count >= q * total:
            return bound * 1000 if bound != float("inf") else None
    return None


def parse(text: str) -> dict[str, Any]:
    """Sample name (with labels) -> value, for tests and benchmarks reading /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, Any] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return out
