"""What request filters cost: a recommendation's latency with no filter, with the catalogue hiding 90% of 10,000
items, with a category filter that keeps 10%, with 64 unknown categories new on every request (an attack on
the mask cache), and with 500 excluded ids — the worker's own code path (mask, blend,
top k), in process, on the same model and users.

    python bench/filters.py [--items 10000] [--requests 3000]

Prints one JSON object: p50/p99 per case and each case's p50 over the unfiltered one.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import numpy as np
from common import add_smoke, shrink

from recstream.models.catalogue.catalogue import Catalogue
from recstream.models.catalogue.items import ItemRecord
from recstream.models.data.synthetic import SyntheticSpec, generate
from recstream.models.online.config import OnlineConfig
from recstream.models.online.recommender import OnlineRecommender
from recstream.models.serving.ask import Ask
from recstream.models.serving.blend import blend
from recstream.models.serving.filters import Filters, deny_mask
from recstream.models.serving.mix import ServedMix


def timed(online: OnlineRecommender, catalogue: Catalogue, users: list[str], filters: Filters | Callable[[int], Filters],
          k: int) -> dict:
    seconds, lengths = [], []
    for n, u in enumerate(users):
        f = filters(n) if callable(filters) else filters
        t = time.perf_counter()
        rec, _ = blend(online, None, Ask(u, k, deny=deny_mask(online, catalogue, f)), ServedMix(0.0, 0.0))
        seconds.append(time.perf_counter() - t)
        lengths.append(len(rec.items))
    ms = np.array(seconds) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3), "p99_ms": round(float(np.percentile(ms, 99)), 3),
            "full_lists": float(np.mean(np.array(lengths) == k))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--users", type=int, default=5_000)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--requests", type=int, default=3_000)
    ap.add_argument("--k", type=int, default=10)
    add_smoke(ap)
    args = ap.parse_args()
    shrink(args, items=1000, users=200, events=5000, requests=100)
    online = OnlineRecommender(OnlineConfig())
    online.learn(list(generate(SyntheticSpec(users=args.users, items=args.items, events=args.events, seed=3))))
    ids = list(online.item_ids)
    rng = np.random.default_rng(0)
    users = [f"u{i}" for i in rng.integers(0, args.users, args.requests)]
    keep = set(rng.choice(len(ids), len(ids) // 10, replace=False).tolist())
    cases = {"no filter": (Catalogue(), Filters())}
    hidden = Catalogue()
    hidden.apply([ItemRecord(i, available=r in keep) for r, i in enumerate(ids)])
    cases["catalogue hides 90% (unavailable)"] = (hidden, Filters())
    tagged = Catalogue()
    tagged.apply([ItemRecord(i, categories=("kept",) if r in keep else ("other",)) for r, i in enumerate(ids)])
    cases["category filter keeps 10%"] = (tagged, Filters(categories=("kept",)))
    # An attacker's filter: 64 categories no item has, new ones on every request (each new set used to build a
    # mask over every item).
    cases["64 unknown categories, new each request"] = (
        tagged, lambda n: Filters(categories=tuple(f"nope-{n}-{c}" for c in range(64))))
    cases["500 excluded ids"] = (Catalogue(), Filters(exclude=tuple(rng.choice(ids, 500, replace=False).tolist())))
    for catalogue, filters in cases.values():  # warm: masks built, caches filled
        timed(online, catalogue, users[:50], filters, args.k)
    out = {name: timed(online, c, users, f, args.k) for name, (c, f) in cases.items()}
    base = out["no filter"]["p50_ms"]
    for v in out.values():
        v["p50_over_no_filter"] = round(v["p50_ms"] / base, 2)
    one = out["category filter keeps 10%"]
    out["64 unknown categories, new each request"]["p99_over_one_category"] = round(
        out["64 unknown categories, new each request"]["p99_ms"] / one["p99_ms"], 2)
    print(json.dumps({"bench": "filters", "items": online.n_items, "requests": args.requests, "k": args.k,
                      "cases": out}, indent=2))


if __name__ == "__main__":
    main()
