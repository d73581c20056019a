"""Time-budgeted hyper-parameter search for the deep model (Optuna, TPE), inside a retrain.

Trials train on the older part of the training window and are judged by NDCG@10 on its newest slice (the same
temporal rule as the gate, one step earlier), so the gate's holdout never influences the choice. The current
configuration is the first trial: the search reports how much it gained over it. Every trial is recorded.
A trial still running when the budget ends is cut at the next batch and recorded as such.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, replace
from typing import Any

from recstream.models.data.interaction import Interaction
from recstream.models.deep.config import DeepConfig
from recstream.models.deep.model import DeepModel
from recstream.models.deep.training import (
    Positives,
    Split,
    deep_scorer,
    evaluate,
    temporal_split,
    training_pairs,
)
from recstream.models.errors import ConfigError
from recstream.models.online.config import OnlineConfig
from recstream.models.retrain.config import TuneConfig

log = logging.getLogger("recstream.tuning")


@dataclass
class TuneResult:
    best: dict[str, Any]
    best_score: float
    #: the current configuration's score (the first trial), when it was in the search space
    default_score: float | None
    trials: list[dict[str, Any]]
    wall_s: float
    #: what the scores are: NDCG@10 on the validation slice (deep), prequential Recall@10 on a replay (online)
    metric: str = "ndcg_at_10"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _result(trials: list[dict[str, Any]], key: str, metric: str, started: float, none_finished: str) -> TuneResult:
    """The best complete trial by `key`, and trial 0's score when it completed (the current configuration)."""
    complete = [t for t in trials if t["state"] == "complete"]
    if not complete:
        raise ConfigError(none_finished)
    best = max(complete, key=lambda t: t[key])
    first = next((t for t in complete if t["number"] == 0), None)
    return TuneResult(best["params"], best[key], first[key] if first else None, trials,
                      round(time.monotonic() - started, 2), metric)


def tune(data: Positives, split: Split, base: DeepConfig, cfg: TuneConfig) -> TuneResult:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    started = time.monotonic()
    deadline = started + cfg.budget_s
    older = data.ts < split.split_ts
    inner_data = Positives(data.user[older], data.item[older], data.ts[older], data.item_ids, data.user_ids)
    inner = temporal_split(inner_data, base.history, 0.1, cfg.eval_max)
    items = data.item_ids
    trials: list[dict[str, Any]] = []
    sp = cfg.space

    def objective(trial: Any) -> float:
        params = {
            "dim": trial.suggest_categorical("dim", list(sp.dim)),
            "learning_rate": trial.suggest_float("learning_rate", *sp.learning_rate, log=True),
            "weight_decay": trial.suggest_float("weight_decay", *sp.weight_decay, log=True),
            "batch_size": trial.suggest_categorical("batch_size", list(sp.batch_size)),
        }
        t0 = time.monotonic()
        model = DeepModel.new(replace(base, epochs=cfg.epochs, **params), items)
        done = model.fit(*training_pairs(inner, model, items), epochs=cfg.epochs,
                         should_stop=lambda: time.monotonic() >= deadline)
        record: dict[str, Any] = {"number": trial.number, "params": params,
                                  "seconds": round(time.monotonic() - t0, 2)}
        trials.append(record)
        if not done:
            record["state"] = "cut by the time budget"
            raise optuna.TrialPruned()
        m = evaluate(deep_scorer(model, items), inner.holdout)
        record.update(state="complete", ndcg_at_10=m["ndcg_at_10"], recall_at_10=m["recall_at_10"])
        log.info("trial %d: NDCG@10 %.4f with %s (%.1fs)", trial.number, m["ndcg_at_10"], params, record["seconds"])
        return float(m["ndcg_at_10"])

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=cfg.seed))
    default = {"dim": base.dim, "learning_rate": base.learning_rate, "batch_size": base.batch_size,
               "weight_decay": min(max(base.weight_decay, sp.weight_decay[0]), sp.weight_decay[1])}
    default["learning_rate"] = min(max(default["learning_rate"], sp.learning_rate[0]), sp.learning_rate[1])
    if base.dim in sp.dim and base.batch_size in sp.batch_size:
        study.enqueue_trial(default, skip_if_exists=True)  # the current configuration first: a baseline
    study.optimize(objective, n_trials=cfg.max_trials, timeout=cfg.budget_s)
    return _result(trials, "ndcg_at_10", "ndcg_at_10", started,
                   f"no tuning trial finished within RECSTREAM_TUNE_BUDGET_S={cfg.budget_s:g}s; "
                   "raise the budget or lower RECSTREAM_TUNE_EPOCHS")


# ---- the online learner --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OnlineSpace:
    learning_rate: tuple[float, float] = (0.01, 0.2)
    n_factors: tuple[int, ...] = (8, 16, 32, 64)


def tune_online(events: list[Interaction], base: OnlineConfig, *, budget_s: float, max_trials: int = 20,
                space: OnlineSpace | None = None, chunk: int = 30, seed: int = 0) -> TuneResult:
    """Learning rate and factor count of the online learner, judged by test-then-learn Recall@10 on a replay of
    `events` (the newest of the store), as the worker learns them (in chunks). The running workers keep their
    configuration: the result says what RECSTREAM_ONLINE_LEARNING_RATE / _FACTORS would have scored."""
    import optuna

    from recstream.models.online.recommender import OnlineRecommender

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sp = space or OnlineSpace()
    started = time.monotonic()
    deadline = started + budget_s
    trials: list[dict[str, Any]] = []

    def objective(trial: Any) -> float:
        params = {"learning_rate": trial.suggest_float("learning_rate", *sp.learning_rate, log=True),
                  "n_factors": trial.suggest_categorical("n_factors", list(sp.n_factors))}
        t0 = time.monotonic()
        rec = OnlineRecommender(replace(base, prequential_sample=max(base.prequential_sample, 0.2),
                                        prequential_max_per_s=None, **params))
        record: dict[str, Any] = {"number": trial.number, "params": params}
        trials.append(record)
        for i in range(0, len(events), chunk):
            if time.monotonic() >= deadline:
                record.update(state="cut by the time budget", seconds=round(time.monotonic() - t0, 2))
                raise optuna.TrialPruned()
            rec.learn(events[i:i + chunk])
        recall = rec.prequential.recall_at_10 or 0.0
        record.update(state="complete", recall_at_10=recall, trials_scored=rec.prequential.trials,
                      seconds=round(time.monotonic() - t0, 2))
        return recall

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    if base.n_factors in sp.n_factors:
        lr = min(max(base.learning_rate, sp.learning_rate[0]), sp.learning_rate[1])
        study.enqueue_trial({"learning_rate": lr, "n_factors": base.n_factors})
    study.optimize(objective, n_trials=max_trials, timeout=budget_s)
    return _result(trials, "recall_at_10", "prequential_recall_at_10", started,
                   f"no online tuning trial finished within {budget_s:g}s; raise the budget or replay fewer events")
