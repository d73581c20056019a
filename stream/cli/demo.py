"""`recstream demo`: the whole loop on one machine — embedded broker, SQLite, a worker, a replayed stream.
One method per step, in the order `run_demo` calls them."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import click
from kafka import KafkaProducer

from recstream.models.data.synthetic import SyntheticSpec, generate, item_genres
from recstream.models.retrain.run import RetrainResult, retrain
from recstream.models.store.db import create_db_engine, upgrade
from recstream.stream.app.launcher import WorkerProcess, start_worker
from recstream.stream.client import Client, api_get
from recstream.stream.kafka.broker import EmbeddedBroker, free_port
from recstream.stream.kafka.produce import produce
from recstream.stream.kafka.topics import Topics, ensure_topics
from recstream.stream.settings import Settings

#: names for the synthetic stream's genres (the demo catalogue's categories)
GENRES = ("drama", "comedy", "thriller", "documentary", "animation", "romance", "sci-fi", "horror", "western",
          "musical", "crime", "fantasy")

WORK = Path("var/demo")


def _wait(what: str, check: Callable[[], Any], timeout: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):  # not up yet
            result = check()
            if result:
                return result
        time.sleep(0.2)
    raise click.ClickException(f"timed out waiting for {what} (see {WORK}/worker.log)")


def _title(text: str) -> None:
    click.secho(text, bold=True)


def _show(title: str, recs: dict) -> None:
    items = ", ".join(f"{i['item_id']}" for i in recs["items"])
    click.echo(f"  {title}: [{recs['source']}, {recs['model_version']}] {items}")


def _report(r: RetrainResult) -> None:
    m = r.metrics
    if r.outcome == "failed":
        click.echo(f"   training failed: {r.error}")
        return
    click.echo(f"   {r.version.name if r.version else '-'}: {r.outcome}; holdout NDCG@10 "
               f"{m['candidate']['ndcg_at_10']:.4f} vs popularity {m['popularity']['ndcg_at_10']:.4f}"
               + (f" vs live {m['live']['ndcg_at_10']:.4f}" if m.get("live") else "")
               + f" ({m['epochs']} epochs{', warm start' if m['warm_start'] else ''}, {m['train_s']} s)")


@dataclass
class Demo:
    events: int
    broker: EmbeddedBroker
    settings: Settings
    env: dict[str, str]
    worker: WorkerProcess | None = None

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.settings.serving.web_port}"

    def get(self, path: str) -> Any:
        return api_get(f"{self.api}{path}")

    def cli(self, *args: str, echo: bool = True) -> subprocess.CompletedProcess[str]:
        """`recstream ARGS` as an operator would type it (echoed with its output)."""
        out = subprocess.run([sys.executable, "-m", "recstream.stream.cli", *args], env=self.env,
                             capture_output=True, text=True, check=False)
        if echo:
            click.echo(f"   $ recstream {' '.join(args)}")
            for line in (out.stdout + (out.stderr if out.returncode else "")).strip().splitlines():
                click.echo(f"     {line}")
        return out

    def wait_version(self, name: str) -> float:
        start = time.monotonic()
        _wait(f"the worker to serve {name}", lambda: self.get("/recommendations/u1?k=1")["model_version"] == name,
              timeout=10)
        return time.monotonic() - start

    def engine(self) -> Any:
        return create_db_engine(self.settings.database_url)

    @classmethod
    def set_up(cls, events: int) -> Demo:
        _title("1. embedded broker (tansu, in-memory) and a fresh SQLite event store")
        WORK.mkdir(parents=True, exist_ok=True)
        for p in [*WORK.glob("recstream.db*"), *WORK.glob("artefacts/*.pt"), *WORK.glob("drift/*")]:
            p.unlink()
        broker = EmbeddedBroker(log_path=WORK / "broker.log").start()
        db = f"sqlite:///{WORK / 'recstream.db'}"
        env = {"RECSTREAM_BOOTSTRAP": broker.bootstrap, "RECSTREAM_DATABASE_URL": db,
               "RECSTREAM_WEB_PORT": str(free_port()), "RECSTREAM_SESSION_TIMEOUT_S": "6",
               # every positive scored, uncapped: the demo's drift report judges the model outputs too
               "RECSTREAM_ONLINE_PREQUENTIAL_SAMPLE": "1.0", "RECSTREAM_ONLINE_PREQUENTIAL_MAX_PER_S": "1e9",
               "RECSTREAM_ARTEFACT_DIR": str(WORK / "artefacts"), "RECSTREAM_DRIFT_REPORT_DIR": str(WORK / "drift"),
               # a throwaway token of this demo's own: the console can sign in (shown once, on this terminal)
               "RECSTREAM_OPERATOR_TOKEN": secrets.token_urlsafe(24),
               # and one for events over HTTP (POST /events), as a web page or an app would send them
               "RECSTREAM_PRODUCER_TOKEN": secrets.token_urlsafe(24)}
        os.environ.update(env)  # this process's own Settings and `recstream` commands read the same
        settings = Settings()
        upgrade(create_db_engine(settings.database_url))
        ensure_topics(broker.bootstrap, Topics.of(settings.kafka), settings.kafka.topic_partitions)
        click.echo(f"   broker {broker.bootstrap}, database {db}")
        return cls(events, broker, settings, {**os.environ, **env})

    def start_worker(self) -> None:
        _title("2. stream worker (recstream worker)")
        self.worker = start_worker(self.env, WORK / "worker.log")
        click.echo(f"   API at {self.api}; operator console at {self.api}/console")

    def replay(self) -> None:
        _title(f"3. replay {self.events} synthetic events (users with drifting genre tastes)")
        k = self.settings.kafka
        produce(generate(SyntheticSpec(events=self.events)), k.bootstrap, k.topic_behaviour, total=self.events)
        h = _wait("the worker to learn the stream", lambda: (x := self.get("/healthz"))["events_learned"]
                  >= self.events and x, timeout=180)
        click.echo(f"   learned {h['events_learned']} events: {h['users']} users, {h['items']} items, "
                   f"live prequential Recall@10 {h['prequential_recall_at_10']}")

    def personalise(self) -> None:
        _title("4. a user's recommendations change as their events arrive (sent over HTTP: POST /events)")
        user = "demo-user"
        api = Client(self.api, producer_token=self.env["RECSTREAM_PRODUCER_TOKEN"])
        _show("new user  ", self.get(f"/recommendations/{user}?k=5"))
        favourite = api.recommendations("u1", k=3).items
        now, sent_at = time.time(), time.monotonic()
        answer = api.send_events(behaviour=[
            {"event_id": f"demo-{now}-{n}", "user_id": user, "item_id": it.item_id, "type": "purchase", "ts": now}
            for n, it in enumerate(favourite)] + [{"event_id": f"demo-{now}-bad", "user_id": user, "item_id": "i1",
                                                    "type": "teleport", "ts": now}])
        click.echo(f"   POST /events: {answer.accepted} accepted; refused: "
                   + "; ".join(f"{r.event_id} ({r.code}: {r.reason})" for r in answer.refused))
        recs = _wait("the new events to show", lambda: (r := self.get(f"/recommendations/{user}?k=5"))
                     ["source"] == "personal" and r, timeout=30)
        click.echo(f"   {len(favourite)} purchases by {user} reflected after {time.monotonic() - sent_at:.2f} s")
        _show("after buys", recs)

    def dead_letters(self) -> None:
        _title("5. bad input goes to the dead-letter topic with a reason")
        k = self.settings.kafka
        producer = KafkaProducer(bootstrap_servers=k.bootstrap)
        for bad in (b"not json", (b'{"event_id":"x","user_id":"demo-user","item_id":"i1","type":"teleport",'
                                  b'"ts":1767225600}')):
            producer.send(k.topic_behaviour, key=b"demo-user", value=bad)
        producer.flush()
        producer.close()
        h = _wait("dead letters", lambda: (x := self.get("/healthz"))["pipeline"]["dead_lettered"] and x)
        click.echo(f"   dead-lettered: {json.dumps(h['pipeline']['dead_lettered'])}  "
                   f"(inspect: RECSTREAM_BOOTSTRAP={k.bootstrap} recstream dead-letters)")

    def catalogue(self) -> None:
        _title("6. a catalogue (genres as categories): filters, an item sold out, why an item is shown, similar items")
        spec, path = SyntheticSpec(events=self.events), WORK / "catalogue.jsonl"
        path.write_text("".join(json.dumps({"item_id": i, "categories": [GENRES[g % len(GENRES)]],
                                            "attributes": {"title": f"Item {i[1:]}"}}) + "\n"
                                for i, g in item_genres(spec).items()))
        self.cli("items", "import", str(path))
        _wait("the catalogue", lambda: self.get("/healthz")["catalogue"]["items"] >= spec.items)
        _show("u1, everything", self.get("/recommendations/u1?k=5"))
        _show(f"u1, {GENRES[1]} only", self.get(f"/recommendations/u1?k=5&category={GENRES[1]}"))
        top = self.get("/recommendations/u1?k=5")["items"][0]["item_id"]
        producer = KafkaProducer(bootstrap_servers=self.settings.kafka.bootstrap)
        producer.send(self.settings.kafka.topic_items, key=top.encode(),
                      value=json.dumps({"item_id": top, "available": False}).encode())
        producer.flush()
        producer.close()
        sent = time.monotonic()
        _wait(f"{top} to leave the list", lambda: top not in [i["item_id"] for i in
                                                              self.get("/recommendations/u1?k=5")["items"]])
        click.echo(f"   {top} sold out: gone from u1's list {time.monotonic() - sent:.2f} s after the update")
        why = self.get("/recommendations/u1?k=1&explain=true")
        click.echo(f"   why {why['items'][0]['item_id']}: {json.dumps(why['items'][0]['why'])}")
        click.echo(f"   rules: {', '.join(why['explanation']['rules'])}")
        similar = self.get(f"/items/{why['items'][0]['item_id']}/similar?k=5")
        click.echo(f"   similar to {similar['item_id']}: {' '.join(i['item_id'] for i in similar['items'])}")

    def first_deep_version(self) -> RetrainResult:
        _title("7. retrain the deep model from the event store; the worker hot-swaps it in")
        first = retrain(self.engine(), self.settings.retrain_config(), trigger="manual", requested_by="demo",
                        reason="demo: first deep version", progress=False)
        _report(first)
        if first.outcome == "promoted" and first.version is not None:
            swap = self.wait_version(first.version.name)
            click.echo(f"   the worker serves {first.version.name} {swap:.2f} s after promotion")
            _show("deep+online", self.get("/recommendations/u1?k=5"))
        return first

    def promote_and_roll_back(self, first: RetrainResult) -> None:
        _title("8. a second, warm-started version; an operator promotes it, then rolls it back")
        second = retrain(self.engine(), replace(self.settings.retrain_config(), auto_promote=False),
                         trigger="manual", requested_by="demo", reason="demo: warm start", progress=False)
        _report(second)
        if first.outcome != "promoted" or first.version is None or second.version is None:
            return
        name = second.version.name
        self.cli("models", "promote", name, "--reason", "demo: operator approves")
        click.echo(f"   the worker serves {name} {self.wait_version(name):.2f} s after the command returned")
        self.cli("models", "rollback", "--reason", "demo: clicks dropped")
        click.echo(f"   the worker serves {first.version.name} again "
                   f"{self.wait_version(first.version.name):.2f} s after the command returned")
        self.cli("models", "list")

    def drift(self) -> None:
        """Replay two windows of a stream whose users' favourite genres rotate, compare each with the live
        model's training data, and let the second drifted report queue a retrain that the scheduler's job runs."""
        _title("9. tastes shift: drift reports catch it and queue a retrain, which the scheduler runs")
        from recstream.monitors.drift.reports import list_reports

        window, k = self.settings.drift.window_events, self.settings.kafka
        spec = SyntheticSpec(events=self.events + 2 * window, shift_at=self.events)  # step 3's stream, then a shift
        tail = list(generate(spec))[self.events:]
        offset = time.time() + 1.0 - tail[0].ts  # after step 4's events: the newest data
        stream = [e._replace(ts=round(e.ts + offset, 3)) for e in tail]
        produce(iter(stream), k.bootstrap, k.topic_behaviour, total=len(stream))
        _wait("the worker to learn the shifted stream",
              lambda: self.get("/healthz")["events_learned"] >= self.events + len(stream) + 3, timeout=180)
        time.sleep(2 * self.settings.drift.probe_flush_s + 0.5)  # the worker stores its last model-output probes
        self.cli("drift", "run", "--until", repr(stream[window - 1].ts))
        self.cli("drift", "run")
        reports = list_reports(self.engine(), 2)
        if reports:
            self._retrain_on_drift(reports[0])
            path = json.loads(self.cli("drift", "show", str(reports[0]["id"]), echo=False).stdout)["html_path"]
            click.echo(f"   open the report: {self.api}/drift/reports/{reports[0]['id']}  (file: {path})")

    def _retrain_on_drift(self, report: dict) -> None:
        from recstream.monitors.schedule import RetrainJobs

        if report["retrain_run_id"] is None:
            click.echo("   no retrain was requested (see the reports above)")
            return
        click.echo(f"   retrain run {report['retrain_run_id']} queued by drift report {report['id']}; "
                   "the scheduler's job runs it:")
        result = RetrainJobs(self.engine(), self.settings.retrain_config()).queued()
        if result is not None:
            _report(result)
            if result.outcome == "promoted" and result.version is not None:
                click.echo(f"   the worker serves {result.version.name} "
                           f"{self.wait_version(result.version.name):.2f} s after promotion")

    def tear_down(self) -> None:
        if self.worker is not None:
            self.worker.stop()
        self.broker.stop()


def run_demo(events: int = 30_000, keep: bool = False) -> None:
    demo = Demo.set_up(events)
    try:
        demo.start_worker()
        demo.replay()
        demo.personalise()
        demo.dead_letters()
        demo.catalogue()
        first = demo.first_deep_version()
        demo.promote_and_roll_back(first)
        demo.drift()
        click.secho("demo complete.", bold=True, fg="green")
        click.echo(f"operator console: {demo.api}/console (sign in with this demo's token "
                   f"{demo.env['RECSTREAM_OPERATOR_TOKEN']}){'' if keep else '; `recstream demo --keep` leaves it up'}")
        if keep and demo.worker is not None:
            click.echo(f"worker API {demo.api}; broker {demo.broker.bootstrap}. Ctrl-C to stop.")
            demo.worker.process.wait()
    finally:
        demo.tear_down()
