"""`recstream demo`: the whole loop on one machine — embedded broker, SQLite, a worker, a replayed stream."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
from kafka import KafkaProducer

from recstream.models.db import create_db_engine, upgrade
from recstream.models.interaction import Interaction
from recstream.models.retrain import RetrainResult, retrain
from recstream.models.synthetic import SyntheticSpec, generate

from .broker import EmbeddedBroker, free_port
from .cli import api_get
from .produce import event_json, produce
from .settings import Settings
from .topics import Topics, ensure_topics


def _wait(what: str, check, timeout: float = 90.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.2)
    raise click.ClickException(f"timed out waiting for {what} (see var/demo/worker.log)")


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


def _wait_version(api: str, name: str) -> float:
    start = time.monotonic()
    _wait(f"the worker to serve {name}",
          lambda: api_get(f"{api}/recommendations/u1?k=1")["model_version"] == name, timeout=10)
    return time.monotonic() - start


def _operator(env: dict[str, str], *args: str) -> None:
    click.echo(f"   $ recstream {' '.join(args)}")
    out = subprocess.run([sys.executable, "-m", "recstream.stream.cli", *args], env=env, capture_output=True,
                         text=True, check=False)
    for line in (out.stdout + (out.stderr if out.returncode else "")).strip().splitlines():
        click.echo(f"     {line}")


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "recstream.stream.cli", *args], env=env, capture_output=True,
                          text=True, check=False)


def _drift_step(env: dict[str, str], settings: Settings, api: str, engine: Any, events: int) -> int | None:
    """Replay two windows of a stream whose users' favourite genres rotate, compare each with the live model's
    training data, and let the second drifted report queue a retrain. Returns the last report's id."""
    from recstream.monitors.drift import list_reports
    from recstream.monitors.schedule import RetrainJobs

    window = settings.drift_window_events
    spec = SyntheticSpec(events=events + 2 * window, shift_at=events)  # same stream as step 3, then the shift
    # Step 4's events happened "now"; move the continuation after them so it is the newest data.
    tail = list(generate(spec))[events:]
    offset = time.time() + 1.0 - tail[0].ts
    stream = [e._replace(ts=round(e.ts + offset, 3)) for e in tail]
    produce(iter(stream), settings.bootstrap, settings.topic_behaviour, total=len(stream))
    _wait("the worker to learn the shifted stream",
          lambda: api_get(f"{api}/healthz")["events_learned"] >= events + len(stream) + 3, timeout=180)
    time.sleep(2 * settings.drift_probe_flush_s + 0.5)  # the worker stores its last model-output probes
    _operator(env, "drift", "run", "--until", repr(stream[window - 1].ts))
    _operator(env, "drift", "run")
    reports = list_reports(engine, 2)
    if not reports:
        return None
    run_id = reports[0]["retrain_run_id"]
    if run_id is None:
        click.echo("   no retrain was requested (see the reports above)")
        return int(reports[0]["id"])
    click.echo(f"   retrain run {run_id} queued by drift report {reports[0]['id']}; the scheduler's job runs it:")
    result = RetrainJobs(engine, settings.retrain_config()).queued()
    if result is not None:
        _report(result)
        if result.outcome == "promoted" and result.version is not None:
            click.echo(f"   the worker serves {result.version.name} {_wait_version(api, result.version.name):.2f} s "
                       "after promotion")
    return int(reports[0]["id"])


