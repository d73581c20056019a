"""Similar items ("more like this"), judged on a stream: given a user's last positive item, is their next positive
among the k items the model calls similar to it? Test-then-learn, against the EASE item-item reference (refit
every 2,000 positives, best of its ridge strengths) and popularity, on the same probes.

    python bench/similar.py FILE [--format auto] [--limit N] [--k 10]
    python bench/similar.py --synthetic [--sessions] [--events 60000]

Variants of recstream's scorer (models/serving/similar.py) are judged too: other popularity exponents, co-occurrence
without the popular fill-in, and the item factors' cosine. Prints one JSON object (hit rates with 95% Wilson intervals).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
from common import add_smoke, shrink
from tqdm import tqdm

from recstream.models.data.files import read_interactions
from recstream.models.data.positive import is_positive
from recstream.models.data.synthetic import SyntheticSpec, generate
from recstream.models.evaluation.references import References
from recstream.models.online.config import OnlineConfig
from recstream.models.online.recommender import OnlineRecommender
from recstream.models.serving.similar import POPULARITY_EXPONENT, similar
from recstream.models.stats import wilson_interval

EXPONENTS = (0.0, 0.1, 0.25, 0.5)
SERVED = f"recstream (popularity exponent {POPULARITY_EXPONENT})"


def ease_similar(refs: References, item: str, k: int) -> dict[float, list[str]]:
    c = refs.col.get(item)
    if c is None or not refs.b or c >= len(next(iter(refs.b.values()))):
        return {}
    out = {}
    for lam, b in refs.b.items():
        row = b[c].copy()
        row[c] = -np.inf
        out[lam] = [refs.ids[j] for j in np.argsort(-row, kind="stable")[:k]]
    return out


def run(events: list, k: int, probe_every: int, warmup: int, cfg: OnlineConfig) -> dict:
    online, ease = OnlineRecommender(cfg), References()
    last: dict[str, str] = {}
    hits: dict[str, int] = {}
    trials = 0
    popular: dict[str, int] = {}
    positives = 0
    for n, e in enumerate(tqdm(events, unit="ev", file=sys.stderr, mininterval=2)):
        pos = is_positive(e.type, e.value, cfg.event_weights, cfg.rating_threshold)
        if pos and e.user_id in last and positives >= warmup and positives % probe_every == 0:
            prev = last[e.user_id]
            trials += 1
            lists = {f"recstream (popularity exponent {a})": similar(online, prev, k, exponent=a).items
                     for a in EXPONENTS}
            r = online.item_row(prev)
            rows = online.cooccurrence.companions(r, POPULARITY_EXPONENT)[0] if r is not None else []
            lists["co-occurrence alone (no popular fill)"] = [online.item_ids[x] for x in rows if x != r][:k]
            lists["item factors (cosine)"] = [online.item_ids[r] for r in online.similar_by_factors(online.item_row(prev), k)[0]] \
                if online.item_row(prev) is not None else []
            for lam, items in ease_similar(ease, prev, k).items():
                lists[f"EASE (lambda {lam:g})"] = items
            lists["popularity"] = [i for i, _ in sorted(popular.items(), key=lambda t: -t[1])[:k + 1] if i != prev][:k]
            for name, items in lists.items():
                hits[name] = hits.get(name, 0) + (e.item_id in items)
        online.learn([e])
        if pos:
            positives += 1
            ease.learn(e.user_id, e.item_id)
            last[e.user_id] = e.item_id
            popular[e.item_id] = popular.get(e.item_id, 0) + 1
    return report(hits, trials)


def report(hits: dict[str, int], trials: int) -> dict:
    rates = {name: {"hit_rate": round(h / max(trials, 1), 4), "ci95": [round(x, 4) for x in wilson_interval(h, trials)]}
             for name, h in sorted(hits.items(), key=lambda t: -t[1])}
    eases = [v["hit_rate"] for name, v in rates.items() if name.startswith("EASE")]
    served = rates.get(SERVED, {}).get("hit_rate", 0.0)
    best_ease = max(eases) if eases else None
    ease_name = max((n for n in rates if n.startswith("EASE")), key=lambda n: rates[n]["hit_rate"], default=None)
    return {"probes": trials, "hit_rate_at_k": rates,
            "served_over_best_ease": round(served / best_ease, 3) if best_ease else None,
            "served_ci95_above_best_ease": bool(ease_name and rates[SERVED]["ci95"][0] > rates[ease_name]["ci95"][1])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("file", nargs="?")
    ap.add_argument("--format", default="auto", choices=["auto", "udata", "dat", "csv"])
    ap.add_argument("--limit", type=int)
    ap.add_argument("--synthetic", action="store_true")
    ap.add_argument("--sessions", action="store_true")
    ap.add_argument("--events", type=int, default=60_000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--probe-every", type=int, default=3, help="judge every Nth positive")
    ap.add_argument("--pair-decay", type=float, help="RECSTREAM_ONLINE_SIMILAR_PAIR_DECAY (default: the learner's)")
    ap.add_argument("--warmup", type=int, default=2_000, help="positives learned before the first probe")
    add_smoke(ap)
    args = ap.parse_args()
    shrink(args, events=3000, warmup=300, synthetic=True)
    if args.synthetic == (args.file is not None):
        sys.exit("give either FILE or --synthetic")
    if args.synthetic:
        name = f"synthetic({'sessions, ' if args.sessions else ''}events={args.events}, seed={args.seed})"
        events = list(generate(SyntheticSpec(events=args.events, seed=args.seed, sessions=args.sessions)))
    else:
        name, events = args.file, read_interactions(args.file, args.format, args.limit)
    t = time.perf_counter()
    cfg = OnlineConfig() if args.pair_decay is None else OnlineConfig(similar_pair_decay=args.pair_decay)
    out = run(events, args.k, args.probe_every, args.warmup, cfg)
    print(json.dumps({"bench": "similar", "data": name, "events": len(events), "k": args.k,
                      "served": SERVED, **out, "seconds": round(time.perf_counter() - t, 1)},
                     indent=2))


if __name__ == "__main__":
    main()
