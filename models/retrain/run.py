"""One retraining: read the window, warm-start from live, train, judge against live and popularity, register, gate.

A run that fails leaves the live version untouched and is recorded with its error. Runs never overlap: each holds
the registry's training lock (one conditional UPDATE, so it holds across processes and machines).
"""

from __future__ import annotations

import logging
import os
import socket
import time
import traceback
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from recstream.models.artefacts.files import write_artefact
from recstream.models.deep.config import DeepConfig
from recstream.models.deep.distributed import fit_on_processes
from recstream.models.deep.model import PAD, DeepModel
from recstream.models.deep.quantize import Int8Scorer, top10_latency_ms
from recstream.models.deep.training import (
    Positives,
    Split,
    deep_scorer,
    evaluate,
    popularity_scorer,
    temporal_split,
    training_pairs,
)
from recstream.models.deep.versions import load_model
from recstream.models.errors import DatabaseLost, RecstreamError, TrainingBusy
from recstream.models.retrain.config import RetrainConfig
from recstream.models.retrain.tuning import tune, tune_online
from recstream.models.store.events import EventStore
from recstream.models.store.registry import ModelVersion, Registry
from recstream.models.store.runs import RunQueue

log = logging.getLogger("recstream.retrain")


@dataclass
class RetrainResult:
    run_id: int
    #: "promoted", "canary", "candidate" (passed, auto_promote off), "rejected", or "failed"
    outcome: str
    version: ModelVersion | None
    metrics: dict[str, Any]
    error: str | None = None


def retrain(engine: Engine, cfg: RetrainConfig, *, trigger: str, requested_by: str, reason: str | None = None,
            run_id: int | None = None, progress: bool = False) -> RetrainResult:
    """Run one retraining now. Raises TrainingBusy if another run holds the lock (nothing is recorded then), and
    DatabaseLost if the database goes away during the run (the caller settles it once the database is back)."""
    queue = RunQueue(engine)
    holder = f"{socket.gethostname()}:{os.getpid()}:{time.time():.0f}"
    if not queue.acquire_training_lock(holder):
        raise TrainingBusy(f"another training run holds the lock ({queue.training_lock_holder()}); "
                           "this request stays queued")
    claimed: int | None = None
    lost = False
    try:
        claimed = queue.start_run(run_id, trigger=trigger, requested_by=requested_by, reason=reason)
        if claimed is None:
            raise TrainingBusy(f"training request {run_id} was already taken by another scheduler")
        return _recorded(engine, queue, cfg, claimed, progress)
    except DBAPIError as exc:
        lost = True
        raise DatabaseLost(f"the database went away during training run {claimed or run_id or '(new)'} "
                           f"({_first_line(exc)})", claimed, holder) from None
    finally:
        if not lost:
            try:
                queue.release_training_lock(holder)
            except DBAPIError as exc:  # the run was recorded; only the lock is left to release
                raise DatabaseLost(f"the database went away as training run {claimed} ended "
                                   f"({_first_line(exc)})", None, holder) from None


def _first_line(exc: DBAPIError) -> str:
    """The driver's error, on one line (its messages run on with connection details)."""
    text = str(exc.orig).strip()
    return f"{type(exc.orig).__name__}: {text.splitlines()[0][:200] if text else ''}"


def _recorded(engine: Engine, queue: RunQueue, cfg: RetrainConfig, run_id: int, progress: bool) -> RetrainResult:
    """Train and gate run `run_id` and record how it ended (a training error is recorded as the run's failure; a
    database error is not recordable and propagates)."""
    try:
        result = _train_and_gate(engine, Registry(engine), cfg, run_id, progress)
    except DBAPIError:
        raise
    except Exception as exc:  # noqa: BLE001 - recorded, then reported to the caller
        message = str(exc) if isinstance(exc, RecstreamError) else f"{type(exc).__name__}: {exc}"
        log.error("training run %d failed: %s\n%s", run_id, message, traceback.format_exc())
        queue.finish_run(run_id, status="failed", error=message)
        return RetrainResult(run_id, "failed", None, {}, message)
    queue.finish_run(run_id, status=result.outcome, version_id=result.version.id if result.version else None)
    return result


