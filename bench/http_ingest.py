"""Events through HTTP into Kafka: POST /events on one real worker (embedded broker), against producing the same
events straight to Kafka, and what it costs /recommendations meanwhile.

    python bench/http_ingest.py [FILE] [--events 200000] [--senders 2] [--requests 2000] [--smoke]

FILE: interactions (CSV/JSONL, as `recstream produce --file` takes); synthetic events when left out.
1. Kafka direct: the events produced with kafka-python (what a backend with a Kafka client does).
2. HTTP: the same events (new ids) posted in batches of 500 by --senders processes over kept-alive connections;
   events/s = accepted / wall time. The worker must learn every one (checked: events_learned).
3. /recommendations latency at 200 requests/s, idle and while step 2 runs (the senders are other processes, so
   the latency client does not wait on their GIL).
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from common import latencies

from recstream.models.data.files import read_interactions
from recstream.models.data.synthetic import SyntheticSpec, generate
from recstream.models.store.db import create_db_engine, upgrade
from recstream.stream.app.launcher import running_worker
from recstream.stream.kafka.broker import EmbeddedBroker, free_port
from recstream.stream.kafka.produce import produce
from recstream.stream.kafka.topics import Topics, ensure_topics
from recstream.stream.settings import Settings

TOKEN = "bench-producer-token-0001"
BATCH = 500


def pct(xs: list[float], q: float) -> float:
    return round(float(np.percentile(np.array(xs), q)) * 1e3, 3) if xs else float("nan")


def bodies(events: list, prefix: str) -> list[bytes]:
    """POST /events bodies of BATCH events each, ids prefixed (each run's events are new to the worker)."""
    docs = [{"event_id": f"{prefix}{e.event_id}", "user_id": e.user_id, "item_id": e.item_id, "type": e.type,
             "ts": datetime.fromtimestamp(e.ts, UTC).isoformat(), **({"value": e.value} if e.value is not None else {})}
            for e in events]
    return [json.dumps({"behaviour": docs[i:i + BATCH]}).encode() for i in range(0, len(docs), BATCH)]


def sender(port: int, batches: list[bytes], out: mp.Queue) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    accepted = 0
    for body in batches:
        conn.request("POST", "/events", body, {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
        r = conn.getresponse()
        answer = json.loads(r.read())
        if r.status != 200 or answer["refused"]:
            raise SystemExit(f"POST /events answered {r.status}: {str(answer)[:300]}")
        accepted += answer["accepted"]
    out.put((accepted, time.monotonic()))  # CLOCK_MONOTONIC: one clock for every process


class Senders:
    """`n` processes, each posting every n-th batch over its own kept-alive connection."""

    def __init__(self, port: int, batches: list[bytes], n: int) -> None:
        self.out: mp.Queue = mp.Queue()
        self.procs = [mp.Process(target=sender, args=(port, batches[k::n], self.out)) for k in range(n)]
        self.started = time.monotonic()
        for p in self.procs:
            p.start()

    def busy(self) -> bool:
        return any(p.is_alive() for p in self.procs)

    def result(self) -> tuple[int, float]:
        """(events accepted, seconds from the start to the last sender's last answer)."""
        done = [self.out.get(timeout=900) for _ in self.procs]
        for p in self.procs:
            p.join(10)
            assert p.exitcode == 0, f"a sender failed with {p.exitcode}"
        return sum(a for a, _ in done), max(t for _, t in done) - self.started


def measure(args: argparse.Namespace, events: list, s: Settings, env: dict[str, str], tmp: str) -> dict:
    users = sorted({e.user_id for e in events})[:500]
    with running_worker(env, Path(tmp) / "worker.log") as w:
        conn = http.client.HTTPConnection("127.0.0.1", s.serving.web_port, timeout=10)
        start = time.perf_counter()
        produce(events, s.kafka.bootstrap, s.kafka.topic_behaviour, progress=False)
        kafka_s = time.perf_counter() - start
        w.wait(lambda h: h["events_learned"] >= len(events), timeout=600, what="the Kafka-direct events learned")
        idle = latencies(conn, args.requests, 200.0, users)
        senders = Senders(s.serving.web_port, bodies(events, "http-"), args.senders)
        loaded = latencies(conn, args.requests, 200.0, users, busy=senders.busy)
        accepted, http_s = senders.result()
        h = w.wait(lambda h: h["events_learned"] >= 2 * len(events), timeout=600,
                   what="the HTTP events learned")
    kafka_rate, http_rate = len(events) / kafka_s, accepted / http_s
    return {
        "bench": "http_ingest", "events": len(events), "batch": BATCH, "senders": args.senders,
        "kafka_direct_events_per_s": round(kafka_rate), "http_events_per_s": round(http_rate),
        "http_over_kafka_direct": round(http_rate / kafka_rate, 3), "goal_http_events_per_s": 20_000,
        "learned_after_both": h["events_learned"], "dead_lettered": h["pipeline"]["dead_lettered"],
        "recommendations_ms": {
            "idle": {"p50": pct(idle, 50), "p99": pct(idle, 99), "requests": len(idle)},
            "during_http_ingest": {"p50": pct(loaded, 50), "p99": pct(loaded, 99), "requests": len(loaded)}},
        "added_p99_ms": round(pct(loaded, 99) - pct(idle, 99), 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("file", nargs="?", help="interactions file (default: synthetic events)")
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--senders", type=int, default=2)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--smoke", action="store_true", help="tiny sizes: seconds, for the test suite")
    args = ap.parse_args()
    if args.smoke:
        args.events, args.requests = 3_000, 100
    events = (read_interactions(args.file, limit=args.events) if args.file else
              list(generate(SyntheticSpec(users=5_000, items=10_000, events=args.events, seed=5))))
    with EmbeddedBroker() as broker, tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        s = Settings.build(bootstrap=broker.bootstrap, database_url=f"sqlite:///{tmp}/h.db", web_port=port)
        upgrade(create_db_engine(s.database_url))
        ensure_topics(s.kafka.bootstrap, Topics.of(s.kafka), s.kafka.topic_partitions)
        env = {**os.environ, "RECSTREAM_BOOTSTRAP": s.kafka.bootstrap, "RECSTREAM_DATABASE_URL": s.database_url,
               "RECSTREAM_WEB_PORT": str(port), "RECSTREAM_SESSION_TIMEOUT_S": "6", "RECSTREAM_PRODUCER_TOKEN": TOKEN}
        print(json.dumps(measure(args, events, s, env, tmp), indent=2))


if __name__ == "__main__":
    mp.set_start_method("fork")
    sys.exit(main())
