"""Faults together, for a while: two workers and the scheduler on the embedded broker and a PostgreSQL this bench
starts itself, a steady producer (behaviour, feedback, catalogue updates and a share of bad messages), request
load on every worker, and a fault every --fault-every-s chosen at random (seeded) from: kill -9 a worker and
restart it, freeze the broker past the session timeout, stop PostgreSQL for a while, add a third worker and take
it away, promote or roll back over the operator API.

    python bench/soak.py [--minutes 60] [--seed 1] [--rate 300] [--fault-every-s 60] [--smoke]

Checked at the end against the producer's own record: every valid behaviour event stored once, every bad message
dead-lettered (at least once; a worker killed between sending dead letters and committing repeats its batch's),
and — once one worker owns every partition — every event learned once. Over time, each --sample-s: RSS and open
files of every process, consumer lag, database connections and the request p99; slopes after the first 10 minutes
(a third of shorter runs). After each fault: the seconds until the lag is back under one second of events.
Prints one JSON object (the fault log included).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import httpx
import numpy as np
from common import add_smoke, rss_mb, shrink
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from sqlalchemy import func, select, text

from recstream.models.errors import RecstreamError
from recstream.models.store.db import create_db_engine, upgrade
from recstream.models.store.runs import RunQueue
from recstream.models.store.schema import feedback, interactions, model_audit
from recstream.stream.app.launcher import WorkerFailed, WorkerProcess, start_worker
from recstream.stream.app.own_postgres import OwnPostgres
from recstream.stream.client import api_get
from recstream.stream.kafka.broker import EmbeddedBroker, free_port
from recstream.stream.kafka.topics import Topics, ensure_topics
from recstream.stream.settings import Settings

TOKEN = "soak-operator-token-0001"
SESSION_TIMEOUT_S = 6.0
#: seconds after a fault ends during which errors and lag are still its doing
GRACE_S = 10.0


def open_files(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


class Producer(threading.Thread):
    """Steady events at `rate`/s, each recorded: valid behaviour ids, bad messages' markers."""

    def __init__(self, env: dict[str, str], rate: float, bad_share: float, seed: int) -> None:
        super().__init__(daemon=True)
        self.env, self.rate, self.bad_share = env, rate, bad_share
        self.rng = random.Random(seed)
        self.valid: list[str] = []
        self.feedback: list[str] = []
        self.bad: list[str] = []
        self.users_seen: dict[str, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        producer = KafkaProducer(bootstrap_servers=self.env["RECSTREAM_BOOTSTRAP"], linger_ms=5, acks="all",
                                 retries=1_000_000, max_block_ms=600_000)
        topic, items_topic = self.env["RECSTREAM_TOPIC_BEHAVIOUR"], self.env["RECSTREAM_TOPIC_ITEMS"]
        feedback_topic = self.env["RECSTREAM_TOPIC_FEEDBACK"]
        start, n = time.monotonic(), 0
        while not self.stop.is_set():
            n += 1
            user, item = f"u{self.rng.randrange(2_000)}", f"i{int(self.rng.paretovariate(1.2)) % 3_000}"
            if self.rng.random() < self.bad_share:
                marker = f"bad-{uuid.uuid4().hex}"
                producer.send(topic, key=user.encode(), value=json.dumps(
                    {"event_id": marker, "user_id": user, "item_id": item, "type": "teleport", "ts": time.time()}
                ).encode())
                self.bad.append(marker)
            elif self.rng.random() < 0.1:  # impressions: stored, and never learned as interactions
                event_id = f"f{n}-{uuid.uuid4().hex[:8]}"
                producer.send(feedback_topic, key=user.encode(), value=json.dumps(
                    {"event_id": event_id, "user_id": user, "item_id": item, "action": "impression",
                     "rec_id": "soak", "model_version": "online:biased_mf", "ts": time.time()}).encode())
                self.feedback.append(event_id)
            elif self.rng.random() < 0.01:
                producer.send(items_topic, key=item.encode(), value=json.dumps(
                    {"item_id": item, "available": True, "categories": [f"c{hash(item) % 7}"]}).encode())
            else:
                event_id = f"e{n}-{uuid.uuid4().hex[:8]}"
                producer.send(topic, key=user.encode(), value=json.dumps(
                    {"event_id": event_id, "user_id": user, "item_id": item,
                     "type": self.rng.choice(("view", "click", "purchase")), "ts": time.time()}).encode())
                self.valid.append(event_id)
                self.users_seen.setdefault(user, time.monotonic())
            ahead = n / self.rate - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)
        producer.flush()
        producer.close()


