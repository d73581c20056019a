"""Retraining: time on 1M interactions, warm vs cold start, and the candidate against popularity and online.

    python bench/retrain.py [--events 1000000] [--skip-1m] [--movielens PATH]

1. 1M synthetic interactions stored in SQLite; one full `retrain()` (read the window, cold-train, evaluate, register)
   timed end to end, with the candidate's holdout Recall@10/NDCG@10 vs popularity and vs the online model (River
   MF as the worker runs it, test-then-learn on the same held-out events).
2. Warm vs cold start (MovieLens latest-small when present, and 200k synthetic events): a parent is trained on the
   oldest 80% of the window; then on the whole window a cold model and a model warm-started from the parent are
   trained epoch by epoch, NDCG@10 on the same holdout after each. Reported: the epochs each needs to reach the
   cold model's best NDCG@10 (within 2%).
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import add_smoke, shrink

from recstream.models.data.files import read_interactions
from recstream.models.data.interaction import Interaction
from recstream.models.data.synthetic import SyntheticSpec, generate
from recstream.models.deep import training
from recstream.models.deep.config import DeepConfig
from recstream.models.deep.model import PAD, DeepModel
from recstream.models.online.config import OnlineConfig
from recstream.models.online.recommender import OnlineRecommender
from recstream.models.retrain.config import RetrainConfig
from recstream.models.retrain.run import retrain
from recstream.models.store.db import create_db_engine, upgrade
from recstream.models.store.events import EventStore

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-latest-small" / "ratings.csv"


def online_on_holdout(events: list[Interaction], data: training.Positives,
                      split: training.Split) -> dict[str, float]:
    """The online model as the worker runs it: learn everything before the split, then test-then-learn through
    the holdout, scoring exactly the deep model's held-out events before learning them."""
    rec = OnlineRecommender(OnlineConfig(prequential_sample=0.0))
    ex = split.holdout
    targets = {(data.user_ids[u], data.item_ids[i - 1], float(t)) for u, i, t in zip(ex.user, ex.target, ex.ts)}
    hits = ndcg = 0.0
    chunk: list[Interaction] = []
    for e in events:
        if e.ts >= split.split_ts and (e.user_id, e.item_id, float(e.ts)) in targets:
            if chunk:
                rec.learn(chunk, evaluate=False)
                chunk = []
            row = rec._item_row.get(e.item_id)
            if row is not None:
                scores = rec.scores(e.user_id)
                t = scores[row]
                rank = int((scores > t).sum() + (scores == t).sum() - 1) if np.isfinite(t) else 10**9
                if rank < 10:
                    hits += 1
                    ndcg += 1 / np.log2(rank + 2)
        chunk.append(e)
        if len(chunk) >= (10 if e.ts >= split.split_ts else 1000):
            rec.learn(chunk, evaluate=False)
            chunk = []
    n = max(len(ex), 1)
    return {"recall_at_10": hits / n, "ndcg_at_10": ndcg / n, "events": len(ex)}


def curve(model: DeepModel, split: training.Split, items: list[str], epochs: int) -> list[float]:
    """NDCG@10 after each epoch."""
    pairs = training.training_pairs(split, model, items)
    out = []
    for _ in range(epochs):
        model.fit(*pairs, epochs=1)
        out.append(round(training.evaluate(training.deep_scorer(model, items), split.holdout)["ndcg_at_10"], 4))
    return out