def run_demo(events: int = 30_000, keep: bool = False) -> None:
    work = Path("var/demo")
    work.mkdir(parents=True, exist_ok=True)
    db_path = work / "recstream.db"
    for p in [*work.glob("recstream.db*"), *work.glob("artefacts/*.pt"), *work.glob("drift/*")]:
        p.unlink()
    click.secho("1. embedded broker (tansu, in-memory) and a fresh SQLite event store", bold=True)
    broker = EmbeddedBroker(log_path=work / "broker.log").start()
    web_port = free_port()
    env = {**os.environ, "RECSTREAM_BOOTSTRAP": broker.bootstrap, "RECSTREAM_DATABASE_URL": f"sqlite:///{db_path}",
           "RECSTREAM_WEB_PORT": str(web_port), "RECSTREAM_SESSION_TIMEOUT_S": "6",
           # every positive scored, uncapped: the demo's drift report judges the model outputs too
           "RECSTREAM_ONLINE_PREQUENTIAL_SAMPLE": "1.0", "RECSTREAM_ONLINE_PREQUENTIAL_MAX_PER_S": "1e9",
           "RECSTREAM_ARTEFACT_DIR": str(work / "artefacts"),
           "RECSTREAM_DRIFT_REPORT_DIR": str(work / "drift")}
    settings = Settings(bootstrap=broker.bootstrap, database_url=f"sqlite:///{db_path}", web_port=web_port,
                        artefact_dir=work / "artefacts", drift_report_dir=work / "drift")
    upgrade(create_db_engine(settings.database_url))
    ensure_topics(settings.bootstrap, Topics.from_settings(settings), settings.topic_partitions)
    click.echo(f"   broker {broker.bootstrap}, database {db_path}")
    worker = None
    try:
        click.secho("2. stream worker (recstream worker)", bold=True)
        log = open(work / "worker.log", "wb")
        worker = subprocess.Popen([sys.executable, "-m", "recstream.stream.cli", "worker"], env=env, stdout=log,
                                  stderr=subprocess.STDOUT)
        api = f"http://127.0.0.1:{web_port}"
        _wait("the worker's API", lambda: api_get(f"{api}/healthz")["pipeline"] is not None)
        click.echo(f"   API at {api}")

        click.secho(f"3. replay {events} synthetic events (users with drifting genre tastes)", bold=True)
        produce(generate(SyntheticSpec(events=events)), settings.bootstrap, settings.topic_behaviour, total=events)
        h = _wait("the worker to learn the stream",
                  lambda: (x := api_get(f"{api}/healthz"))["events_learned"] >= events and x, timeout=180)
        click.echo(f"   learned {h['events_learned']} events: {h['users']} users, {h['items']} items, "
                   f"live prequential Recall@10 {h['prequential_recall_at_10']}")

        click.secho("4. a user's recommendations change as their events arrive", bold=True)
        user = "demo-user"
        _show("new user  ", api_get(f"{api}/recommendations/{user}?k=5"))
        producer = KafkaProducer(bootstrap_servers=settings.bootstrap)
        favourite = api_get(f"{api}/recommendations/u1?k=3")["items"]
        now = time.time()
        sent_at = time.monotonic()
        for n, it in enumerate(favourite):
            e = Interaction(f"demo-{now}-{n}", user, it["item_id"], "purchase", None, now)
            producer.send(settings.topic_behaviour, key=user.encode(), value=event_json(e))
        producer.flush()
        recs = _wait("the new events to show", lambda: (r := api_get(f"{api}/recommendations/{user}?k=5"))
                     ["source"] == "personal" and r, timeout=30)
        click.echo(f"   {len(favourite)} purchases by {user} reflected after {time.monotonic() - sent_at:.2f} s")
        _show("after buys", recs)

        click.secho("5. bad input goes to the dead-letter topic with a reason", bold=True)
        for bad in (b"not json", b'{"event_id":"x","user_id":"demo-user","item_id":"i1","type":"teleport",'
                                 b'"ts":1767225600}'):
            producer.send(settings.topic_behaviour, key=user.encode(), value=bad)
        producer.flush()
        producer.close()
        h = _wait("dead letters", lambda: (x := api_get(f"{api}/healthz"))["pipeline"]["dead_lettered"] and x)
        click.echo(f"   dead-lettered: {json.dumps(h['pipeline']['dead_lettered'])}  "
                   f"(inspect: RECSTREAM_BOOTSTRAP={broker.bootstrap} recstream dead-letters)")

        click.secho("6. retrain the deep model from the event store; the worker hot-swaps it in", bold=True)
        engine = create_db_engine(settings.database_url)
        first = retrain(engine, settings.retrain_config(), trigger="manual", requested_by="demo",
                        reason="demo: first deep version", progress=False)
        _report(first)
        if first.outcome == "promoted":
            assert first.version is not None
            swap = _wait_version(api, first.version.name)
            click.echo(f"   the worker serves {first.version.name} {swap:.2f} s after promotion")
            _show("deep+online", api_get(f"{api}/recommendations/u1?k=5"))

        click.secho("7. a second, warm-started version; an operator promotes it, then rolls it back", bold=True)
        second = retrain(engine, replace(settings.retrain_config(), auto_promote=False), trigger="manual",
                         requested_by="demo", reason="demo: warm start", progress=False)
        _report(second)
        if first.outcome == "promoted" and second.version is not None:
            name = second.version.name
            _operator(env, "models", "promote", name, "--reason", "demo: operator approves")
            click.echo(f"   the worker serves {name} {_wait_version(api, name):.2f} s after the command returned")
            _operator(env, "models", "rollback", "--reason", "demo: clicks dropped")
            click.echo(f"   the worker serves {first.version.name} again "
                       f"{_wait_version(api, first.version.name):.2f} s after the command returned")
            _operator(env, "models", "list")

        click.secho("8. tastes shift: drift reports catch it and queue a retrain, which the scheduler runs", bold=True)
        shifted = _drift_step(env, settings, api, engine, events)
        if shifted is not None:
            click.echo(f"   open the report: {api}/drift/reports/{shifted}  (file: "
                       f"{json.loads(_cli(env, 'drift', 'show', str(shifted)).stdout)['html_path']})")
        engine.dispose()
        click.secho("demo complete.", bold=True, fg="green")
        if keep:
            click.echo(f"worker API {api}; broker {broker.bootstrap}. Ctrl-C to stop.")
            worker.wait()
    finally:
        if worker is not None and worker.poll() is None:
            worker.terminate()
            try:
                worker.wait(15)
            except subprocess.TimeoutExpired:
                worker.kill()
        broker.stop()