class Answer(NamedTuple):
    t: float  # monotonic
    status: int  # 0: no answer (connection refused, or none within 5 s)
    seconds: float
    personal: bool
    known_user: bool  # the user's first event was produced over 30 s before
    worker: str  # name-pid
    at: float  # wall clock, to compare with the registry's audit log
    deep: str | None  # the deep version that shaped the list


class Requests(threading.Thread):
    """About `rate`/s requests spread over the live workers, each logged as an Answer."""

    def __init__(self, soak: Soak, producer: Producer, rate: float) -> None:
        super().__init__(daemon=True)
        self.soak, self.producer, self.rate = soak, producer, rate
        self.log: list[Answer] = []
        self.stop = threading.Event()

    def run(self) -> None:
        rng = random.Random(7)
        while not self.stop.is_set():
            workers = list(self.soak.workers.items())
            users = list(self.producer.users_seen.items())
            if workers and users:
                user, first = rng.choice(users)
                name, w = rng.choice(workers)
                t, at = time.perf_counter(), time.time()
                deep = None
                try:
                    answer = api_get(f"{w.api}/recommendations/{user}?k=10", timeout=5)
                    status, personal = 200, answer["source"] == "personal"
                    deep = answer["model_versions"]["deep"]
                except RecstreamError as exc:
                    text_ = str(exc)
                    status = int(text_.split(":")[0]) if text_[:3].isdigit() else 0
                    personal = False
                self.log.append(Answer(time.monotonic(), status, time.perf_counter() - t, personal,
                                       time.monotonic() - first > 30, f"{name}-{w.process.pid}", at, deep))
            time.sleep(1 / self.rate)