def _train_and_gate(engine: Engine, registry: Registry, cfg: RetrainConfig, run_id: int,
                    progress: bool) -> RetrainResult:
    t0 = time.perf_counter()
    store = EventStore(engine)
    data, split = _training_data(store, cfg)
    load_s = time.perf_counter() - t0
    deep_cfg, tuning = cfg.deep, None
    if cfg.tune is not None:
        tuning = tune(data, split, cfg.deep, cfg.tune)
        deep_cfg = replace(cfg.deep, **tuning.best)
    live_version = registry.live("deep")
    live_model = load_model(live_version, cfg.artefact_key) if live_version else None
    items = data.item_ids
    model, epochs, parent_id = _starting_model(cfg, deep_cfg, items, live_version, live_model)
    t1 = time.perf_counter()
    if cfg.processes > 1:
        model = fit_on_processes(model, *training_pairs(split, model, items), cfg.processes, epochs)
    else:
        model.fit(*training_pairs(split, model, items), epochs=epochs, progress=progress)
    train_s = time.perf_counter() - t1

    metrics: dict[str, Any] = {
        "candidate": evaluate(deep_scorer(model, items), split.holdout),
        "popularity": evaluate(popularity_scorer(split.train_counts), split.holdout),
        "live": evaluate(deep_scorer(live_model, items), split.holdout) if live_model is not None else None,
        "live_version": live_version.name if live_version else None,
        "train_examples": len(split.train), "holdout_events": len(split.holdout), "split_ts": split.split_ts,
        "epochs": epochs, "warm_start": parent_id is not None, "loss": [h["loss"] for h in model.history_log],
        "load_s": round(load_s, 2), "train_s": round(train_s, 2), "run_id": run_id,
    }
    if tuning is not None:
        metrics["tuning"] = {**tuning.as_dict(), "budget_s": cfg.tune.budget_s if cfg.tune else None}
    if cfg.tune is not None and cfg.tune.online_budget_s:
        metrics["online_tuning"] = _online_search(store, cfg)
    passed, why = gate(metrics, cfg.promote_margin)
    metrics["gate"] = {"passed": passed, "reason": why, "margin": cfg.promote_margin}
    stem = f"deep-run{run_id}-{int(time.time())}"
    float_bytes = model.to_bytes()
    if cfg.quantize_tolerance is not None:
        metrics["int8"] = quantized_variant(model, items, split.holdout, metrics["candidate"], cfg, stem,
                                            len(float_bytes))
    path, sha, sig = write_artefact(float_bytes, cfg.artefact_dir, f"{stem}.pt", cfg.artefact_key)
    version = registry.register(
        "deep", status="candidate" if passed else "rejected", artefact=path, sha256=sha,
        signature=sig, parent_id=parent_id, window=(float(data.ts.min()), float(data.ts.max())),
        n_interactions=len(data), params={**asdict(deep_cfg), "n_items": len(items)}, metrics=metrics,
        actor="trainer", reason=f"training run {run_id}: {why}")
    log.info("run %d: %s — %s", run_id, version.name, why)
    return _release(registry, cfg, RetrainResult(run_id, "rejected", version, metrics), passed, why,
                    has_live=live_version is not None)


def with_feedback(cols: tuple[list, ...], store: EventStore, since: float | None) -> tuple[list, ...]:
    """Behaviour columns plus the clicks and purchases reported only as feedback (a pair the behaviour already
    holds is not added twice), in event-time order. Ignored impressions are left out of the deep model's training:
    its full-softmax objective already pushes down every item but the next one, and the online learner uses them."""
    extra = store.feedback_positives(since)
    if not extra:
        return cols
    users, items, types, values, ts = (list(c) for c in cols)
    have = set(zip(users, items))
    for user, item, action, t in extra:
        if (user, item) not in have:
            have.add((user, item))
            users.append(user), items.append(item), types.append(action), values.append(None), ts.append(t)
    order = sorted(range(len(ts)), key=ts.__getitem__)
    return tuple([c[k] for k in order] for c in (users, items, types, values, ts))


def _training_data(store: EventStore, cfg: RetrainConfig) -> tuple[Positives, Split]:
    """The positives of the training window, split in time: the newest share is the holdout."""
    latest = store.latest_ts()
    since = None if latest is None or cfg.window_s is None else latest - cfg.window_s
    data = Positives.from_columns(*with_feedback(store.interaction_columns(since=since), store, since),
                                  rating_threshold=cfg.rating_threshold)
    if len(data) < cfg.min_interactions:
        raise RecstreamError(f"only {len(data)} positive interactions in the training window; need at least "
                             f"{cfg.min_interactions} (produce more events or widen RECSTREAM_RETRAIN_WINDOW_S)")
    split = temporal_split(data, cfg.deep.history, cfg.holdout_share, cfg.eval_max)
    if len(split.holdout) == 0 or len(split.train) == 0:
        raise RecstreamError("the temporal split left no training or no held-out events; more events are needed")
    return data, split


def _starting_model(cfg: RetrainConfig, deep_cfg: DeepConfig, items: list[str], live_version: ModelVersion | None,
                    live_model: DeepModel | None) -> tuple[DeepModel, int, int | None]:
    """(model, epochs, parent id): warm-started from live when it has the same shape, else new."""
    same_shape = live_model is not None and (live_model.config.dim, live_model.config.history) == (
        deep_cfg.dim, deep_cfg.history)
    if live_model is not None and live_version is not None and cfg.warm_start and same_shape:
        return DeepModel.warm_start(live_model, items, deep_cfg), cfg.warm_epochs, live_version.id
    # first version, warm start off, or the search chose another shape than live's
    return DeepModel.new(deep_cfg, items), deep_cfg.epochs, None


