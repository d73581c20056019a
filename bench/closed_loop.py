"""The closed loop: simulated users ask a running worker for recommendations, react to what they are shown, and
send feedback and behaviour through Kafka — so what recstream serves changes what it learns next.

    python bench/closed_loop.py [--short] [--rounds 120] [--users-per-round 40] [--seed 7]
                                [--arms popularity,no_feedback,feedback,explore]

Each arm runs a fresh `recstream worker` (own topics and database, one embedded broker) against the same seeded
users (models/evaluation/simulated_users.py): `popularity` serves the most popular items (recstream's answer for
a user without history, the user's own items removed), `no_feedback` is recstream with RECSTREAM_LEARN_FEEDBACK=false,
`feedback` the default, `explore` the default with RECSTREAM_EXPLORE_SHARE=0.2. Every round, each of
--users-per-round users browses one item on their own (a behaviour event) and asks for 10 recommendations; each
shown item is an `impression`, each click or purchase is sent as feedback *and* as behaviour (as a site's tracker
and a list widget would both report it). Event time moves 60 s a round; at half the rounds every user's taste is
re-drawn. Reported per arm: click-through rate (clicks and purchases per impression) with 95% intervals, overall
and in the last quarter before and after the shift; purchases per request; catalogue coverage; the share of
impressions going to the top 1% of items; rounds until the CTR is back within 5% of its pre-shift level.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import numpy as np
from common import add_smoke, shrink
from kafka import KafkaProducer
from tqdm import tqdm

from recstream.models.evaluation.simulated_users import SimulatedUsers, UserSpec
from recstream.models.stats import wilson_interval
from recstream.models.store.db import create_db_engine, upgrade
from recstream.stream.app.launcher import running_worker
from recstream.stream.client import api_get
from recstream.stream.kafka.broker import EmbeddedBroker, free_port

ARMS = {"popularity": {}, "no_feedback": {"RECSTREAM_LEARN_FEEDBACK": "false"}, "feedback": {},
        "explore": {"RECSTREAM_EXPLORE_SHARE": "0.2"}}
K = 10
ROUND_S = 60.0


class Arm:
    """One arm's loop: the worker, the producer, and what users were shown and did per round."""

    def __init__(self, name: str, worker, producer: KafkaProducer, users: SimulatedUsers, rng: np.random.Generator,
                 t0: float) -> None:
        self.name, self.worker, self.producer, self.users, self.rng = name, worker, producer, users, rng
        self.env = worker.env
        self.clock = t0
        self.history: dict[int, set[str]] = {}
        self.sent = 0
        #: per round: (impressions, clicks incl. purchases, purchases, requests)
        self.rounds: list[tuple[int, int, int, int]] = []
        self.shown = Counter()

    def send(self, topic: str, user: str, doc: dict) -> None:
        self.producer.send(self.env[topic], key=user.encode(), value=json.dumps(doc).encode())
        self.sent += 1

    def behaviour(self, user: int, item: str, kind: str) -> None:
        self.history.setdefault(user, set()).add(item)
        self.send("RECSTREAM_TOPIC_BEHAVIOUR", f"sim-{user}", {
            "event_id": uuid.uuid4().hex, "user_id": f"sim-{user}", "item_id": item, "type": kind, "ts": self.clock})

    def feedback(self, user: int, item: str, action: str, answer: dict) -> None:
        self.send("RECSTREAM_TOPIC_FEEDBACK", f"sim-{user}", {
            "event_id": uuid.uuid4().hex, "user_id": f"sim-{user}", "item_id": item, "action": action,
            "rec_id": answer.get("rec_id", "popular"), "model_version": answer.get("model_version", "popular"),
            "ts": self.clock})

    def shown_to(self, user: int) -> tuple[list[str], dict]:
        if self.name == "popularity":  # recstream's answer for nobody in particular, minus the user's own items
            answer = api_get(f"{self.worker.api}/recommendations/__anyone__?k={K * 5}")
            own = self.history.get(user, set())
            return [i["item_id"] for i in answer["items"] if i["item_id"] not in own][:K], {}
        answer = api_get(f"{self.worker.api}/recommendations/sim-{user}?k={K}")
        return [i["item_id"] for i in answer["items"]], answer

    def round(self, per_round: int) -> None:
        impressions = clicks = purchases = 0
        for user in self.rng.choice(self.users.spec.users, per_round, replace=False).tolist():
            self.behaviour(user, self.users.browse(user), "view")
            shown, answer = self.shown_to(user)
            for item in shown:
                self.feedback(user, item, "impression", answer)
            self.shown.update(shown)
            for pos, action in self.users.react(user, shown):
                self.feedback(user, shown[pos], action, answer)
                self.behaviour(user, shown[pos], action)
                clicks += 1
                purchases += action == "purchase"
            impressions += len(shown)
        self.producer.flush()
        self.rounds.append((impressions, clicks, purchases, per_round))
        self.clock += ROUND_S
        self.settle()

    def settle(self, timeout: float = 5.0) -> None:
        """Wait until the worker has consumed everything sent (the loop closes every round)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            p = self.worker.health()["pipeline"]
            if p and p["consumed"] >= self.sent:
                return
            time.sleep(0.02)


def ctr(rounds: list[tuple[int, int, int, int]]) -> dict:
    imp, clicks = sum(r[0] for r in rounds), sum(r[1] for r in rounds)
    lo, hi = wilson_interval(clicks, imp)
    return {"value": round(clicks / imp, 4) if imp else None, "ci95": [round(lo, 4), round(hi, 4)],
            "impressions": imp}


def recovery(rounds: list, shift: int, window: int = 3, tolerance: float = 0.05) -> int | None:
    """Rounds after the shift until the CTR over `window` rounds is back within `tolerance` of the last quarter
    before it."""
    level = ctr(rounds[shift - max(shift // 4, 1):shift])["value"] or 0.0
    for end in range(shift + window, len(rounds) + 1):
        if (ctr(rounds[end - window:end])["value"] or 0.0) >= level * (1 - tolerance):
            return end - shift
    return None


def summary(arm: Arm, shift: int, catalogue: int) -> dict:
    r = arm.rounds
    quarter = max(shift // 4, 1)
    top = max(catalogue // 100, 1)
    total = sum(arm.shown.values())
    return {"ctr": ctr(r), "ctr_before_shift_last_quarter": ctr(r[shift - quarter:shift]),
            "ctr_after_shift_last_quarter": ctr(r[-quarter:]),
            "purchases_per_request": round(sum(x[2] for x in r) / sum(x[3] for x in r), 4),
            "coverage": round(len(arm.shown) / catalogue, 4),
            "top_1pct_impression_share": round(sum(c for _, c in arm.shown.most_common(top)) / total, 4),
            "rounds_to_recover_after_shift": recovery(r, shift),
            "ctr_by_tenth": [ctr(r[i * len(r) // 10:(i + 1) * len(r) // 10])["value"] for i in range(10)]}


def run_arm(name: str, args: argparse.Namespace, broker: EmbeddedBroker, tmp: Path) -> dict:
    spec = UserSpec(seed=args.seed)
    users, rng = SimulatedUsers(spec), np.random.default_rng(args.seed)
    env = {**os.environ, "RECSTREAM_BOOTSTRAP": broker.bootstrap, "RECSTREAM_DATABASE_URL": f"sqlite:///{tmp}/{name}.db",
           "RECSTREAM_WEB_PORT": str(free_port()), "RECSTREAM_GROUP_ID": f"closed-loop-{name}",
           "RECSTREAM_TOPIC_BEHAVIOUR": f"{name}.behaviour", "RECSTREAM_TOPIC_FEEDBACK": f"{name}.feedback",
           "RECSTREAM_TOPIC_DEAD_LETTER": f"{name}.dead-letter", "RECSTREAM_TOPIC_PARTITIONS": "1",
           "RECSTREAM_SESSION_TIMEOUT_S": "6", "RECSTREAM_PREPARE_IN_PROCESS": "false",
           "RECSTREAM_CHECKPOINT_INTERVAL_S": "3600", "RECSTREAM_ARTEFACT_DIR": str(tmp / name), **ARMS[name]}
    shift = args.rounds // 2
    upgrade(create_db_engine(env["RECSTREAM_DATABASE_URL"]))
    with running_worker(env, tmp / f"{name}.log") as worker:
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=5)
        arm = Arm(name, worker, producer, users, rng, time.time() - 7 * 86_400)
        for user in range(spec.users):  # some history first: each user found a few items on their own
            for _ in range(3):
                arm.behaviour(user, users.browse(user), "view")
        producer.flush()
        arm.settle(timeout=30)
        for n in tqdm(range(args.rounds), desc=name, file=sys.stderr):
            if n == shift:
                users.shift()
            arm.round(args.users_per_round)
            users.step()
        out = summary(arm, shift, spec.items)
        out["worker_feedback"] = worker.health().get("feedback")
        producer.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=120)
    ap.add_argument("--users-per-round", type=int, default=40)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--short", action="store_true", help="60 rounds of 30 users (about a minute an arm)")
    ap.add_argument("--arms", default="popularity,no_feedback,feedback,explore")
    add_smoke(ap)
    args = shrink(ap.parse_args(), rounds=8, users_per_round=10, arms="no_feedback,feedback")
    if args.short:
        args.rounds, args.users_per_round = 60, 30
    arms = args.arms.split(",")
    if unknown := [a for a in arms if a not in ARMS]:
        ap.error(f"unknown arm(s) {unknown}; choose from {list(ARMS)}")
    if args.rounds < 8 or not 1 <= args.users_per_round <= UserSpec().users:
        ap.error(f"--rounds must be >= 8 and --users-per-round within 1..{UserSpec().users}")
    t = time.perf_counter()
    with EmbeddedBroker() as broker, tempfile.TemporaryDirectory() as tmp:
        results = {a: run_arm(a, args, broker, Path(tmp)) for a in arms}
    out = {"bench": "closed_loop", "rounds": args.rounds, "users_per_round": args.users_per_round,
           "seed": args.seed, "arms": results}
    if "feedback" in results and "no_feedback" in results:
        f, n = results["feedback"]["ctr"], results["no_feedback"]["ctr"]
        out["feedback_over_no_feedback_ctr"] = round(f["value"] / n["value"], 3) if n["value"] else None
        out["feedback_ci95_above_no_feedback"] = f["ci95"][0] > n["ci95"][1]
    out["seconds"] = round(time.perf_counter() - t, 1)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