class Soak:
    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args, self.tmp = args, tmp
        self.logs = args.logs or tmp
        self.rng = random.Random(args.seed)
        self.broker = EmbeddedBroker(log_path=self.logs / "broker.log").start()
        self.pg = OwnPostgres("soak")
        self.pg.start()
        self.pg.create_database()
        self.engine = create_db_engine(self.pg.url)
        upgrade(self.engine)
        self.small_disk = False
        #: why the disk_full fault is not drawn, when it cannot be
        self.disk_note: str | None = None
        if "disk_full" in args.faults:
            why = mount_small_disk(tmp / "artefacts", ARTEFACT_DISK_MB)
            if why is None:
                self.small_disk = True
            else:
                args.faults.remove("disk_full")
                self.disk_note = f"disk_full not drawn: cannot mount a tmpfs for the artefacts ({why})"
        s = Settings.build(bootstrap=self.broker.bootstrap, database_url=self.pg.url)
        ensure_topics(self.broker.bootstrap, Topics.of(s.kafka), s.kafka.topic_partitions)
        self.env = {**os.environ, "RECSTREAM_BOOTSTRAP": self.broker.bootstrap, "RECSTREAM_DATABASE_URL": self.pg.url,
                    "RECSTREAM_TOPIC_BEHAVIOUR": s.kafka.topic_behaviour, "RECSTREAM_TOPIC_ITEMS": s.kafka.topic_items,
                    "RECSTREAM_TOPIC_FEEDBACK": s.kafka.topic_feedback,
                    "RECSTREAM_TOPIC_DEAD_LETTER": s.kafka.topic_dead_letter,
                    "RECSTREAM_SESSION_TIMEOUT_S": str(SESSION_TIMEOUT_S), "RECSTREAM_OPERATOR_TOKEN": TOKEN,
                    "RECSTREAM_WORKER_HEARTBEAT_S": "0.5", "RECSTREAM_CHECKPOINT_INTERVAL_S": "10",
                    "RECSTREAM_ARTEFACT_DIR": str(tmp / "artefacts"), "RECSTREAM_DRIFT_REPORT_DIR": str(tmp / "drift"),
                    "RECSTREAM_RETRAIN_INTERVAL_S": str(args.retrain_every_s),
                    "RECSTREAM_DRIFT_INTERVAL_S": str(args.retrain_every_s / 2),
                    "RECSTREAM_DEEP_EPOCHS": "2", "RECSTREAM_DEEP_DIM": "16",
                    "RECSTREAM_DEDUPE_WINDOW": str(args.dedupe_window),
                    # Everything kept for a time is kept for less than the warm-up, so memory has a steady state
                    # to reach and growth after it is a leak: the training window, ignored showings, impressions
                    # waiting for a click, clicks remembered against their behaviour copy.
                    "RECSTREAM_RETRAIN_WINDOW_S": str(args.horizon_s),
                    "RECSTREAM_ONLINE_IGNORED_FOR_S": str(args.horizon_s),
                    "RECSTREAM_ONLINE_FEEDBACK_DEDUPE_S": str(args.horizon_s),
                    "RECSTREAM_ONLINE_EXPOSURE_WINDOW_S": str(min(args.horizon_s, 60)),
                    # and what is kept up to a count fills within it too (a user's ~80 events in 10 minutes)
                    "RECSTREAM_ONLINE_MAX_SEEN_PER_USER": "50",
                    # one training thread: the other core serves (with the scheduler's default nice of 10)
                    "RECSTREAM_SCHEDULER_THREADS": "1"}
        self.workers: dict[str, WorkerProcess] = {}
        self.starts = 0
        self.faults: list[dict] = []
        self.scheduler = self._scheduler()
        self.group_lag = GroupLag(self.env, s.kafka.group_id)

    def _scheduler(self) -> subprocess.Popen:
        log = (self.logs / "scheduler.log").open("wb")
        return subprocess.Popen([sys.executable, "-m", "recstream.stream.cli", "scheduler"], env=self.env,
                                stdout=log, stderr=subprocess.STDOUT)

    def start(self, name: str) -> WorkerProcess:
        self.starts += 1
        env = {**self.env, "RECSTREAM_WEB_PORT": str(free_port())}
        w = start_worker(env, self.logs / f"{name}-{self.starts}.log", timeout=120)
        self.workers[name] = w
        return w

    def fault(self, kind: str, action: Callable[[], str]) -> None:
        began = time.monotonic()
        try:
            detail = action()
        except Exception as exc:  # noqa: BLE001 - recorded: a fault that could not be made is part of the log
            detail = f"failed: {type(exc).__name__}: {exc}"
        ended = time.monotonic()
        self.faults.append({"kind": kind, "start_s": round(began - self.t0, 1), "seconds": round(ended - began, 1),
                            "detail": detail[:300], "lag_recovered_s": self.lag_recovered(ended)})
        print(f"[{self.faults[-1]['start_s']:7.1f} s] {kind}: {detail[:120]}; lag back under a second of events "
              f"after {self.faults[-1]['lag_recovered_s']} s", file=sys.stderr, flush=True)

    def lag_recovered(self, since: float, timeout: float = 120.0) -> float | None:
        """Seconds from `since` until the workers' consumer lag is back under one second of events (the producer
        never stops, so a lag of exactly 0 is only ever seen between two fetches); None: not within `timeout`."""
        while time.monotonic() - since < timeout:
            lag = self.group_lag()
            if lag is not None and lag <= self.args.rate:
                return round(time.monotonic() - since, 1)
            time.sleep(0.5)
        return None

    def kill9(self) -> str:
        name = self.rng.choice(sorted(n for n in self.workers if n != "extra"))
        self.workers.pop(name).process.send_signal(signal.SIGKILL)
        time.sleep(2)
        self.start(name)
        return f"{name} killed and restarted"

    def freeze_broker(self) -> str:
        os.kill(self.broker.process.pid, signal.SIGSTOP)
        time.sleep(SESSION_TIMEOUT_S + 2)
        os.kill(self.broker.process.pid, signal.SIGCONT)
        return f"broker frozen {SESSION_TIMEOUT_S + 2:.0f} s"

    def stop_database(self) -> str:
        down = self.rng.uniform(*self.args.db_outage_s)
        self.pg.stop("immediate")
        time.sleep(down)
        self.pg.start()
        return f"PostgreSQL down {down:.0f} s"

    def add_remove_worker(self) -> str:
        self.start("extra")
        time.sleep(10)
        self.workers.pop("extra").stop()
        return "a third worker joined for 10 s and left"

    def api(self) -> str:
        """A live worker's API (operator actions go to any one: the registry is shared)."""
        return next(iter(self.workers.values())).api

    def deep_versions(self) -> list[dict]:
        return [v for v in api_get(f"{self.api()}/models", token=TOKEN)["versions"] if v["kind"] == "deep"]

    def operator_post(self, path: str, body: dict) -> httpx.Response:
        return httpx.post(f"{self.api()}{path}", json=body, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)

    def operate(self) -> str:
        deep = [v for v in self.deep_versions() if v["status"] in ("candidate", "retired", "live")]
        live = [v for v in deep if v["status"] == "live"]
        others = [v for v in deep if v["status"] != "live"]
        if others:
            target = self.rng.choice(others)["name"]
            r = self.operator_post(f"/models/{target}/promote", {"reason": "soak"})
            return f"promote {target} answered {r.status_code}"
        if live:
            return f"rollback answered {self.operator_post('/models/rollback', {'reason': 'soak'}).status_code}"
        return "no deep version to promote or roll back"

    def disk_full(self) -> str:
        """Fill the artefact disk, queue a retraining and wait for it: it must fail cleanly (recorded, the live
        version still serving); then free the space and queue another, which must succeed."""
        where = self.tmp / "artefacts"
        filler = where / "soak-filler"
        live_before = self.live_deep()
        try:
            fill(filler, leave=4096)
            full = self.retrain_and_wait("soak: artefact disk full")
            live_during = self.live_deep()
        finally:
            filler.unlink(missing_ok=True)
        after = self.retrain_and_wait("soak: artefact disk has space again")
        return (f"retrain on a full disk: {full['status']} ({(full['error'] or '')[:100]}); live {live_before} -> "
                f"{live_during}; with space again: {after['status']}")

    def live_deep(self) -> str | None:
        return next((v["name"] for v in self.deep_versions() if v["status"] == "live"), None)

    def retrain_and_wait(self, reason: str, timeout: float = 600.0) -> dict:
        r = self.operator_post("/models/retrain", {"reason": reason})
        r.raise_for_status()
        run_id, runs = r.json()["run_id"], RunQueue(self.engine)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = runs.run(run_id)
            if run["status"] not in ("requested", "running"):
                return {"run": run_id, "status": run["status"], "error": run["error"]}
            time.sleep(1)
        return {"run": run_id, "status": f"not finished in {timeout:.0f} s", "error": None}

    def close(self) -> None:
        self.group_lag.close()
        for w in self.workers.values():
            w.stop(signal.SIGKILL)
        self.scheduler.kill()
        self.broker.stop()
        self.pg.remove()
        if self.small_disk:
            subprocess.run(["umount", "-l", str(self.tmp / "artefacts")], check=False, capture_output=True)


