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
from collections.abc import Callable
from pathlib import Path

import numpy as np
from common import add_smoke, get, get_text, latencies, percentile_interval, shrink
from kafka import KafkaProducer

from recstream.models.data.interaction import Interaction
from recstream.models.data.synthetic import SyntheticSpec, generate
from recstream.models.store.db import create_db_engine, upgrade
from recstream.monitors.metrics import parse, quantile_ms
from recstream.stream.app.launcher import running_worker
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


def warm_up(conn: http.client.HTTPConnection, s: Settings, items: int, events: int) -> int:
    """A stream touching (nearly) all `items`; returns how many items the worker ranks."""
    warm = SyntheticSpec(users=5_000, items=items, events=events, seed=5, zipf=1.01, start_ts=time.time() - 7200)
    catalogue = [Interaction(f"cat-{i}", f"u{i % 5_000}", f"i{i}", "view", None, time.time() - 7300)
                 for i in range(items)]
    produce(iter(catalogue), s.kafka.bootstrap, s.kafka.topic_behaviour, progress=False)
    produce(generate(warm), s.kafka.bootstrap, s.kafka.topic_behaviour, total=warm.events, progress=False)
    while get(conn, "/healthz")["events_learned"] < warm.events + len(catalogue):
        time.sleep(0.2)
    return get(conn, "/healthz")["items"]


def freshness(conn: http.client.HTTPConnection, s: Settings, probes: int) -> list[float]:
    """Seconds from sending one purchase of a brand-new user to that user being served personally (inf: not
    within 10 s)."""
    producer = KafkaProducer(bootstrap_servers=s.kafka.bootstrap, linger_ms=0)
    fresh = []
    for p in range(probes):
        user = f"probe-{p}"
        e = Interaction(f"probe-{p}-{time.time_ns()}", user, "i1", "purchase", None, time.time())
        sent = time.perf_counter()
        producer.send(s.kafka.topic_behaviour, key=user.encode(), value=event_json(e))
        producer.flush()
        while True:
            if get(conn, f"/recommendations/{user}?k=10")["source"] == "personal":
                fresh.append(time.perf_counter() - sent)
                break
            if time.perf_counter() - sent > 10:
                fresh.append(float("inf"))
                break
            time.sleep(0.002)
        time.sleep(0.05)
    producer.close()
    return fresh


def run_queue_s(pid: int) -> tuple[float, float]:
    """(seconds on a CPU, seconds runnable but waiting for one) of every thread of `pid` so far (schedstat)."""
    on = waited = 0.0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "schedstat").read_text().split()
        except OSError:  # a thread that has ended
            continue
        on, waited = on + int(fields[0]) / 1e9, waited + int(fields[1]) / 1e9
    return on, waited


def served_p99_ms(conn: http.client.HTTPConnection, before: list[tuple[float, float]]) -> tuple[float | None, list]:
    """The worker's own p99 of GET /recommendations (its request histogram) since the `before` reading."""
    prefix = "recstream_request_seconds_bucket{le="
    now = [(float(name[len(prefix):-1]), value) for name, value in parse(get_text(conn, "/metrics")).items()
           if name.startswith(prefix)]
    if not before:
        return None, now
    return quantile_ms([(le, c - b) for (le, c), (_, b) in zip(now, before)], 0.99), now


def where_requests_wait(conn: http.client.HTTPConnection, pid: int, run: Callable[[], list[float]]) -> tuple:
    """`run()`'s latencies, with the worker's handler p99 over the same requests and its run-queue wait."""
    _, before = served_p99_ms(conn, [])
    q0 = run_queue_s(pid)
    xs = run()
    q1 = run_queue_s(pid)
    p99, _ = served_p99_ms(conn, before)
    on, waited = q1[0] - q0[0], q1[1] - q0[1]
    return xs, {"handler_p99_ms": p99, "worker_cpu_s": round(on, 2), "worker_runnable_waiting_s": round(waited, 2),
                "waiting_share": round(waited / (on + waited), 3) if on + waited else None}


def measure(args: argparse.Namespace, s: Settings, env: dict[str, str], tmp: str) -> dict:
    with running_worker(env, Path(tmp) / "worker.log") as worker:
        conn = http.client.HTTPConnection("127.0.0.1", s.serving.web_port, timeout=10)
        n_items = warm_up(conn, s, args.items, args.warm_events)
        users = [f"u{i}" for i in range(0, 5_000, 7)]
        pid = worker.process.pid
        idle, idle_where = where_requests_wait(conn, pid, lambda: latencies(conn, args.requests, args.request_rate,
                                                                              users))
        load = Load(env, args.load_rate)
        time.sleep(3.0)  # let the load reach steady state
        fresh = freshness(conn, s, args.probes)
        loaded, loaded_where = where_requests_wait(conn, pid, lambda: latencies(conn, args.requests,
                                                                                  args.request_rate, users))
        load_sent = load.stop()
        health = get(conn, "/healthz")
    ms = {name: {"p50": round(pct(xs, 50) * 1e3, 3), "p99": round(pct(xs, 99) * 1e3, 3),
                 "p99_interval_95": [round(v * 1e3, 3) for v in percentile_interval(xs, 99)], "requests": len(xs),
                 "rate_per_s": args.request_rate} for name, xs in (("idle", idle), ("under_load", loaded))}
    return {
        "bench": "freshness", "items_ranked": n_items, "load_events_per_s": args.load_rate,
        "load_events_sent_approx": load_sent,
        "freshness_s": {"p50": round(pct(fresh, 50), 4), "p99": round(pct(fresh, 99), 4), "probes": len(fresh),
                        "never_reflected_within_10s": sum(1 for x in fresh if x == float("inf")), "goal_p99": 1.0},
        "endpoint_latency_ms_idle": ms["idle"], "endpoint_latency_ms_under_load": ms["under_load"],
        "goal_endpoint_p99_ms": 10, "worker_pipeline": health["pipeline"],
        # where a request's time goes: the worker's handler (its own histogram, bucket bounds), and how much of
        # the time the worker's threads were runnable but waited for a core (other processes had them)
        "where_requests_wait": {"idle": idle_where, "under_load": loaded_where},
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--load-rate", type=float, default=3000)
    ap.add_argument("--probes", type=int, default=100)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--request-rate", type=float, default=200)
    ap.add_argument("--items", type=int, default=10_000, help="items the warm-up stream touches")
    ap.add_argument("--warm-events", type=int, default=60_000)
    add_smoke(ap)
    args = shrink(ap.parse_args(), items=500, warm_events=3_000, probes=5, requests=50, load_rate=300)
    with EmbeddedBroker() as broker, tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        s = Settings.build(bootstrap=broker.bootstrap, database_url=f"sqlite:///{tmp}/f.db", web_port=port)
        upgrade(create_db_engine(s.database_url))
        ensure_topics(s.kafka.bootstrap, Topics.of(s.kafka), s.kafka.topic_partitions)
        env = {**os.environ, "RECSTREAM_BOOTSTRAP": s.kafka.bootstrap, "RECSTREAM_DATABASE_URL": s.database_url,
               "RECSTREAM_WEB_PORT": str(port), "RECSTREAM_SESSION_TIMEOUT_S": "6"}
        print(json.dumps(measure(args, s, env, tmp), indent=2))


if __name__ == "__main__":
    main()
