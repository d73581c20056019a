"""Top-N quality of the online recommender vs popularity, test-then-learn, on the same replay.

    python bench/replay.py [--movielens ../shared/data/ml-latest-small/ratings.csv] [--chunk 10]

For each positive event (rating >= 4, or any implicit event), before learning it: was the item in that user's
top-10 (seen items excluded)? Prints one JSON object with Recall@10 and 95% intervals per model and dataset.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

from common import add_smoke, shrink

from recstream.models.data.files import read_interactions
from recstream.models.data.synthetic import SyntheticSpec, generate
from recstream.models.online.config import OnlineConfig
from recstream.models.online.replay import popularity_config, replay


def compare(name: str, events: list, chunk: int) -> dict:
    base = replace(OnlineConfig(), prequential_sample=1.0)
    out = {"events": len(events)}
    for label, cfg in (("popularity", popularity_config(base)), ("online_default", base),
                       # the default before co-occurrence: factors + a log-popularity blend of 2
                       ("online_without_cooccurrence", replace(base, cooccurrence_weight=0.0, popularity_blend=2.0)),
                       ("online_squared_loss_no_negatives", replace(base, loss="squared", negatives=0,
                                                                    popularity_blend=3.0))):
        t = time.perf_counter()
        r = replay(events, cfg, label, chunk=chunk)
        out[label] = {**r.as_dict(), "seconds": round(time.perf_counter() - t, 1)}
    default, popular = out["online_default"], out["popularity"]
    out["default_minus_popularity"] = round(default["recall_at_10"] - popular["recall_at_10"], 4)
    out["default_over_popularity"] = round(default["recall_at_10"] / popular["recall_at_10"], 3)
    out["default_ci95_above_popularity"] = default["ci95"][0] > popular["ci95"][1]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    default_ml = Path(__file__).resolve().parents[1].parent / "shared/data/ml-latest-small/ratings.csv"
    ap.add_argument("--movielens", default=str(default_ml))
    ap.add_argument("--chunk", type=int, default=10, help="events learned together (the worker learns ~per second)")
    ap.add_argument("--events", type=int, default=60_000, help="synthetic events")
    add_smoke(ap)
    args = shrink(ap.parse_args(), events=3_000, movielens="")
    result = {"bench": "replay", "metric": "prequential Recall@10, seen items excluded", "chunk": args.chunk,
              "synthetic": compare("synthetic", list(generate(SyntheticSpec(events=args.events, seed=11))), args.chunk)}
    if args.movielens and Path(args.movielens).is_file():
        result["movielens_latest_small"] = compare("movielens", read_interactions(args.movielens), args.chunk)
    else:
        result["movielens_latest_small"] = f"skipped: {args.movielens} not found"
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