FAULTS = ("kill9", "freeze_broker", "stop_database", "add_remove_worker", "operate", "disk_full")
#: the artefact directory's size when the disk_full fault is drawn (a tmpfs: it needs root to mount)
ARTEFACT_DISK_MB = 256


def mount_small_disk(where: Path, mb: int) -> str | None:
    """A tmpfs of `mb` MiB at `where`: a real file system that runs out of space. None when mounted, else why not."""
    where.mkdir(parents=True, exist_ok=True)
    try:
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={mb}m", "tmpfs", str(where)], capture_output=True,
                           text=True, check=False)
    except OSError as exc:
        return str(exc)
    return None if r.returncode == 0 else (r.stderr.strip() or f"mount exited with {r.returncode}")


def fill(path: Path, leave: int) -> None:
    """Write zeros to `path` until its file system has only `leave` bytes free."""
    st = os.statvfs(path.parent)
    remaining, chunk = st.f_bavail * st.f_frsize - leave, b"\0" * (1 << 20)
    with path.open("wb") as f:
        while remaining > 0:
            n = min(remaining, len(chunk))
            try:
                f.write(chunk[:n])
            except OSError:  # full already (other writers): that is the point
                return
            remaining -= n


class GroupLag:
    """The workers' group lag as the brokers see it (as `kafka-consumer-groups --describe` does): end offsets
    minus the group's committed offsets, over the three input topics. Not the workers' own metric: a restarted
    worker reports no lag until it has fetched, and a frozen broker's last answer looks like none."""

    def __init__(self, env: dict[str, str], group: str) -> None:
        self.env, self.group = env, group
        self.topics = [env["RECSTREAM_TOPIC_BEHAVIOUR"], env["RECSTREAM_TOPIC_FEEDBACK"], env["RECSTREAM_TOPIC_ITEMS"]]
        self.admin: KafkaAdminClient | None = None
        self.consumer: KafkaConsumer | None = None

    def __call__(self) -> float | None:
        """Total lag; None while the brokers do not answer."""
        try:
            if self.admin is None:
                self.admin = KafkaAdminClient(bootstrap_servers=self.env["RECSTREAM_BOOTSTRAP"], request_timeout_ms=5000)
                self.consumer = KafkaConsumer(bootstrap_servers=self.env["RECSTREAM_BOOTSTRAP"], request_timeout_ms=5000)
            tps = [TopicPartition(t, p) for t in self.topics for p in self.consumer.partitions_for_topic(t) or ()]
            ends = self.consumer.end_offsets(tps)
            committed = self.admin.list_group_offsets({self.group: tps})[self.group]  # kafka-python 3 name
        except Exception:  # noqa: BLE001 - a frozen or restarting broker: no figure now, a new client next time
            self.close()
            return None
        done = {tp: max(c.offset, 0) for tp, c in committed.items()}  # -1: nothing committed yet
        return float(sum(max(end - done.get(tp, 0), 0) for tp, end in ends.items()))

    def close(self) -> None:
        for client in (self.admin, self.consumer):
            if client is not None:
                with contextlib.suppress(Exception):  # closing a client of a broker that is gone
                    client.close()
        self.admin = self.consumer = None


