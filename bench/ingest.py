"""Ingest throughput of one worker vs River's bare learn_one loop vs a naive per-event Faust table agent.

    python bench/ingest.py [--events 200000] [--faust-events 20000] [--database-url URL]

Prints one JSON object. All three run in this process tree on the same events, on the embedded broker.
The worker figure is the real ingest path (aiokafka batches → validate → store → test-then-learn → commit,
with the dead-letter producer attached), timed from its first batch to its last commit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import time

from aiokafka import AIOKafkaProducer
from common import add_smoke, shrink

from recstream.models.data.synthetic import SyntheticSpec, generate
from recstream.models.online.config import OnlineConfig
from recstream.models.online.recommender import OnlineRecommender
from recstream.models.store.db import create_db_engine, upgrade
from recstream.models.store.events import EventStore
from recstream.stream.ingest.dead_letters import KafkaDeadLetters
from recstream.stream.ingest.loop import IngestLoop, make_consumer
from recstream.stream.kafka.broker import EmbeddedBroker
from recstream.stream.kafka.produce import event_json
from recstream.stream.kafka.topics import Topics, ensure_topics
from recstream.stream.settings import Settings
from recstream.stream.worker.state import WorkerState


async def fill(bootstrap: str, topic: str, payloads: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=1024 * 1024)
    await producer.start()
    try:
        futures = [await producer.send(topic, key=k, value=v) for k, v in payloads]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def run_worker_ingest(settings: Settings, n: int, config: OnlineConfig) -> dict:
    """The worker's ingest path exactly as `recstream worker` wires it, minus the HTTP server."""
    upgrade(create_db_engine(settings.database_url))
    state = WorkerState.create(settings)
    state.recommender = OnlineRecommender(config)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap)
    await producer.start()
    consumer = make_consumer(settings.kafka, settings.ingest)
    await consumer.start()
    pipeline = state.attach(KafkaDeadLetters(producer, settings.kafka.topic_dead_letter))
    await pipeline.preparer.start()  # start the helper processes before the clock does
    task = asyncio.create_task(IngestLoop(consumer, pipeline, settings.kafka, settings.ingest, state.topics).run())
    try:
        while pipeline.stats.consumed == 0:
            await asyncio.sleep(0.001)
            if task.done():
                task.result()
        first = time.perf_counter()  # the first batch is done: ~one batch is not timed (small against n)
        counted = pipeline.stats.consumed
        while pipeline.stats.consumed < n:
            await asyncio.sleep(0.005)
            if task.done():
                task.result()
        end = time.perf_counter()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await consumer.stop()
        await producer.stop()
        pipeline.preparer.close()
    rows = EventStore(create_db_engine(settings.database_url)).count_interactions()
    return {"events_per_s": round((n - counted) / (end - first)), "seconds": round(end - first, 2),
            "stored_rows": rows, "learned": state.recommender.events_learned, "batches": pipeline.stats.batches,
            "prepare_in_process": settings.ingest.prepare_in_process, "prepare_processes": settings.ingest.prepare_processes,
            "prequential_recall_at_10": round(state.recommender.prequential.recall_at_10 or 0, 4),
            "prequential_probes": state.recommender.prequential.trials,
            # the worker's judge of what it serves (sampled, capped per second): its cost is in events_per_s
            "served_recall_at_10": round(state.judge.recall_at_10 or 0, 4), "served_judged": state.judge.trials,
            "stage_seconds": pipeline.stats.as_dict()["seconds"]}


def run_bare_river(events, config: OnlineConfig, same_updates: bool = False) -> dict:
    """(a) River alone: the same model and targets, one learn_one per event and nothing else; with
    `same_updates`, also the sampled negatives the worker learns (so only the worker's overhead differs)."""
    import random

    rec = OnlineRecommender(config)
    rng = random.Random(0)
    items = sorted({e.item_id for e in events})
    calls = []
    for e in events:
        y = rec.target(e)
        calls.append((e.user_id, e.item_id, y))
        if same_updates and y > 0:
            calls.extend((e.user_id, rng.choice(items), 0.0) for _ in range(config.negatives))
    learn_one = rec.model.learn_one
    t = time.perf_counter()
    for u, i, y in calls:
        learn_one(u, i, y)
    s = time.perf_counter() - t
    return {"events_per_s": round(len(events) / s), "learn_one_calls": len(calls), "seconds": round(s, 2)}


