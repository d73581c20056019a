"""Scale-out: one worker vs groups of them on the same input, what a peer's event costs a worker, the pause a
rebalance causes, and what a forced crash of one of two workers loses.

    python bench/scale.py [--events 200000] [--workers 1,2,4] [--partitions 4] [--database-url URL]
                          [--prepare-in-process]

1. Throughput: the same backlog of --events synthetic events (produced before the workers start) drained by one
   worker, then by each group size of --workers (fresh topics, group and database each time). events/s = events /
   (last stored and learned - first consumed). A group's workers are started together so they join in one
   generation (checked: each reports one rebalance). Cost per event: CPU seconds of each worker and its helper
   processes from the first event consumed until every worker has added its peers' deltas; per own event from
   the one-worker run, per peer event (added item-side from the other workers' deltas) from a group's: (worker
   CPU - own events x own cost) / peer events; noisy when that difference is small, so also measured in one
   process without the broker (`in_process`: learning, sending and adding the same events' deltas). Beside
   them: the share of the machine's cores busy while draining, and how long peers' deltas took to arrive.
2. Rebalances, on the two-worker group, under a steady load: a graceful leave (SIGTERM) in the group's first
   generation, the worker back, a crash (kill -9), the worker back, a graceful leave again; for each, seconds
   until the survivor owns every partition, and until it has learned everything the leaver had (its model
   holds every event once more). At the end the event store is compared with what was produced: lost
   (produced, not stored) and duplicated rows; and the survivor's model must have learned each event once.

Defaults to PostgreSQL when one answers on 127.0.0.1:5432 (a fresh database per run; two processes writing
one SQLite file serialise on its lock), else SQLite. Each worker validates and stores in its own process
unless --prepare-in-process (a helper process each: four busy processes on a 2-core machine).
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from common import add_smoke, shrink
from sqlalchemy import create_engine, func, select, text

from recstream.models.data.synthetic import SyntheticSpec, generate
from recstream.models.errors import RecstreamError
from recstream.models.store.db import create_db_engine, upgrade
from recstream.models.store.schema import interactions
from recstream.stream.app.launcher import WorkerProcess, start_worker
from recstream.stream.kafka.broker import EmbeddedBroker, free_port
from recstream.stream.kafka.produce import produce
from recstream.stream.kafka.topics import Topics, ensure_topics
from recstream.stream.settings import Settings

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


def pg_available() -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", 5432), timeout=1):
        return True
    return False


@contextlib.contextmanager
def database(url: str | None, tmp: str) -> Iterator[str]:
    """A fresh, migrated database: a new PostgreSQL database, or a SQLite file."""
    if url is None and pg_available():
        name = f"recstream_scale_{uuid.uuid4().hex[:8]}"
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
        try:
            upgrade(create_db_engine(url))
            yield url
        finally:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        return
    url = url or f"sqlite:///{tmp}/scale-{uuid.uuid4().hex[:6]}.db"
    upgrade(create_db_engine(url))
    yield url


def start(env: dict, tmp: str, name: str) -> WorkerProcess:
    """A worker on a free port, not waited for (the benches time its start)."""
    return start_worker({**env, "RECSTREAM_WEB_PORT": str(free_port())}, Path(tmp) / f"{name}.log", ready=None)


def health(w: WorkerProcess) -> dict | None:
    try:
        return w.health()
    except RecstreamError:  # not listening (yet, or any more)
        return None


def wait(what: str, predicate, workers: list[WorkerProcess], timeout: float = 300.0, every: float = 0.05) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic()
        for w in workers:
            if w.process.poll() is not None and w.process.returncode not in (0, -signal.SIGKILL, -signal.SIGTERM):
                raise RuntimeError(f"a worker died: {w.log_tail()}")
        time.sleep(every)
    raise RuntimeError(f"timed out waiting for {what}; logs: " + " | ".join(w.log_tail(1500)
                                                                              for w in workers))


def stored(url: str) -> tuple[int, int]:
    """(rows, distinct event ids) in the event store."""
    engine = create_db_engine(url)
    with engine.connect() as c:
        rows = c.execute(select(func.count()).select_from(interactions)).scalar_one()
        distinct = c.execute(select(func.count(func.distinct(interactions.c.event_id)))).scalar_one()
    engine.dispose()
    return rows, distinct


def setup(broker: EmbeddedBroker, db: str, partitions: int, prepare_in_process: bool, session_timeout_s: float) -> dict:
    suffix = uuid.uuid4().hex[:8]
    s = Settings.build(bootstrap=broker.bootstrap, database_url=db, topic_behaviour=f"behaviour-{suffix}",
                 topic_feedback=f"feedback-{suffix}", topic_dead_letter=f"dead-letter-{suffix}",
                 group_id=f"scale-{suffix}", topic_partitions=partitions)
    ensure_topics(s.kafka.bootstrap, Topics.of(s.kafka), partitions)
    return {**os.environ, "RECSTREAM_BOOTSTRAP": s.kafka.bootstrap, "RECSTREAM_DATABASE_URL": db,
            "RECSTREAM_TOPIC_BEHAVIOUR": s.kafka.topic_behaviour, "RECSTREAM_TOPIC_FEEDBACK": s.kafka.topic_feedback,
            "RECSTREAM_TOPIC_DEAD_LETTER": s.kafka.topic_dead_letter, "RECSTREAM_GROUP_ID": s.kafka.group_id,
            "RECSTREAM_TOPIC_PARTITIONS": str(partitions), "RECSTREAM_SESSION_TIMEOUT_S": str(session_timeout_s),
            "RECSTREAM_WORKER_HEARTBEAT_S": "0.5", "RECSTREAM_CHECKPOINT_INTERVAL_S": "5",
            "RECSTREAM_PREPARE_IN_PROCESS": "true" if prepare_in_process else "false"}


def backlog_spec(events: int, seed: int = 11) -> SyntheticSpec:
    return SyntheticSpec(users=20_000, items=10_000, events=events, seed=seed, start_ts=time.time() - 86_400)


def backlog(env: dict, events: int, seed: int) -> None:
    produce(generate(backlog_spec(events, seed)), env["RECSTREAM_BOOTSTRAP"], env["RECSTREAM_TOPIC_BEHAVIOUR"],
            total=events, progress=False)


def sharing_in_process(events: int, batch: int = 2_000, every: int = 10) -> dict:
    """Without broker or helpers: CPU microseconds an owner spends per event learning it (its counts kept), then
    summing and encoding them (a delta every `every` batches, ~0.5 s at this rate), and a peer decoding and
    adding them."""
    from recstream.models.online.delta_codec import Part, decode, encode
    from recstream.models.online.item_deltas import ItemSideLog, apply_delta
    from recstream.models.online.recommender import OnlineRecommender

    cfg = Settings.build().online.config()
    stream = list(generate(backlog_spec(events)))
    owner = OnlineRecommender(cfg)
    owner.item_log = ItemSideLog(cfg.popularity_half_life_s)
    learn_s = send_s = 0.0
    sent: list[bytes] = []
    for k, start in enumerate(range(0, len(stream), batch)):
        t = time.process_time()
        owner.learn(stream[start:start + batch])
        t2 = time.process_time()
        if k % every == every - 1 or start + batch >= len(stream):
            sent.append(encode(owner.item_log.take(owner.item_ids, {"b:0": start + batch}), Part(str(k), 0, 1)))
        learn_s, send_s = learn_s + t2 - t, send_s + time.process_time() - t2
    peer = OnlineRecommender(cfg)
    t = time.process_time()
    for data in sent:
        apply_delta(peer, decode(data)[0])
    add_s = time.process_time() - t
    us = 1e6 / len(stream)
    return {"events": len(stream), "own_learn_us": round(learn_s * us, 2), "own_send_us": round(send_s * us, 2),
            "peer_add_us": round(add_s * us, 2), "peer_over_own": round(add_s / (learn_s + send_s), 3),
            "bytes_per_event": round(sum(map(len, sent)) / len(stream), 1), "deltas": len(sent)}


def learned(workers: list[WorkerProcess]) -> int:
    hs = [health(w) for w in workers]
    return sum(h["pipeline"]["learned"] for h in hs if h and h["pipeline"])


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far (/proc/stat: every process, broker and database too)."""
    fields = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(fields) - idle) / tick, sum(fields) / tick


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) of process `pid` and its children (a worker's helper processes) so far."""
    tick = os.sysconf("SC_CLK_TCK")

    def stat(p: str) -> list[str] | None:
        try:
            text = Path(f"/proc/{p}/stat").read_text()
        except OSError:
            return None
        return text[text.rindex(")") + 2:].split()  # after "pid (comm) ": state, ppid, ...

    total = 0.0
    for p in [d for d in os.listdir("/proc") if d.isdigit()]:
        fields = stat(p)
        if fields is not None and (int(p) == pid or int(fields[1]) == pid):
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def drain(broker: EmbeddedBroker, db: str, n_workers: int, args: argparse.Namespace, tmp: str
          ) -> tuple[dict, list[WorkerProcess], dict]:
    """Produce the backlog, start the workers together, time them draining it."""
    env = setup(broker, db, args.partitions, args.prepare_in_process, args.session_timeout_s)
    backlog(env, args.events, seed=11)
    workers = [start(env, tmp, f"w{n_workers}-{i}") for i in range(n_workers)]

    def consuming() -> bool:
        hs = [health(w) for w in workers]
        return any(h and h["pipeline"] and h["pipeline"]["consumed"] for h in hs)

    t0 = wait("consumption to start", consuming, workers, every=0.01)
    # From here: a worker's start (imports, compiled kernels loaded, ~3.5 s of CPU) is no event's cost.
    cpu0, busy0 = [cpu_seconds(w.process.pid) for w in workers], machine_busy()
    t1 = wait("the backlog to be stored and learned",
              lambda: learned(workers) >= args.events and stored(db)[0] >= args.events, workers, every=0.1)
    busy = [b - a for a, b in zip(busy0, machine_busy())]
    if n_workers > 1:  # and every worker has added its peers' last deltas (sent every 0.5 s)

        def shared() -> bool:
            hs = [health(w) for w in workers]
            return all(h and h["item_feed"]["learned"] + h["pipeline"]["learned"] >= args.events for h in hs)

        wait("every worker to add its peers' deltas", shared, workers, every=0.05)
    cpu = [round(cpu_seconds(w.process.pid) - c, 2) for w, c in zip(workers, cpu0)]
    hs = [health(w) for w in workers]
    result = {"workers": n_workers, "events": args.events, "seconds": round(t1 - t0, 2),
              "shared_after_s": round(time.monotonic() - t1, 2),
              "events_per_s": round(args.events / (t1 - t0)),
              "partitions_per_worker": [len(h["partitions"]) for h in hs],
              "learned_per_worker": [h["pipeline"]["learned"] for h in hs],
              # what each worker added item-side from its peers' deltas (the item feed), how fresh, and what it sent
              "peer_events_per_worker": [(h.get("item_feed") or {}).get("learned", 0) for h in hs],
              "item_delta_lag_p99_ms": [(h.get("item_feed") or {}).get("lag_p99_ms") for h in hs],
              "delta_bytes_per_own_event": [round(h["item_feed"]["sent"]["bytes"] / max(h["pipeline"]["learned"], 1), 1)
                                            if h.get("item_feed") else None for h in hs],
              "cpu_s_per_worker": cpu,
              # the machine's cores in use while draining (workers, broker, database): 1.0 = all of them
              "machine_busy_share": round(busy[0] / busy[1], 2) if busy[1] else None}
    return result, workers, env


def cost_per_event(one: dict, many: dict) -> dict:
    """CPU microseconds a worker spends per own event (validated, stored, learned: the one-worker run) and per
    peer event (learned item-side), the latter from a group's workers: (cpu - own x own cost) / peer events."""
    own_us = one["cpu_s_per_worker"][0] / one["events"] * 1e6
    peer = [(cpu - n * own_us / 1e6) / p * 1e6 for cpu, n, p in
            zip(many["cpu_s_per_worker"], many["learned_per_worker"], many["peer_events_per_worker"]) if p]
    peer_us = float(np.mean(peer)) if peer else None
    return {"own_event_us": round(own_us, 1), "peer_event_us": round(peer_us, 1) if peer_us is not None else None,
            "peer_over_own": round(peer_us / own_us, 3) if peer_us is not None else None}


def rebalance(survivor: WorkerProcess, leaver: WorkerProcess, sig: int, partitions: int, expect_learned: int) -> dict:
    """Stop `leaver` with `sig`; time until `survivor` owns everything and has learned `expect_learned`."""
    t0 = time.monotonic()
    leaver.process.send_signal(sig)
    t_owned = wait("the survivor to own every partition",
                   lambda: sorted((health(survivor) or {}).get("partitions", [])) == list(range(partitions)),
                   [survivor], timeout=120)
    t_caught = wait("the survivor to learn what the leaver had",
                    lambda: ((health(survivor) or {}).get("events_learned") or 0) >= expect_learned,
                    [survivor], timeout=300)
    leaver.process.wait(30)
    return {"owns_every_partition_after_s": round(t_owned - t0, 2),
            "learned_the_leavers_events_after_s": round(t_caught - t0, 2)}


def rejoin(survivor: WorkerProcess, env: dict, tmp: str, name: str) -> WorkerProcess:
    """Start a second worker again and wait until it owns partitions and has caught up on them."""
    b = start(env, tmp, name)
    try:
        wait(f"{name} to join", lambda: len((health(b) or {}).get("partitions") or []) > 0, [survivor, b])
    except BaseException:
        b.stop(signal.SIGKILL)
        raise
    time.sleep(5)
    return b


def rebalances(a: WorkerProcess, b: WorkerProcess, env: dict, tmp: str, db: str, args: argparse.Namespace
               ) -> dict:
    """While events keep arriving: a graceful leave, b back, a crash, b back, a graceful leave again."""
    total = args.events
    load_events = int(args.load_rate * args.load_s)
    load = subprocess.Popen(
        [sys.executable, "-m", "recstream.stream.cli", "produce", "--synthetic", "--events",
         str(load_events), "--users", "20000", "--items", "10000", "--seed", "12",
         "--rate", str(args.load_rate)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(min(5, args.load_s / 4))
    # The survivor has learned only its own partitions so far: after the leave it must learn b's.
    first_leave = leave = None
    if not args.smoke:  # the smoke run keeps the crash, the case the counts at the end are about
        first_leave = rebalance(a, b, signal.SIGTERM, args.partitions, expect_learned=stored(db)[0])
        b = rejoin(a, env, tmp, "w2-1-again")
    crash = rebalance(a, b, signal.SIGKILL, args.partitions, expect_learned=stored(db)[0])
    if not args.smoke:
        b = rejoin(a, env, tmp, "w2-1-third")
        leave = rebalance(a, b, signal.SIGTERM, args.partitions, expect_learned=stored(db)[0])
    if load.wait(300) != 0:
        raise RuntimeError("the load producer failed")
    total += load_events
    wait("every produced event stored", lambda: stored(db)[0] >= total, [a], timeout=120)
    wait("every event learned by the survivor",
         lambda: ((health(a) or {}).get("events_learned") or 0) >= total, [a], timeout=300)
    time.sleep(2)
    rows, distinct = stored(db)
    learned_a = health(a)["events_learned"]
    return {
        "rebalance": {
            "graceful_leave": leave, "kill_9": crash,
            # aiokafka sends LeaveGroup only from generation 1 on and tansu numbers the first one 0,
            # so a leave from the group's first generation waits for the session timeout like a crash.
            "graceful_leave_first_generation": first_leave,
            "session_timeout_s": float(env["RECSTREAM_SESSION_TIMEOUT_S"])},
        "after_kill_9": {"produced": total, "stored_rows": rows, "lost": total - distinct,
                         "duplicated_rows": rows - distinct, "survivor_events_learned": learned_a,
                         "learned_twice": max(learned_a - total, 0)}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--workers", type=lambda v: [int(x) for x in v.split(",")], default=[1, 2, 4],
                    help="group sizes timed draining the backlog (1 and 2 always; the rebalances use the 2)")
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--prepare-in-process", action="store_true")
    ap.add_argument("--load-rate", type=float, default=2000)
    ap.add_argument("--load-s", type=float, default=150.0, help="seconds of steady load during the rebalances")
    ap.add_argument("--session-timeout-s", type=float, default=10.0)
    ap.add_argument("--keep-logs", metavar="DIR", help="move the workers' logs here at the end")
    add_smoke(ap)
    args = shrink(ap.parse_args(), events=3_000, load_rate=300, load_s=12.0, session_timeout_s=6.0, workers=[1, 2])
    args.workers = sorted(set(args.workers) | {1, 2})
    out: dict = {"bench": "scale", "cpus": os.cpu_count(), "partitions": args.partitions,
                 "prepare_in_process": args.prepare_in_process}
    with EmbeddedBroker() as broker, tempfile.TemporaryDirectory() as tmp:
        groups = {}
        for n in sorted(set(args.workers) - {2}):
            with database(args.database_url, tmp) as db:
                out["database"] = db.split(":", 1)[0]
                groups[n], workers, _ = drain(broker, db, n, args, tmp)
                for w in workers:
                    w.stop()
        with database(args.database_url, tmp) as db:
            groups[2], workers, env = drain(broker, db, 2, args, tmp)
            one = groups[1]
            out["throughput"] = {
                **{f"workers_{n}": g for n, g in sorted(groups.items())},
                **{f"ratio_{n}_vs_one": round(g["events_per_s"] / one["events_per_s"], 2)
                   for n, g in sorted(groups.items()) if n != 1}}
            out["cpu_per_event"] = {f"workers_{n}": cost_per_event(one, g) for n, g in sorted(groups.items()) if n != 1}
            out["cpu_per_event"]["in_process"] = sharing_in_process(args.events)
            a, b = workers
            try:
                out.update(rebalances(a, b, env, tmp, db, args))
            finally:
                for w in (a, b):
                    w.stop(signal.SIGKILL)
                if args.keep_logs:
                    os.makedirs(args.keep_logs, exist_ok=True)
                    for name in os.listdir(tmp):
                        if name.endswith(".log"):
                            os.replace(f"{tmp}/{name}", f"{args.keep_logs}/{name}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