def sample(soak: Soak, engine, requests: Requests, since: float) -> dict:
    procs = {n: w.process.pid for n, w in soak.workers.items()} | {"scheduler": soak.scheduler.pid,
                                                                   "broker": soak.broker.process.pid}
    lag = soak.group_lag()
    try:
        with engine.connect() as c:
            conns = c.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = 'soak'")).scalar_one()
    except Exception:  # noqa: BLE001 - the database may be the fault of the moment
        conns = None
    recent = [x.seconds for x in requests.log if x.t >= since and x.status == 200]
    return {"t_s": round(time.monotonic() - soak.t0, 1), "lag": lag, "db_connections": conns,
            "pids": procs, "rss_mb": {n: rss_mb(pid) for n, pid in procs.items()},
            "open_files": {n: open_files(pid) for n, pid in procs.items()},
            "request_p99_ms": round(float(np.percentile(recent, 99)) * 1e3, 2) if recent else None}


def slope_per_hour(samples: list[dict], name: str, after_s: float) -> dict | None:
    """RSS growth of `name` after warm-up, as a share of its mean per hour (linear fit), over the longest stretch
    one process of that name lived (a worker killed and restarted starts a new one, which a fit across both would
    read as growth or shrinkage), each process's own first `after_s` left out too (a worker restarted late fills
    its state again): {"pct_per_hour", "minutes", "pid"}."""
    runs: dict[int, list[tuple[float, float]]] = {}
    born: dict[int, float] = {}
    for s in samples:
        pid, rss = (s.get("pids") or {}).get(name), s["rss_mb"].get(name)
        if pid is not None:
            born.setdefault(pid, s["t_s"])
        if pid is not None and rss and s["t_s"] >= max(after_s, born[pid] + after_s):
            runs.setdefault(pid, []).append((s["t_s"], rss))
    if not runs:
        return None
    pid, pts = max(runs.items(), key=lambda kv: kv[1][-1][0] - kv[1][0][0])
    if len(pts) < 3:
        return None
    t, y = np.array(pts, dtype=float).T
    return {"pct_per_hour": round(float(np.polyfit(t, y, 1)[0]) * 3600 / float(y.mean()) * 100, 2),
            "minutes": round((t[-1] - t[0]) / 60, 1), "pid": pid}


def not_serving(engine, answers: list[Answer], slack_s: float = 5.0) -> int:
    """Answers shaped by a deep version that the registry's audit log does not show live or in canary at the time
    (`slack_s`: workers follow the registry within a poll, and a request already running keeps its version)."""
    with engine.connect() as c:
        rows = c.execute(select(model_audit.c.version_id, model_audit.c.to_status, model_audit.c.at)
                         .order_by(model_audit.c.at)).all()
    spans: dict[str, list[list[float]]] = {}
    for vid, status, at in rows:
        mine = spans.setdefault(f"deep-{vid}", [])
        if status in ("live", "canary"):
            if not mine or mine[-1][1] < float("inf"):
                mine.append([at, float("inf")])
        elif mine and mine[-1][1] == float("inf"):
            mine[-1][1] = at
    return sum(1 for x in answers if x.deep is not None and not any(
        start <= x.at <= end + slack_s for start, end in spans.get(x.deep, ())))