NAIVE_FAUST = textwrap.dedent('''
    import os, sys, time, faust
    boot, topic, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    app = faust.App("naive-bench-" + topic, broker="kafka://" + boot, store="memory://", value_serializer="json",
                    key_serializer="raw", web_enabled=False, broker_session_timeout=6, topic_partitions=4)
    src = app.topic(topic, value_serializer="json", key_serializer="raw")
    counts = app.Table("item_counts", default=int, partitions=4)
    state = {"n": 0, "t0": None}
    @app.agent(src)
    async def naive(stream):
        async for key, ev in stream.items():
            if state["t0"] is None:
                state["t0"] = time.perf_counter()
            counts[key] += 1  # one table update (and changelog record) per event
            state["n"] += 1
            if state["n"] >= n:
                print(f"RESULT={n / (time.perf_counter() - state['t0']):.1f}", flush=True)
                os._exit(0)
    faust.Worker(app, loglevel="warning", quiet=True).execute_from_commandline()
''')


def run_naive_faust(bootstrap: str, topic: str, n: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        script = os.path.join(tmp, "naive.py")
        with open(script, "w") as f:
            f.write(NAIVE_FAUST)
        out = subprocess.run([sys.executable, script, bootstrap, topic, str(n)], capture_output=True, text=True,
                             timeout=600, cwd=tmp, check=False)  # its output is read, whatever it exits with
    # Faust routes stdout through its logger, which may split the line: search the whole output.
    found = re.search(r"RESULT\D*?([0-9]+\.[0-9]+)", out.stdout + out.stderr)
    if found:
        return {"events_per_s": round(float(found.group(1))), "events": n}
    raise RuntimeError(f"naive Faust agent gave no result:\n{out.stderr[-2000:]}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--faust-events", type=int, default=20_000)
    ap.add_argument("--database-url")
    ap.add_argument("--in-process", action="store_true", help="validate+store in the worker process (no helper)")
    add_smoke(ap)
    args = shrink(ap.parse_args(), events=5_000, faust_events=500)
    events = list(generate(SyntheticSpec(users=5_000, items=10_000, events=args.events, seed=1)))
    payloads = [(e.user_id.encode(), event_json(e)) for e in events]
    with EmbeddedBroker() as broker, tempfile.TemporaryDirectory() as tmp:
        settings = Settings.build(bootstrap=broker.bootstrap, session_timeout_s=6,
                            database_url=args.database_url or f"sqlite:///{tmp}/bench.db",
                            topic_behaviour="bench.behaviour", topic_feedback="bench.feedback",
                            topic_dead_letter="bench.dead-letter", group_id="bench",
                            prepare_in_process=not args.in_process)
        config = settings.online.config()  # the worker's defaults (RECSTREAM_ONLINE_* apply)
        ensure_topics(broker.bootstrap, Topics.of(settings.kafka), settings.kafka.topic_partitions)
        asyncio.run(fill(broker.bootstrap, settings.kafka.topic_behaviour, payloads))
        worker = asyncio.run(run_worker_ingest(settings, len(events), config))
        bare = run_bare_river(events, config)
        bare_same = run_bare_river(events, config, same_updates=True)
        naive = run_naive_faust(broker.bootstrap, settings.kafka.topic_behaviour, args.faust_events)
    print(json.dumps({
        "bench": "ingest", "events": len(events), "database": settings.database_url.split(":")[0],
        "online": {"algorithm": config.algorithm, "loss": config.loss, "n_factors": config.n_factors,
                   "negatives": config.negatives, "negative_sampling": config.negative_sampling,
                   "prequential_sample": config.prequential_sample,
                   "prequential_max_per_s": config.prequential_max_per_s, "learn_chunk": settings.ingest.learn_chunk},
        "worker": worker, "bare_river_learn_one": bare, "bare_river_same_updates": bare_same,
        "naive_faust_table_per_event": naive,
        "ratio_vs_bare_river": round(worker["events_per_s"] / bare["events_per_s"], 3),
        "ratio_vs_bare_river_same_updates": round(worker["events_per_s"] / bare_same["events_per_s"], 3),
        "ratio_vs_naive_faust": round(worker["events_per_s"] / naive["events_per_s"], 1),
        "goals": {"ratio_vs_bare_river": ">= 0.6", "ratio_vs_naive_faust": ">= 20"},
    }, indent=2))


if __name__ == "__main__":
    main()
