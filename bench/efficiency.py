"""Float vs int8 deep model: artefact size, top-10 scoring latency over 10k and 100k items, holdout quality.

    python bench/efficiency.py [--events 200000] [--epochs 3]

Prints one JSON object. Latency and size use models over 10k and 100k items with the default dimensions (the
cost does not depend on the weights); quality comes from a real retrain (synthetic stream, 10k items) whose
gate also judged the int8 variant on the same temporal holdout, and from the same retrain with a time-budgeted
hyper-parameter search first (both cold-started, so only the parameters differ).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
from common import add_smoke, shrink

from recstream.models.data.synthetic import SyntheticSpec, generate
from recstream.models.deep.config import DeepConfig
from recstream.models.deep.model import DeepModel
from recstream.models.deep.quantize import Int8Scorer, top10_latency_ms
from recstream.models.retrain.config import RetrainConfig, TuneConfig
from recstream.models.retrain.run import retrain
from recstream.models.store.db import create_db_engine, upgrade
from recstream.models.store.events import EventStore


def latency_and_size(n_items: int, requests: int = 2_000) -> dict:
    cfg = DeepConfig()
    model = DeepModel.new(cfg, [f"i{i}" for i in range(n_items)])
    q = Int8Scorer.from_model(model)
    rng = np.random.default_rng(0)
    histories = [rng.integers(1, n_items + 1, size=cfg.history).tolist() for _ in range(requests)]
    top10_latency_ms(model.scorer.scores, histories[:50])  # warm both paths
    top10_latency_ms(q.scores, histories[:50])
    f, i8 = top10_latency_ms(model.scorer.scores, histories), top10_latency_ms(q.scores, histories)
    fb, qb = len(model.to_bytes()), len(q.to_bytes())
    return {"items": n_items, "dim": cfg.dim, "artefact_bytes": {"float32": fb, "int8": qb},
            "size_ratio_int8_vs_float": round(qb / fb, 3), "top10_latency_ms": {"float32": f, "int8": i8},
            "p50_ratio_int8_vs_float": round(i8["p50"] / f["p50"], 3),
            "p99_ratio_int8_vs_float": round(i8["p99"] / f["p99"], 3)}


def quality(events: int, epochs: int, budget_s: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_db_engine(f"sqlite:///{tmp}/q.db")
        upgrade(engine)
        EventStore(engine).add_interactions(list(generate(SyntheticSpec(users=5_000, items=10_000, events=events,
                                                                        seed=1))))
        cfg = RetrainConfig(deep=DeepConfig(epochs=epochs), artefact_dir=Path(tmp) / "a", warm_start=False)
        r = retrain(engine, cfg, trigger="manual", requested_by="bench", progress=sys.stderr.isatty())
        # The same retrain with a search first (cold start too, so only the parameters differ).
        tuned_cfg = replace(cfg, tune=TuneConfig(budget_s=budget_s, epochs=1))
        t = retrain(engine, tuned_cfg, trigger="manual", requested_by="bench", progress=sys.stderr.isatty())
        m = r.metrics
        i8 = m["int8"]
        search = t.metrics["tuning"]
        tuned = {"default_candidate_ndcg_at_10": round(m["candidate"]["ndcg_at_10"], 4),
                 "tuned_candidate_ndcg_at_10": round(t.metrics["candidate"]["ndcg_at_10"], 4),
                 "ratio_tuned_vs_default": round(t.metrics["candidate"]["ndcg_at_10"] / m["candidate"]["ndcg_at_10"], 3),
                 "search_wall_s": search["wall_s"], "budget_s": budget_s, "trials": len(search["trials"]),
                 "best_params": search["best"],
                 "validation_ndcg_at_10": {"default": search["default_score"], "best": search["best_score"]}}
        return {"tuned_vs_default": tuned, "interactions": events, "epochs": epochs, "holdout_events": m["holdout_events"],
                "float32": {k: round(m["candidate"][k], 4) for k in ("recall_at_10", "ndcg_at_10")},
                "int8": {k: round(i8[k], 4) for k in ("recall_at_10", "ndcg_at_10")},
                "tolerance": i8["tolerance"], "int8_served": i8["served"],
                "artefact_bytes": {"float32": i8["float_size_bytes"], "int8": i8["size_bytes"]}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--tune-budget-s", type=float, default=180.0)
    ap.add_argument("--items", default="10000,100000", help="catalogue sizes of the latency and size comparison")
    add_smoke(ap)
    args = shrink(ap.parse_args(), events=5_000, epochs=1, tune_budget_s=2.0, items="2000")
    sizes = [int(n) for n in args.items.split(",")]
    print(json.dumps({"bench": "efficiency", "latency_and_size": [latency_and_size(n) for n in sizes],
                      "holdout_quality": quality(args.events, args.epochs, args.tune_budget_s)}, indent=2))


if __name__ == "__main__":
    main()