def in_fault(t: float, faults: list[dict], t0: float) -> bool:
    return any(f["start_s"] <= t - t0 <= f["start_s"] + f["seconds"] + GRACE_S for f in faults)


def dead_lettered(env: dict[str, str]) -> list[str]:
    """Event ids of the dead-letter topic's messages, read to its end."""
    consumer = KafkaConsumer(env["RECSTREAM_TOPIC_DEAD_LETTER"], bootstrap_servers=env["RECSTREAM_BOOTSTRAP"],
                             auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=5_000,
                             group_id=None)
    ids = []
    for msg in consumer:
        try:
            ids.append(json.loads(msg.value)["event_id"])
        except (ValueError, KeyError, TypeError):
            continue
    consumer.close()
    return ids


def settle(soak: Soak, engine, produced: int, timeout: float = 300.0) -> int:
    """Wait until every produced valid event is stored; the rows stored."""
    deadline = time.monotonic() + timeout
    rows = 0
    while time.monotonic() < deadline:
        with engine.connect() as c:
            rows = c.execute(select(func.count(func.distinct(interactions.c.event_id)))).scalar_one()
        if rows >= produced:
            return rows
        time.sleep(1)
    return rows


def run(args: argparse.Namespace, tmp: Path) -> dict:
    soak = Soak(args, tmp)
    try:
        soak.start("a")
        soak.start("b")
        producer = Producer(soak.env, args.rate, args.bad_share, args.seed)
        requests = Requests(soak, producer, args.request_rate)
        engine = create_db_engine(soak.pg.url)
        soak.t0 = time.monotonic()
        producer.start()
        requests.start()
        samples, next_fault, next_sample = [], time.monotonic() + args.fault_every_s, time.monotonic()
        end = soak.t0 + args.minutes * 60
        while time.monotonic() < end:
            now = time.monotonic()
            if now >= next_sample:
                samples.append(sample(soak, engine, requests, now - args.sample_s))
                next_sample = now + args.sample_s
            if now >= next_fault:
                kind = soak.rng.choice(args.faults)
                soak.fault(kind, getattr(soak, kind))
                next_fault = time.monotonic() + args.fault_every_s * soak.rng.uniform(0.7, 1.3)
            time.sleep(0.2)
        producer.stop.set()
        producer.join(120)
        requests.stop.set()
        requests.join(30)
        stored = settle(soak, engine, len(producer.valid))
        with engine.connect() as c:
            rows = c.execute(select(func.count()).select_from(interactions)).scalar_one()
            ids = {r[0] for r in c.execute(select(interactions.c.event_id))}
            fb_rows = c.execute(select(func.count()).select_from(feedback)).scalar_one()
            fb_ids = {r[0] for r in c.execute(select(feedback.c.event_id))}
        letters = dead_lettered(soak.env)
        bad = set(producer.bad)
        # one worker left: it owns every partition and must hold every event once
        for name in [n for n in soak.workers if n != "a"]:
            soak.workers.pop(name).stop()
        survivor = soak.workers["a"]
        try:
            learned = survivor.wait(lambda h: h["events_learned"] >= len(producer.valid), timeout=args.learn_wait_s,
                                    what="the survivor to learn every event")["events_learned"]
        except WorkerFailed:  # reported below as events not learned: the soak's finding, not its crash
            learned = survivor.health()["events_learned"]
        outside = [x for x in requests.log if not in_fault(x.t, soak.faults, soak.t0)]
        ok = [x for x in outside if x.status == 200]
        warm = min(args.minutes * 60 / 3, 600.0)  # slopes after the first 10 minutes (a third of shorter runs)
        return {
            "bench": "soak", "minutes": args.minutes, "seed": args.seed, "rate": args.rate,
            "faults": soak.faults, "faults_not_drawn": soak.disk_note,
            "events": {"valid_produced": len(producer.valid), "stored_distinct": stored, "stored_rows": rows,
                       "lost": len(set(producer.valid) - ids), "stored_twice": rows - stored,
                       "survivor_learned": learned, "learned_twice": max(learned - len(producer.valid), 0),
                       "not_learned_by_survivor": max(len(producer.valid) - learned, 0),
                       "feedback_produced": len(producer.feedback),
                       "feedback_lost": len(set(producer.feedback) - fb_ids), "feedback_stored_twice": fb_rows - len(fb_ids),
                       "bad_produced": len(bad), "bad_dead_lettered": len(bad & set(letters)),
                       "bad_missing_from_dead_letters": len(bad - set(letters)),
                       "bad_dead_lettered_again": sum(1 for x in letters if x in bad) - len(bad & set(letters))},
            "requests": {"total": len(requests.log), "outside_faults": len(outside),
                         "5xx_outside_faults": sum(1 for x in outside if x.status >= 500),
                         "failed_outside_faults": len(outside) - len(ok),
                         # 0: no answer (connection refused, or no answer within 5 s)
                         "failed_by_status": {str(k): v for k, v in sorted(Counter(
                             x.status for x in outside if x.status != 200).items())},
                         # where they were: (seconds into the run, to 10 s; worker-pid; status) -> requests
                         "failed_outside_faults_at": [[*k, v] for k, v in sorted(Counter(
                             (int((x.t - soak.t0) // 10 * 10), x.worker, x.status)
                             for x in outside if x.status != 200).items())],
                         "known_users_answered_not_personal_outside_faults":
                             sum(1 for x in ok if x.known_user and not x.personal),
                         "p99_ms_outside_faults": round(float(np.percentile([x.seconds for x in ok], 99)) * 1e3, 2)
                         if ok else None,
                         "deep_versions_served": dict(Counter(x.deep for x in requests.log if x.status == 200)),
                         "served_a_version_the_registry_did_not_serve": not_serving(engine, requests.log)},
            "scheduler_nice": os.getpriority(os.PRIO_PROCESS, soak.scheduler.pid),
            "rss_slope_per_hour_after_warmup": {n: slope_per_hour(samples, n, warm)
                                                for n in ("a", "b", "scheduler", "broker")},
            "lag_recovered_s_max": max((f["lag_recovered_s"] for f in soak.faults
                                        if f["lag_recovered_s"] is not None), default=None),
            "faults_lag_not_recovered_in_120_s": sum(1 for f in soak.faults if f["lag_recovered_s"] is None),
            "lag_max_outside_faults": max((s["lag"] or 0 for s in samples
                                           if not in_fault(s["t_s"] + soak.t0, soak.faults, soak.t0)), default=None),
            "samples": samples,
        }
    finally:
        soak.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rate", type=float, default=300.0, help="events per second")
    ap.add_argument("--bad-share", type=float, default=0.02)
    ap.add_argument("--request-rate", type=float, default=20.0)
    ap.add_argument("--fault-every-s", type=float, default=60.0)
    ap.add_argument("--sample-s", type=float, default=60.0)
    ap.add_argument("--retrain-every-s", type=float, default=600.0)
    ap.add_argument("--faults", default=",".join(FAULTS))
    ap.add_argument("--horizon-s", type=float, default=300.0,
                    help="the workers' and scheduler's time-bounded memories (training window, ignored showings, "
                         "remembered clicks), below the 10-minute warm-up so memory can settle (a user's seen "
                         "items are capped at 50 for the same reason)")
    ap.add_argument("--dedupe-window", type=int, default=100_000,
                    help="RECSTREAM_DEDUPE_WINDOW of the workers. Their memory of learned event ids is bounded (up to "
                    "twice this) but fills for this many events: at the default 1M it grows for 55 minutes at 300 "
                    "events/s, which an hour's RSS slope cannot tell from a leak; 100k fills within the warm-up")
    ap.add_argument("--learn-wait-s", type=float, default=300.0, help="how long the last worker may take to hold "
                    "every event before what it lacks is reported")
    ap.add_argument("--logs", type=Path, help="keep the broker's, workers' and scheduler's logs in this directory "
                    "(default: deleted with the run's temporary directory)")
    add_smoke(ap)
    args = shrink(ap.parse_args(), minutes=0.5, rate=100.0, fault_every_s=10.0, sample_s=5.0, learn_wait_s=90.0,
                  retrain_every_s=3600.0, faults="kill9,freeze_broker,stop_database")
    args.faults = args.faults.split(",")
    args.db_outage_s = (3.0, 5.0) if args.smoke else (10.0, 30.0)
    if unknown := set(args.faults) - set(FAULTS):
        ap.error(f"unknown faults {sorted(unknown)}; choose from {', '.join(FAULTS)}")
    with tempfile.TemporaryDirectory() as tmp:
        if args.logs is not None:
            args.logs.mkdir(parents=True, exist_ok=True)
        print(json.dumps(run(args, Path(tmp))))


if __name__ == "__main__":
    main()
