"""Freshness and serving latency of a real worker process on the embedded broker.

    python bench/freshness.py [--load-rate 3000] [--probes 100] [--requests 2000] [--request-rate 200]

1. Warm-up: 10k+ items learned, so ranking covers >= 10,000 items.
2. Freshness under steady load: a background producer sends synthetic events at --load-rate/s; each probe sends
   one purchase for a brand-new user and polls GET /recommendations until it is served personally (or the
   bought item disappears). Reported: p50/p99 seconds from send to reflected.
3. Endpoint latency at a steady request rate over one keep-alive connection, idle and under the same load.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from common import get
from kafka import KafkaProducer

from recstream.models.data.interaction import Interaction
from recstream.models.data.synthetic import SyntheticSpec, generate
from recstream.models.store.db import create_db_engine, upgrade
from recstream.stream.kafka.broker import EmbeddedBroker, free_port
from recstream.stream.kafka.produce import event_json, produce
from recstream.stream.kafka.topics import Topics, ensure_topics
from recstream.stream.settings import Settings


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.array(xs), q)) if xs else float("nan")


class Load:
    """Steady background events from a separate `recstream produce --synthetic --rate` process (a thread in this
    process would make the latency client wait on the GIL and measure itself)."""

    def __init__(self, env: dict, rate: float) -> None:
        self.rate = rate
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "recstream.stream.cli", "produce", "--synthetic", "--events", "10000000",
             "--users", "5000", "--items", "10000", "--seed", "99", "--rate", str(rate)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> int:
        """Stop; return roughly how many events were sent."""
        self.process.terminate()
        self.process.wait(10)
        return int((time.monotonic() - self.started) * self.rate)


def latencies(conn: http.client.HTTPConnection, n: int, rate: float, users: list[str]) -> list[float]:
    out = []
    start = time.monotonic()
    for i in range(n):
        wait = start + i / rate - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        t = time.perf_counter()
        get(conn, f"/recommendations/{users[i % len(users)]}?k=10")
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--load-rate", type=float, default=3000)
    ap.add_argument("--probes", type=int, default=100)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--request-rate", type=float, default=200)
    args = ap.parse_args()
    with EmbeddedBroker() as broker, tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        s = Settings.build(bootstrap=broker.bootstrap, database_url=f"sqlite:///{tmp}/f.db", web_port=port)
        upgrade(create_db_engine(s.database_url))
        ensure_topics(s.kafka.bootstrap, Topics.of(s.kafka), s.kafka.topic_partitions)
        env = {**os.environ, "RECSTREAM_BOOTSTRAP": s.kafka.bootstrap, "RECSTREAM_DATABASE_URL": s.database_url,
               "RECSTREAM_WEB_PORT": str(port), "RECSTREAM_SESSION_TIMEOUT_S": "6"}
        worker = subprocess.Popen([sys.executable, "-m", "recstream.stream.cli", "worker"], env=env,
                                  stdout=open(f"{tmp}/worker.log", "wb"), stderr=subprocess.STDOUT)
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            deadline = time.monotonic() + 90
            while True:
                try:
                    if get(conn, "/healthz")["pipeline"] is not None:
                        break
                except (OSError, RuntimeError, http.client.HTTPException):
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                if time.monotonic() > deadline:
                    raise RuntimeError(open(f"{tmp}/worker.log").read()[-3000:])
                time.sleep(0.2)
            # Warm-up: a stream touching (nearly) all 10k items.
            warm = SyntheticSpec(users=5_000, items=10_000, events=60_000, seed=5, zipf=1.01,
                                 start_ts=time.time() - 7200)
            catalogue = [Interaction(f"cat-{i}", f"u{i % 5_000}", f"i{i}", "view", None, time.time() - 7300)
                         for i in range(10_000)]
            produce(iter(catalogue), s.kafka.bootstrap, s.kafka.topic_behaviour, progress=False)
            produce(generate(warm), s.kafka.bootstrap, s.kafka.topic_behaviour, total=warm.events, progress=False)
            while get(conn, "/healthz")["events_learned"] < warm.events + len(catalogue):
                time.sleep(0.2)
            n_items = get(conn, "/healthz")["items"]
            users = [f"u{i}" for i in range(0, 5_000, 7)]

            idle = latencies(conn, args.requests, args.request_rate, users)

            load = Load(env, args.load_rate)
            time.sleep(3.0)  # let the load reach steady state
            probe_producer = KafkaProducer(bootstrap_servers=s.kafka.bootstrap, linger_ms=0)
            fresh = []
            for p in range(args.probes):
                user = f"probe-{p}"
                e = Interaction(f"probe-{p}-{time.time_ns()}", user, "i1", "purchase", None, time.time())
                sent = time.perf_counter()
                probe_producer.send(s.kafka.topic_behaviour, key=user.encode(), value=event_json(e))
                probe_producer.flush()
                while True:
                    r = get(conn, f"/recommendations/{user}?k=10")
                    if r["source"] == "personal":
                        fresh.append(time.perf_counter() - sent)
                        break
                    if time.perf_counter() - sent > 10:
                        fresh.append(float("inf"))
                        break
                    time.sleep(0.002)
                time.sleep(0.05)
            loaded = latencies(conn, args.requests, args.request_rate, users)
            load_sent = load.stop()
            health = get(conn, "/healthz")
        finally:
            worker.terminate()
            worker.wait(15)
    lost = sum(1 for x in fresh if x == float("inf"))
    print(json.dumps({
        "bench": "freshness", "items_ranked": n_items, "load_events_per_s": args.load_rate,
        "load_events_sent_approx": load_sent,
        "freshness_s": {"p50": round(pct(fresh, 50), 4), "p99": round(pct(fresh, 99), 4), "probes": len(fresh),
                        "never_reflected_within_10s": lost, "goal_p99": 1.0},
        "endpoint_latency_ms_idle": {"p50": round(pct(idle, 50) * 1e3, 3), "p99": round(pct(idle, 99) * 1e3, 3),
                                     "requests": len(idle), "rate_per_s": args.request_rate},
        "endpoint_latency_ms_under_load": {"p50": round(pct(loaded, 50) * 1e3, 3),
                                           "p99": round(pct(loaded, 99) * 1e3, 3), "requests": len(loaded),
                                           "rate_per_s": args.request_rate},
        "goal_endpoint_p99_ms": 10,
        "worker_pipeline": health["pipeline"],
    }, indent=2))


if __name__ == "__main__":
    main()
