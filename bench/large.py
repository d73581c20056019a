"""What a large catalogue and user base cost one worker's online learner, in process: memory, learning speed,
the served list's latency (plain, a category filter, 500 exclusions), similar items, a checkpoint, and cold
users evicted to a database and read back; then a slice of the stream through the embedded broker to a real
worker's ingest path, and an epoch of the deep model's sampled-softmax training at the same catalogue size.

    python bench/large.py [--scale 1.0] [--requests 500] [--kafka-events N] [--deep-share 0.1] [--smoke]

At scale 1: 1M users, 1M items (Zipf popularity within 12 genres), 10M synthetic events learned in chunks of
10,000 (the worker's learner and served recipe; no broker, no deep model). `--scale 0.1` is a tenth of each.
Prints one JSON object; progress on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from itertools import islice

import numpy as np
from common import rss_mb
from ingest import fill, run_worker_ingest
from sampled import large_epoch
from tqdm import tqdm

from recstream.models.catalogue.catalogue import Catalogue
from recstream.models.catalogue.items import ItemRecord
from recstream.models.data.synthetic import SyntheticSpec, generate
from recstream.models.deep.config import DeepConfig
from recstream.models.online import kernels, legacy
from recstream.models.online.checkpoint import OnlineCheckpoint
from recstream.models.online.recommender import OnlineRecommender
from recstream.models.serving.ask import Ask
from recstream.models.serving.blend import blend
from recstream.models.serving.candidates import candidate_rows
from recstream.models.serving.filters import Filters, deny_mask
from recstream.models.serving.mix import RecipeConfig, RetrievalConfig
from recstream.models.serving.recipe import ServedRecipe
from recstream.models.serving.similar import similar
from recstream.models.store.db import create_db_engine, upgrade
from recstream.models.store.user_states import UserStates
from recstream.stream.ingest.runtime import tune_for_throughput
from recstream.stream.kafka.broker import EmbeddedBroker
from recstream.stream.kafka.produce import event_json
from recstream.stream.kafka.topics import Topics, ensure_topics
from recstream.stream.settings import Settings
from recstream.stream.worker.eviction import Eviction

CHUNK = 10_000


def percentiles(seconds: list[float]) -> dict:
    ms = np.array(seconds) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3), "p99_ms": round(float(np.percentile(ms, 99)), 3)}


def learn(online: OnlineRecommender, spec: SyntheticSpec) -> float:
    """Learn the whole stream in chunks; the seconds spent learning (not generating)."""
    spent, events = 0.0, generate(spec, block=CHUNK)
    with tqdm(total=spec.events, unit="ev", file=sys.stderr, desc="learning") as bar:
        while chunk := list(islice(events, CHUNK)):
            t = time.perf_counter()
            online.learn(chunk)
            spent += time.perf_counter() - t
            bar.update(len(chunk))
    return spent


def serving(online: OnlineRecommender, recipe: ServedRecipe, users: list[str], rng: np.random.Generator) -> dict:
    """The served recipe's latency per request: plain, a category keeping 10% of items, 500 exclusions."""
    ids = online.item_ids
    tagged = Catalogue()
    tagged.apply([ItemRecord(i, categories=("kept",) if r % 10 == 0 else ("other",)) for r, i in enumerate(ids)])
    cases = {"plain": (Catalogue(), Filters()), "category keeping 10%": (tagged, Filters(categories=("kept",))),
             "500 excluded ids": (Catalogue(), Filters(exclude=tuple(rng.choice(ids, 500, replace=False).tolist())))}
    out = {}
    for name, (catalogue, filters) in cases.items():
        seconds = []
        for n, user in enumerate(users):
            t = time.perf_counter()
            recipe.serve(online, None, Ask(user, 10, deny=deny_mask(online, catalogue, filters)))
            if n >= 20:  # the first requests fill caches (the category's mask)
                seconds.append(time.perf_counter() - t)
        out[name] = percentiles(seconds)
    return out