def _online_search(store: EventStore, cfg: RetrainConfig) -> dict[str, Any]:
    """The online learner's search on a replay of the newest events: advice to apply (a worker keeps its
    learner, whose factor count cannot change mid-stream)."""
    assert cfg.tune is not None and cfg.tune.online_budget_s
    replay = store.newest_interactions(cfg.tune.online_events)
    online = tune_online(replay, cfg.online, budget_s=cfg.tune.online_budget_s)
    best = online.best
    found = {**online.as_dict(), "budget_s": cfg.tune.online_budget_s, "replayed_events": len(replay),
             "apply": f"RECSTREAM_ONLINE_LEARNING_RATE={best['learning_rate']:.4g} "
                      f"RECSTREAM_ONLINE_FACTORS={best['n_factors']}"}
    log.info("online learner search: %s would score prequential Recall@10 %.4f vs %s now", found["apply"],
             online.best_score, online.default_score)
    return found


def _release(registry: Registry, cfg: RetrainConfig, result: RetrainResult, passed: bool, why: str,
             has_live: bool) -> RetrainResult:
    """What the gate's verdict does to the registered version: rejected, left a candidate, canary, or live."""
    version = result.version
    assert version is not None
    if not passed:
        return result
    if not cfg.auto_promote:
        return replace(result, outcome="candidate")
    if cfg.canary_share > 0 and has_live:
        version = registry.start_canary(version.id, share=cfg.canary_share, actor="trainer",
                                        reason=f"passed the gate: {why}")
        return replace(result, outcome="canary", version=version)
    version = registry.promote(version.id, actor="trainer", reason=f"passed the gate: {why}")
    return replace(result, outcome="promoted", version=version)


def quantized_variant(model: DeepModel, items: list[str], holdout: Any, float_metrics: dict[str, Any],
                      cfg: RetrainConfig, stem: str, float_size: int) -> dict[str, Any]:
    """Build the int8 variant, judge it on the same holdout, time both, and write its artefact when it is within
    tolerance. What is returned goes into the version's metrics; `served` tells workers which one to load."""
    q = Int8Scorer.from_model(model)
    m = evaluate(deep_scorer(q, items), holdout)
    tol = cfg.quantize_tolerance or 0.0
    within = all(m[k] >= float_metrics[k] * (1 - tol) for k in ("recall_at_10", "ndcg_at_10"))
    lut = np.array([PAD, *model.rows(items)], dtype=np.int64)
    sample = [lut[h].tolist() for h in holdout.hist[:300]]
    top10_latency_ms(q.scores, sample[:20])  # warm both paths before timing
    top10_latency_ms(model.scorer.scores, sample[:20])
    latency = {"int8": top10_latency_ms(q.scores, sample), "float32": top10_latency_ms(model.scorer.scores, sample)}
    faster = latency["int8"]["p50"] <= latency["float32"]["p50"]
    served = within and (faster or not cfg.quantize_require_faster)
    data = q.to_bytes()
    if not within:
        why = (f"int8 Recall@10 {m['recall_at_10']:.4f} / NDCG@10 {m['ndcg_at_10']:.4f} vs float "
               f"{float_metrics['recall_at_10']:.4f} / {float_metrics['ndcg_at_10']:.4f}: more than {tol:.0%} lower")
    elif not served:
        why = (f"within tolerance but slower: top-10 p50 {latency['int8']['p50']} ms vs float "
               f"{latency['float32']['p50']} ms on {len(items)} items")
    else:
        why = "within tolerance" + ("" if faster else " (slower, served as configured)")
    out: dict[str, Any] = {
        "recall_at_10": m["recall_at_10"], "ndcg_at_10": m["ndcg_at_10"], "tolerance": tol, "served": served,
        "size_bytes": len(data), "float_size_bytes": float_size, "top10_latency_ms": latency, "why": why}
    if served:
        path, sha, sig = write_artefact(data, cfg.artefact_dir, f"{stem}.int8.pt", cfg.artefact_key)
        out.update(artefact=path, sha256=sha, signature=sig)
    log.info("int8 variant: %s (%d → %d bytes)", out["why"], float_size, len(data))
    return out


def gate(metrics: dict[str, Any], margin: float) -> tuple[bool, str]:
    """Promote only a candidate that beats popularity, and beats live by `margin` NDCG@10 when there is one."""
    cand, pop, live = metrics["candidate"], metrics["popularity"], metrics["live"]
    c = cand["ndcg_at_10"]
    if c <= pop["ndcg_at_10"]:
        return False, f"NDCG@10 {c:.4f} does not beat popularity's {pop['ndcg_at_10']:.4f}"
    if live is not None and c < live["ndcg_at_10"] + margin:
        return False, (f"NDCG@10 {c:.4f} does not beat live {metrics['live_version']}'s "
                       f"{live['ndcg_at_10']:.4f} by the margin {margin}")
    against = f"live {metrics['live_version']}'s {live['ndcg_at_10']:.4f}" if live is not None else "no live version"
    return True, f"NDCG@10 {c:.4f} vs popularity {pop['ndcg_at_10']:.4f} and {against}"
