"""What a worker reports about itself to people and load balancers: /healthz's JSON and /readyz's verdict, from
counters kept anyway (the /metrics snapshot is the state's own: state.py)."""

from __future__ import annotations

import time

from recstream.monitors.metrics import quantile_ms
from recstream.stream.worker.state import WorkerState


def readiness(state: WorkerState) -> tuple[bool, str]:
    """GET /readyz: whether a load balancer may send this worker traffic, and why (not)."""
    loop = state.ingest_loop
    if loop is None or loop.rebalances == 0:
        return False, "joining the consumer group (its state is restored at the first assignment)"
    feed = state.catalogue_feed
    if feed is not None and not feed.caught_up:
        return False, "reading the catalogue (items topic): an unavailable item must never be served"
    if state.router.assigned:
        return True, f"consuming partitions {list(state.router.assigned)}"
    if state.router.covered():
        return True, "owns no partitions; forwards every request to the partition's owner"
    return False, "owns no partitions and does not yet know who owns them all"


def health(state: WorkerState) -> dict:
    """GET /healthz."""
    r, loop, ckpt = state.recommender, state.ingest_loop, state.checkpoints.current
    return {"status": "ok", "uptime_s": round(time.time() - state.started_at, 1), "users": r.n_users,
            "items": r.n_items, "events_learned": r.events_learned,
            "prequential_recall_at_10": None if r.prequential.recall_at_10 is None else round(r.prequential.recall_at_10, 4),
            "prequential_trials": r.prequential.trials,
            "taste_shifts_noticed": r.cooccurrence.shifts if r.cooccurrence else 0,
            "served_recall_at_10": None if state.judge.recall_at_10 is None else round(state.judge.recall_at_10, 4),
            "served_trials": state.judge.trials,
            "feedback": r.feedback.state() if state.settings.ingest.learn_feedback else None, "deep_weight": state.deep_weight,
            "deep": state.deep.state(),
            "drift": state.drift_summary,
            "online_checkpoint": ckpt.name if ckpt else None,
            "item_feed": {**state.peer_feed.state(), "learned": r.peer_events_learned,
                          "sent": state.delta_publisher.state() if state.delta_publisher else None,
                          "lag_p99_ms": quantile_ms(state.metrics.item_delta_lag_seconds, 0.99)}
            if state.peer_feed else None,
            "catalogue": state.catalogue_feed.state() if state.catalogue_feed else state.catalogue.state(),
            "retrieval": state.recipe.retrieval.state(),
            "eviction": state.eviction.state() if state.eviction else None,
            "worker": state.source, "partitions": list(state.router.assigned),
            "broker": {"up": loop.broker_up, "failed_probes": loop.broker_errors} if loop else None,
            "database": state.database.state(),
            "group": state.router.group(),
            "pipeline": state.pipeline.stats.as_dict() if state.pipeline else None}