def retrieval(online: OnlineRecommender, recipe: ServedRecipe, users: list[str]) -> dict:
    """The index the recipe serves from (built now, timed) and its candidates' recall of the exact top-100 of
    the online scores for personal users; beside it, the exact plain list's latency in the same run."""
    t = time.perf_counter()
    index = recipe.retrieval.index_for(online)
    recipe.retrieval.wait()
    index = recipe.retrieval.index_for(online)
    if index is None:
        return {"exact": f"below {recipe.cfg.retrieval.exact_below} items: every request scores every item"}
    build_s = time.perf_counter() - t
    recall, sizes, exact_s = [], [], []
    for user in users:
        query = online.dense_query(user)
        if query is None:
            continue
        t = time.perf_counter()
        blend(online, None, Ask(user, 10), recipe.mix)  # what serving every item costs
        exact_s.append(time.perf_counter() - t)
        full = online.scores(user)
        extra = [online.sparse_scores(user)[0]]
        if online.cooccurrence is not None:
            extra.append(online.cooccurrence.successor_support(user, online.n_items)[0])
        rows = candidate_rows(online, index, query, recipe.cfg.retrieval.probe, tuple(extra))
        scores = online.scores_at(user, rows)
        k = min(100, int(np.isfinite(full).sum()))
        exact = set(np.argpartition(-full, k - 1)[:k].tolist())
        recall.append(len(exact & set(rows[np.argpartition(-scores, k - 1)[:k]].tolist())) / k)
        sizes.append(len(rows))
    return {"cells": len(index.lists.centroids), "probe": recipe.cfg.retrieval.probe, "build_s": round(build_s, 2),
            "candidates_mean": round(float(np.mean(sizes))), "users": len(recall),
            "recall_of_exact_top_100": {"mean": round(float(np.mean(recall)), 4),
                                        "p10": round(float(np.percentile(recall, 10)), 4)},
            "exact_plain_ms": percentiles(exact_s[20:])}


def eviction(online: OnlineRecommender, most: int, sample: int = 200) -> dict:
    """Users idle for the older half of the stream's time (at most `most`) written to a database (SQLite in a
    temporary directory) and dropped, as a worker's eviction pass does; then `sample` of them read back one at a
    time, as their next request would, and their lists compared with those before."""
    latest = online.seen.latest_ts()
    first = float(online.seen.last_ts[online.seen.events > 0].min())
    after_s = (latest - first) / 2
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_db_engine(f"sqlite:///{tmp}/users.db")
        upgrade(engine)
        store = UserStates(engine)
        evicting = Eviction(store, after_s, most)
        idle = online.seen.idle(latest - after_s)[:sample].tolist()
        users = [online.user_ids[a] for a in idle]
        before = {u: online.recommend(u, k=10) for u in users}
        held, rss = online.n_users, rss_mb()
        t = time.perf_counter()
        gone = asyncio.run(evicting.evict(online, asyncio.Lock()))
        evict_s = time.perf_counter() - t
        stored_mb = sum(len(v) for v in store.get_many(users).values()) / max(len(users), 1) / 1e6
        seconds = []
        for u in users:
            t = time.perf_counter()
            asyncio.run(evicting.readmit(online, [u]))
            seconds.append(time.perf_counter() - t)
        same = sum(online.recommend(u, k=10) == want for u, want in before.items())
        engine.dispose()
    return {"users_held": held, "evicted": gone, "evict_users_per_s": round(gone / evict_s),
            "rss_before_mb": round(rss), "rss_after_mb": round(rss_mb()),
            "stored_bytes_per_user": round(stored_mb * 1e6), "readmitted": len(users),
            "readmit_ms": percentiles(seconds), "same_lists_after_readmission": f"{same}/{len(users)}",
            "note": "freed rows and list blocks are reused by the next users, not returned to the OS"}


def through_kafka(spec: SyntheticSpec, n: int) -> dict:
    """The first `n` events of the stream produced to the embedded broker and consumed by a worker's ingest path
    (validate, store in SQLite, test-then-learn, commit), as bench/ingest.py times it."""
    payloads = [(e.user_id.encode(), event_json(e)) for e in islice(generate(spec, block=CHUNK), n)]
    with EmbeddedBroker() as broker, tempfile.TemporaryDirectory() as tmp:
        settings = Settings.build(bootstrap=broker.bootstrap, session_timeout_s=6, database_url=f"sqlite:///{tmp}/l.db",
                                  topic_behaviour="large.behaviour", topic_feedback="large.feedback",
                                  topic_dead_letter="large.dead-letter", group_id="large")
        ensure_topics(broker.bootstrap, Topics.of(settings.kafka), settings.kafka.topic_partitions)
        asyncio.run(fill(broker.bootstrap, settings.kafka.topic_behaviour, payloads))
        out = asyncio.run(run_worker_ingest(settings, n, settings.online.config()))
    return {k: out[k] for k in ("events_per_s", "seconds", "stored_rows", "learned", "batches")}