def warm_vs_cold(name: str, data: training.Positives, cfg: DeepConfig, epochs: int) -> dict:
    split = training.temporal_split(data, cfg.history, 0.1, 20_000)
    old = data.ts < np.quantile(data.ts, 0.8)
    parent_data = training.Positives(data.user[old], data.item[old], data.ts[old], data.item_ids, data.user_ids)
    parent_items = sorted({data.item_ids[i - 1] for i in np.unique(parent_data.item)})
    # The parent sees only the older items: the child must add the newer ones.
    parent_split = training.temporal_split(parent_data, cfg.history, 0.1, 5_000)
    parent = DeepModel.new(cfg, parent_items)
    lut = np.array([PAD, *parent.rows(data.item_ids)])
    parent.fit(lut[parent_split.train.hist], lut[parent_split.train.target], epochs=epochs)
    cold = curve(DeepModel.new(cfg, data.item_ids), split, data.item_ids, epochs)
    warm = curve(DeepModel.warm_start(parent, data.item_ids), split, data.item_ids, epochs)
    # "Equal" = within 2% of the cold model's best epoch (epoch-to-epoch noise is about that size).
    best = max(cold)
    reach = lambda c: next((i + 1 for i, x in enumerate(c) if x >= 0.98 * best), None)
    pop = training.evaluate(training.popularity_scorer(split.train_counts), split.holdout)["ndcg_at_10"]
    return {"dataset": name, "positives": len(data), "items": len(data.item_ids),
            "new_items_since_parent": len(data.item_ids) - len(parent_items),
            "ndcg_at_10_per_epoch": {"cold": cold, "warm": warm}, "popularity_ndcg_at_10": round(pop, 4),
            "epochs_to_98pct_of_cold_best": {"cold": reach(cold), "warm": reach(warm), "cold_best": best}}


def from_events(events: list[Interaction]) -> training.Positives:
    return training.Positives.from_columns([e.user_id for e in events], [e.item_id for e in events],
                                  [e.type for e in events], [e.value for e in events], [e.ts for e in events])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--skip-1m", action="store_true")
    ap.add_argument("--movielens", type=Path, default=SHARED)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--warm-events", type=int, default=200_000, help="synthetic events of the warm-vs-cold curve")
    add_smoke(ap)
    args = shrink(ap.parse_args(), events=5_000, epochs=1, warm_events=5_000, movielens=None)
    out: dict = {"bench": "retrain", "torch_threads": __import__("torch").get_num_threads()}
    cfg = DeepConfig(epochs=args.epochs)

    if not args.skip_1m:
        spec = SyntheticSpec(users=20_000, items=10_000, genres=12, events=args.events, seed=3)
        events = list(generate(spec))
        with tempfile.TemporaryDirectory() as tmp:
            engine = create_db_engine(f"sqlite:///{tmp}/r.db")
            upgrade(engine)
            t = time.perf_counter()
            for i in range(0, len(events), 50_000):
                EventStore(engine).add_interactions(events[i:i + 50_000])
            store_s = time.perf_counter() - t
            t = time.perf_counter()
            r = retrain(engine, RetrainConfig(deep=cfg, artefact_dir=Path(tmp) / "a"), trigger="manual",
                        requested_by="bench")
            total_s = time.perf_counter() - t
            data = training.Positives.from_columns(*EventStore(engine).interaction_columns())
        split = training.temporal_split(data, cfg.history, 0.1, 20_000)
        t = time.perf_counter()
        online = online_on_holdout(events, data, split)
        m = r.metrics
        out["one_million"] = {
            "interactions": len(events), "positives": m["train_examples"] + m["holdout_events"],
            "store_s": round(store_s, 1), "retrain_total_s": round(total_s, 1), "read_window_s": m["load_s"],
            "train_s": m["train_s"], "epochs": m["epochs"],
            "train_s_per_epoch": round(m["train_s"] / max(m["epochs"], 1), 1), "outcome": r.outcome,
            "holdout": {"deep_candidate": m["candidate"], "popularity": m["popularity"], "online_river_mf": online},
            "online_eval_s": round(time.perf_counter() - t, 1),
        }
        print(json.dumps(out["one_million"]), file=sys.stderr)

    curves = []
    if args.movielens is not None and args.movielens.is_file():
        curves.append(warm_vs_cold("movielens-latest-small", from_events(read_interactions(args.movielens)),
                                   cfg, args.epochs))
    curves.append(warm_vs_cold("synthetic-200k", from_events(list(generate(SyntheticSpec(
        users=5_000, items=5_000, events=args.warm_events, seed=11)))), cfg, args.epochs))
    out["warm_vs_cold"] = curves
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
