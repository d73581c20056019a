"""The deep model's sampled-softmax training against its full softmax: holdout NDCG@10 and seconds an epoch on
the same temporal split; then an epoch at a catalogue size where only the sampled one is practical.

    python bench/sampled.py [FILE] [--items 10000] [--events 300000] [--epochs 4] [--negatives 1024]
                            [--large-items 1000000] [--large-events 10000000] [--large-share 1.0] [--smoke]

FILE is anything `recstream produce` reads; without it a synthetic stream of `--events` over `--items` items.
The large part trains on (history, next item) pairs drawn with Zipf popularity (shapes as a retrain's, the
content random: it times an epoch, it does not judge one); `--large-share` trains that share of the epoch and
projects the whole. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from common import add_smoke, shrink

from recstream.models.data.files import read_interactions
from recstream.models.data.synthetic import SyntheticSpec, generate
from recstream.models.deep import training
from recstream.models.deep.config import DeepConfig
from recstream.models.deep.model import DeepModel


def positives(args: argparse.Namespace) -> tuple[str, training.Positives]:
    if args.file:
        events = read_interactions(args.file)
        name = args.file
    else:
        spec = SyntheticSpec(users=max(args.items, 100), items=args.items, events=args.events, seed=args.seed)
        events, name = list(generate(spec)), f"synthetic(items={args.items}, events={args.events})"
    cols = ([e.user_id for e in events], [e.item_id for e in events], [e.type for e in events],
            [e.value for e in events], [e.ts for e in events])
    return name, training.Positives.from_columns(*cols)


def compare(data: training.Positives, base: DeepConfig, negatives: int) -> dict:
    """Full and sampled softmax trained on the same split, the same epochs."""
    split = training.temporal_split(data, base.history, 0.1, 20_000)
    out = {}
    for name, cfg in (("full", base), ("sampled", DeepConfig(**{**vars(base), "sampled_negatives": negatives}))):
        model = DeepModel.new(cfg, data.item_ids)
        t = time.perf_counter()
        model.fit(*training.training_pairs(split, model, data.item_ids))
        seconds = time.perf_counter() - t
        metrics = training.evaluate(training.deep_scorer(model, data.item_ids), split.holdout)
        out[name] = {"ndcg_at_10": round(metrics["ndcg_at_10"], 4), "recall_at_10": round(metrics["recall_at_10"], 4),
                     "seconds_per_epoch": round(seconds / max(cfg.epochs, 1), 2)}
    pop = training.evaluate(training.popularity_scorer(split.train_counts), split.holdout)
    full = out["full"]["ndcg_at_10"]
    return {"positives": len(data), "items": len(data.item_ids), "train_pairs": len(split.train),
            "holdout": len(split.holdout), **out, "popularity_ndcg_at_10": round(pop["ndcg_at_10"], 4),
            "sampled_over_full_ndcg": round(out["sampled"]["ndcg_at_10"] / full, 3) if full else None,
            "full_over_sampled_seconds": round(out["full"]["seconds_per_epoch"]
                                               / max(out["sampled"]["seconds_per_epoch"], 1e-9), 1)}


def large_epoch(items: int, pairs: int, share: float, base: DeepConfig, negatives: int, seed: int) -> dict:
    """Seconds for `share` of an epoch over `pairs` pairs at `items` items (sampled softmax), and the projection."""
    rng = np.random.default_rng(seed)
    zipf = 1.0 / np.arange(1, items + 1)
    p = zipf / zipf.sum()
    n = max(int(pairs * share), base.batch_size)
    target = (rng.choice(items, n, p=p) + 1).astype(np.int32)
    hist = (rng.choice(items, (n, base.history), p=p) + 1).astype(np.int32)
    cfg = DeepConfig(**{**vars(base), "sampled_negatives": negatives, "epochs": 1})
    model = DeepModel.new(cfg, [f"i{i}" for i in range(items)])
    t = time.perf_counter()
    model.fit(hist, target)
    seconds = time.perf_counter() - t
    return {"items": items, "pairs": pairs, "trained_share": round(n / pairs, 4), "seconds": round(seconds, 1),
            "epoch_seconds_projected": round(seconds * pairs / n, 1), "negatives": negatives,
            "batch_size": cfg.batch_size, "dim": cfg.dim}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("file", nargs="?")
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--events", type=int, default=300_000)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--negatives", type=int, default=1024)
    ap.add_argument("--large-items", type=int, default=1_000_000)
    ap.add_argument("--large-events", type=int, default=10_000_000, help="0: skip the large epoch")
    ap.add_argument("--large-share", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=3)
    add_smoke(ap)
    args = shrink(ap.parse_args(), items=300, events=6_000, epochs=1, negatives=64, large_items=5_000,
                  large_events=20_000)
    base = DeepConfig(epochs=args.epochs)
    name, data = positives(args)
    out = {"bench": "sampled", "data": name, "compare": compare(data, base, args.negatives)}
    if args.large_events:
        out["large_epoch"] = large_epoch(args.large_items, args.large_events, args.large_share, base,
                                         args.negatives, args.seed)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