def checkpoint(online: OnlineRecommender) -> dict:
    t = time.perf_counter()
    data = OnlineCheckpoint(online, {}, {}).dumps()
    written = time.perf_counter() - t
    t = time.perf_counter()
    legacy.loads(data)
    return {"bytes": len(data), "write_s": round(written, 2), "restore_s": round(time.perf_counter() - t, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=1.0, help="share of 1M users, 1M items, 10M events")
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--kafka-events", type=int, help="events through the broker to a worker (default: a tenth of "
                    "the stream; 0: none)")
    ap.add_argument("--deep-share", type=float, default=0.1, help="share of a deep epoch trained (then projected); "
                    "0: none")
    ap.add_argument("--smoke", action="store_true", help="a tiny run in seconds (the test suite runs it)")
    args = ap.parse_args()
    scale = 0.002 if args.smoke else args.scale
    if not 0 < scale <= 10:
        ap.error(f"--scale must be within (0, 10], got {scale}")
    tune_for_throughput()  # as a worker: one BLAS thread, its GC thresholds
    kernels.warm_up()
    spec = SyntheticSpec(users=max(int(1_000_000 * scale), 10), items=max(int(1_000_000 * scale), 20),
                         events=max(int(10_000_000 * scale), 1_000), seed=args.seed)
    before = rss_mb()
    online = OnlineRecommender(Settings.build().online.config())
    learn_s = learn(online, spec)
    after = rss_mb()
    rng = np.random.default_rng(args.seed)
    users = [f"u{i}" for i in rng.integers(0, spec.users, args.requests + 20)]
    items = [online.item_ids[r] for r in rng.integers(0, online.n_items, args.requests + 20)]
    seconds = []
    for n, item in enumerate(items):
        t = time.perf_counter()
        similar(online, item, 10, None)
        if n >= 20:
            seconds.append(time.perf_counter() - t)
    grown = (after - before) * 2**20
    recipe = ServedRecipe(RecipeConfig(tuned=False, retrieval=RetrievalConfig(
        exact_below=0 if args.smoke else RetrievalConfig.exact_below)))
    index = retrieval(online, recipe, users)
    print(json.dumps({
        "bench": "large", "scale": scale, "spec": {"users": spec.users, "items": spec.items, "events": spec.events},
        "learned": {"users": online.n_users, "items": online.n_items, "events": online.events_learned},
        "memory": {"rss_before_mb": round(before), "rss_after_mb": round(after),
                   "bytes_per_user_and_item": round(grown / max(online.n_users + online.n_items, 1))},
        "learn_events_per_s": round(spec.events / learn_s),
        "recommendations": serving(online, recipe, users, rng),
        "retrieval": index,
        "similar_items": percentiles(seconds),
        "checkpoint": checkpoint(online),
        "eviction": eviction(online, most=max(int(100_000 * scale), 100)),
        **after_the_learner(args, spec),
        "prequential_recall_at_10": online.prequential.recall_at_10,
        "note": "in process, no broker, no deep model: the learner and served recipe a worker runs (served from "
                "the index's candidates at this size; retrieval.exact_plain_ms scores every item)",
    }, indent=2))


def after_the_learner(args: argparse.Namespace, spec: SyntheticSpec) -> dict:
    """The Kafka slice and the deep epoch, run once the in-process learner is measured."""
    # (smoke: half its stream, so that more than the untimed first batch is timed)
    kafka = spec.events // (2 if args.smoke else 10) if args.kafka_events is None else args.kafka_events
    out: dict = {}
    if kafka:
        out["kafka_slice"] = through_kafka(spec, kafka)
    if args.deep_share:
        share = 1.0 if args.smoke else args.deep_share
        out["deep_epoch"] = large_epoch(spec.items, spec.events, share, DeepConfig(), negatives=1024, seed=args.seed)
    return out


if __name__ == "__main__":
    main()
