"""`recstream` — the one command for everything an operator does. `recstream --help` lists the commands."""

from __future__ import annotations

import json
import logging
import signal
import sys
import time
import urllib.error
import urllib.request
from typing import Any

import click
from pydantic import ValidationError

from recstream.models.errors import RecstreamError

from .settings import Settings


def load_settings(**overrides: Any) -> Settings:
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        lines = [f"  {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        raise click.UsageError("invalid settings:\n" + "\n".join(lines)) from None


class Cli(click.Group):
    """Turns recstream's own errors into one clear line and exit code 1 instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RecstreamError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)


bootstrap_opt = click.option("--bootstrap", help="Kafka bootstrap servers [env RECSTREAM_BOOTSTRAP]")
db_opt = click.option("--database-url", help="event store URL [env RECSTREAM_DATABASE_URL]")


@click.group(cls=Cli)
@click.option("-v", "--verbose", is_flag=True, help="log debug output")
def main(verbose: bool) -> None:
    """recstream: continuous-learning recommendations from Kafka events."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not verbose:  # the Kafka clients narrate every connection at INFO
        for name in ("kafka", "aiokafka", "alembic"):
            logging.getLogger(name).setLevel(logging.WARNING)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on")
@click.option("--port", default=9092, show_default=True, type=click.IntRange(1, 65535))
@click.option("--storage", default="memory://tansu/", show_default=True,
              help="memory://tansu/ (lost on exit) or s3://BUCKET/ (kept; endpoint and keys from AWS_* variables)")
def broker(host: str, port: int, storage: str) -> None:
    """Run the embedded Kafka-protocol broker (tansu) until Ctrl-C. For development and demos."""
    from .broker import EmbeddedBroker

    def stop(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    # Ctrl-C and SIGTERM both stop the broker first: Python ignores SIGINT when it starts with it ignored (under
    # nohup or a background shell job), and dies on SIGTERM without cleanup, leaving tansu running.
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    b = EmbeddedBroker(port=port, host=host, storage=storage).start()
    click.echo(f"broker ready: bootstrap {b.bootstrap}  (export RECSTREAM_BOOTSTRAP={b.bootstrap})")
    try:
        assert b.process is not None
        b.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        b.stop()


@main.group()
def db() -> None:
    """Database schema migrations."""


@db.command("upgrade")
@db_opt
@click.option("--revision", default="head", show_default=True)
def db_upgrade(database_url: str | None, revision: str) -> None:
    """Create or migrate the database schema."""
    from recstream.models.db import create_db_engine, current_revision, upgrade

    s = load_settings(database_url=database_url)
    engine = create_db_engine(s.database_url)
    upgrade(engine, revision)
    click.echo(f"database {engine.url.render_as_string(hide_password=True)} at revision {current_revision(engine)}")


@db.command("current")
@db_opt
def db_current(database_url: str | None) -> None:
    """Show the schema revision of the database."""
    from recstream.models.db import create_db_engine, current_revision, head_revision

    engine = create_db_engine(load_settings(database_url=database_url).database_url)
    click.echo(f"current {current_revision(engine) or 'none'} (newest {head_revision()})")


@main.command()
@bootstrap_opt
@click.option("--partitions", type=click.IntRange(1, 10_000), help="partitions of new topics")
def topics(bootstrap: str | None, partitions: int | None) -> None:
    """Create the behaviour, feedback and dead-letter topics if missing."""
    from .topics import Topics, ensure_topics

    s = load_settings(bootstrap=bootstrap, topic_partitions=partitions)
    ensure_topics(s.bootstrap, Topics.from_settings(s), s.topic_partitions)
    click.echo(", ".join(Topics.from_settings(s)))


@main.command()
@bootstrap_opt
@db_opt
@click.option("--web-port", type=click.IntRange(0, 65535), help="HTTP API port [env RECSTREAM_WEB_PORT]")
@click.option("--web-host", help="HTTP API address [env RECSTREAM_WEB_HOST]")
def worker(bootstrap: str | None, database_url: str | None, web_port: int | None, web_host: str | None) -> None:
    """Consume events, learn online and serve recommendations over HTTP."""
    from .app import run_worker

    s = load_settings(bootstrap=bootstrap, database_url=database_url, web_port=web_port, web_host=web_host)
    run_worker(s)


@main.command()
@click.argument("path", required=False, type=click.Path(dir_okay=False))
@click.option("--format", "fmt", default="auto", show_default=True,
              type=click.Choice(["auto", "udata", "dat", "csv"]), help="file format (auto detects)")
@click.option("--synthetic", is_flag=True, help="generate a stream instead of reading PATH")
@click.option("--events", default=50_000, show_default=True, type=click.IntRange(1), help="synthetic events")
@click.option("--users", default=1_000, show_default=True, type=click.IntRange(1))
@click.option("--items", default=2_000, show_default=True, type=click.IntRange(1))
@click.option("--shift-at", type=click.IntRange(0), help="event index of a synthetic preference shift")
@click.option("--seed", default=7, show_default=True, type=int)
@click.option("--limit", type=click.IntRange(1), help="send at most this many events")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), help="events per second (default: max)")
@bootstrap_opt
def produce(path: str | None, fmt: str, synthetic: bool, events: int, users: int, items: int,
            shift_at: int | None, seed: int, limit: int | None, rate: float | None, bootstrap: str | None) -> None:
    """Replay an interactions file (MovieLens u.data / ratings.dat, CSV) or a synthetic stream into Kafka."""
    from recstream.models.datafiles import read_interactions
    from recstream.models.synthetic import SyntheticSpec, generate

    from .produce import produce as send

    s = load_settings(bootstrap=bootstrap)
    if synthetic == (path is not None):
        raise click.UsageError("give either PATH or --synthetic")
    if synthetic:
        try:
            spec = SyntheticSpec(users=users, items=items, genres=min(12, items), seed=seed,
                                 events=min(events, limit or events), shift_at=shift_at)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
        stream, total = generate(spec), spec.events
    else:
        data = read_interactions(path, fmt, limit)  # type: ignore[arg-type]
        stream, total = iter(data), len(data)
    n = send(stream, s.bootstrap, s.topic_behaviour, rate=rate, total=total)
    click.echo(f"sent {n} events to {s.topic_behaviour} at {s.bootstrap}")


def api_get(url: str, timeout: float = 5.0) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as exc:
        raise RecstreamError(f"{url} answered {exc.code}: {exc.read().decode(errors='replace')}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise RecstreamError(f"no recstream API at {url} ({exc}): is `recstream worker` running?") from None


@main.command()
@click.argument("user_id")
@click.option("-k", default=10, show_default=True, type=click.IntRange(1, 200))
@click.option("--api", default=None, help="API base URL (default http://RECSTREAM_WEB_HOST:RECSTREAM_WEB_PORT)")
def recommend(user_id: str, k: int, api: str | None) -> None:
    """Ask a running worker for a user's recommendations."""
    from urllib.parse import quote

    s = load_settings()
    base = api or f"http://{s.web_host}:{s.web_port}"
    click.echo(json.dumps(api_get(f"{base}/recommendations/{quote(user_id, safe='')}?k={k}"), indent=2))


@main.command("dead-letters")
@bootstrap_opt
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1))
@click.option("--timeout", default=3.0, show_default=True, type=float, help="seconds to wait for records")
def dead_letters(bootstrap: str | None, limit: int, timeout: float) -> None:
    """Print the newest dead-lettered messages with their reasons."""
    from .deadletter import read_dead_letters

    s = load_settings(bootstrap=bootstrap)
    for d in read_dead_letters(s.bootstrap, s.topic_dead_letter, limit, timeout):
        click.echo(json.dumps(d))


@main.command()
@db_opt
def scheduler(database_url: str | None) -> None:
    """Run scheduled retraining and queued retrain requests until Ctrl-C."""
    from recstream.models.db import create_db_engine, require_current_schema
    from recstream.monitors.schedule import CanaryJudge, DriftJob, RetrainJobs, build_scheduler

    s = load_settings(database_url=database_url)
    engine = create_db_engine(s.database_url)
    require_current_schema(engine)
    sched = build_scheduler(RetrainJobs(engine, s.retrain_config()), interval_s=s.retrain_interval_s,
                            cron=s.retrain_cron, poll_s=s.scheduler_poll_s,
                            canary=CanaryJudge(engine, s.canary_min_impressions) if s.canary_auto else None,
                            drift=DriftJob(engine, s.drift_config()), drift_every_s=s.drift_interval_s)
    when = ", ".join(filter(None, [s.retrain_interval_s and f"every {s.retrain_interval_s:g}s",
                                   s.retrain_cron and f"cron '{s.retrain_cron}'"])) or "on request only"
    drift = f"every {s.drift_interval_s:g}s" if s.drift_interval_s else "off"
    click.echo(f"scheduler: retraining {when}; polling requests every {s.scheduler_poll_s:g}s; drift reports {drift}")
    try:
        sched.start()
    except (KeyboardInterrupt, SystemExit):
        pass


@main.group()
def models() -> None:
    """Model versions: list, show, retrain, promote, rollback, canary."""


def _registry(database_url: str | None = None):  # type: ignore[no-untyped-def]
    from recstream.models.db import create_db_engine, require_current_schema
    from recstream.models.registry import Registry

    engine = create_db_engine(load_settings(database_url=database_url).database_url)
    require_current_schema(engine)
    return Registry(engine)


def _summary(v: Any) -> str:
    m = v.metrics or {}
    cand = (m.get("candidate") or {})
    metric = f"NDCG@10 {cand['ndcg_at_10']:.4f} Recall@10 {cand['recall_at_10']:.4f}" if cand else ""
    parent = f"parent deep-{v.parent_id}" if v.parent_id else "cold start"
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(v.created_at))
    return f"{v.name:<10} {v.status:<12} {when}  {parent:<16} {metric}"


@models.command("list")
@db_opt
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def models_list(database_url: str | None, as_json: bool) -> None:
    """Model versions, newest first."""
    versions = _registry(database_url).list()
    if as_json:
        click.echo(json.dumps([v.as_dict() for v in versions], indent=2))
        return
    if not versions:
        click.echo("no model versions yet: `recstream models retrain` trains the first")
    for v in versions:
        click.echo(_summary(v))


@models.command("show")
@click.argument("version")
@db_opt
def models_show(version: str, database_url: str | None) -> None:
    """One version in full, with its audit trail."""
    reg = _registry(database_url)
    click.echo(json.dumps({**reg.get(version).as_dict(), "audit": reg.audit(version)}, indent=2, default=str))


@models.command("promote")
@click.argument("version")
@click.option("--reason", required=True, help="why (recorded in the audit log)")
@click.option("--canary", is_flag=True, help="serve it to RECSTREAM_CANARY_SHARE of users instead of everyone")
@click.option("--actor", default=None, help="who (default: your login name)")
@db_opt
def models_promote(version: str, reason: str, canary: bool, actor: str | None, database_url: str | None) -> None:
    """Make VERSION live (or canary). Every worker serves it within about a second."""
    reg, who = _registry(database_url), _actor(actor)
    _verify(reg.get(version))
    v = (reg.start_canary if canary else reg.promote)(version, actor=who, reason=reason)
    click.echo(f"{v.name} is {v.status}")


@models.command("rollback")
@click.option("--to", "to", default=None, help="version to go back to (default: the previous live one)")
@click.option("--reason", required=True, help="why (recorded in the audit log)")
@click.option("--canary", is_flag=True, help="end the canary instead of rolling back live")
@click.option("--kind", type=click.Choice(["deep", "online"]), default=None,
              help="which model (default: the kind of --to, else deep); online restores a learner checkpoint")
@click.option("--actor", default=None, help="who (default: your login name)")
@db_opt
def models_rollback(to: str | None, reason: str, canary: bool, kind: str | None, actor: str | None,
                    database_url: str | None) -> None:
    """Take the live version out and serve the previous one (or --to VERSION) on every worker."""
    reg, who = _registry(database_url), _actor(actor)
    if canary:
        v = reg.end_canary(actor=who, reason=reason, kind=kind or "deep")
        click.echo(f"canary {v.name} ended ({v.status})")
        return
    if to is not None:
        target = reg.get(to)
        if kind is not None and kind != target.kind:
            raise click.UsageError(f"--to {target.name} is a {target.kind} version, not {kind}")
        kind = target.kind
        _verify(target)
    v = reg.rollback(actor=who, reason=reason, to=to, kind=kind or "deep")
    click.echo(f"rolled back: {v.name} is live")


@models.command("retrain")
@click.option("--reason", default=None, help="why (recorded with the run)")
@click.option("--queue", is_flag=True, help="only queue the request for `recstream scheduler`")
@db_opt
def models_retrain(reason: str | None, queue: bool, database_url: str | None) -> None:
    """Train a new deep version now from the event store (warm-started from live), gate it, and release it."""
    from recstream.models.retrain import retrain

    s = load_settings(database_url=database_url)
    reg = _registry(database_url)
    if queue:
        run_id, created = reg.request_retrain(trigger="manual", requested_by=_actor(None), reason=reason)
        click.echo(f"retrain request {run_id} {'queued' if created else 'already waiting'}")
        return
    r = retrain(reg.engine, s.retrain_config(), trigger="manual", requested_by=_actor(None), reason=reason,
                progress=sys.stderr.isatty())
    if r.outcome == "failed":
        raise RecstreamError(f"training run {r.run_id} failed: {r.error}")
    m = r.metrics
    live = m["live"]["ndcg_at_10"] if m.get("live") else None
    click.echo(f"run {r.run_id}: {r.version.name if r.version else '-'} {r.outcome} — NDCG@10 candidate "
               f"{m['candidate']['ndcg_at_10']:.4f}, popularity {m['popularity']['ndcg_at_10']:.4f}, live "
               f"{'-' if live is None else f'{live:.4f}'} ({m['gate']['reason']})")


@models.command("new-key")
def models_new_key() -> None:
    """Print a fresh artefact encryption key (for RECSTREAM_ARTEFACT_ENCRYPTION_KEY)."""
    from recstream.models.encryption import new_key

    click.echo(new_key())


@models.command("rotate-keys")
@click.option("--actor", default=None, help="who (default: your login name)")
@db_opt
def models_rotate_keys(actor: str | None, database_url: str | None) -> None:
    """Rewrite every artefact under the configured keys: encrypt (RECSTREAM_ARTEFACT_ENCRYPTION_KEY), re-encrypt
    files written with an old key (RECSTREAM_ARTEFACT_DECRYPTION_KEYS), re-sign (RECSTREAM_ARTEFACT_KEY)."""
    from recstream.models.rotation import rotate_keys

    reg = _registry(database_url)
    report = rotate_keys(reg, load_settings(database_url=database_url).artefact_keys, actor=_actor(actor))
    click.echo(f"rewritten: {len(report.rewritten)} ({', '.join(report.rewritten) or '-'}); "
               f"already current: {len(report.unchanged)}; failed: {len(report.failed)}")
    for name, why in report.failed.items():
        click.echo(f"  {name}: {why}", err=True)
    if report.failed:
        sys.exit(1)


@models.command("feedback")
@db_opt
def models_feedback(database_url: str | None) -> None:
    """Click rate per served version (from feedback events), and what it says about the canary."""
    from recstream.models.abtest import canary_decision, outcomes

    reg = _registry(database_url)
    stats = outcomes(reg.engine)
    for o in sorted(stats.values(), key=lambda o: o.version):
        click.echo(json.dumps(o.as_dict()))
    serving = reg.serving("deep")
    if "live" in serving and "canary" in serving:
        decision, why = canary_decision(stats.get(serving["live"].name), stats.get(serving["canary"].name),
                                        load_settings(database_url=database_url).canary_min_impressions)
        click.echo(f"canary: {decision} — {why}")


@models.command("runs")
@db_opt
def models_runs(database_url: str | None) -> None:
    """Recent training runs with their outcome or error."""
    for r in _registry(database_url).runs():
        click.echo(json.dumps(r, default=str))


def _verify(version: Any) -> None:
    """Refuse up front what workers would refuse: an artefact that is missing or fails its checks."""
    from recstream.models.artefacts import read_verified

    if version.artefact and version.sha256:
        read_verified(version.artefact, version.sha256, version.signature, load_settings().artefact_keys)


def _actor(actor: str | None) -> str:
    import getpass

    if actor:
        return actor
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@main.group()
def drift() -> None:
    """Drift reports: run one now, list them, show one."""


def _engine(database_url: str | None):  # type: ignore[no-untyped-def]
    from recstream.models.db import create_db_engine, require_current_schema

    engine = create_db_engine(load_settings(database_url=database_url).database_url)
    require_current_schema(engine)
    return engine


def _drift_line(r: dict) -> str:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["created_at"]))
    flag = "DRIFT   " if r["drifted"] else "ok      "
    return (f"{r['id']:>5}  {when}  {flag}share {r['drift_share']:.2f} ({r['drifted_columns']}/{r['n_columns']})  "
            f"{r['cur_rows']:>8} events vs {r['reference']}  {r.get('action') or ''}")


@drift.command("run")
@click.option("--until", type=float, default=None, help="end the current window at this event time (unix s); "
              "default: the newest event")
@click.option("--json", "as_json", is_flag=True, help="print the report summary as JSON")
@db_opt
def drift_run(until: float | None, as_json: bool, database_url: str | None) -> None:
    """Compare the newest window with the reference now, store the report, maybe request a retrain."""
    from recstream.monitors.drift import run_drift

    result = run_drift(_engine(database_url), load_settings(database_url=database_url).drift_config(),
                       until=until, actor=_actor(None))
    if result.report is None:
        click.echo(f"no report: {result.skipped}")
        sys.exit(2)
    r = result.report
    if as_json:
        click.echo(json.dumps({**r, "timings": result.timings}, default=str))
        return
    click.echo(_drift_line(r))
    for col, v in r["columns"].items():
        if "skipped" in v:
            click.echo(f"       {col:<22} skipped: {v['skipped']}")
        else:
            click.echo(f"       {col:<22} {'DRIFT' if v['drifted'] else 'ok':<6} {v['method']} {v['score']:.4g} "
                       f"(threshold {v['threshold']})")
    click.echo(f"report: {r['html_path']}")


@drift.command("list")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True, help="print JSON lines")
@db_opt
def drift_list(limit: int, as_json: bool, database_url: str | None) -> None:
    """Stored drift reports, newest first."""
    from recstream.monitors.drift import list_reports

    reports = list_reports(_engine(database_url), limit)
    if not reports:
        click.echo("no drift reports yet: `recstream drift run` makes one")
    for r in reports:
        click.echo(json.dumps(r, default=str) if as_json else _drift_line(r))


@drift.command("show")
@click.argument("report_id", type=click.IntRange(1))
@click.option("--html", "what", flag_value="html", help="print the path of the HTML report")
@click.option("--evidently-json", "what", flag_value="json", help="print Evidently's full JSON report")
@db_opt
def drift_show(report_id: int, what: str | None, database_url: str | None) -> None:
    """One drift report: its summary and per-column verdicts (or its files)."""
    from recstream.monitors.drift import ReportNotFound, get_report, report_file

    engine = _engine(database_url)
    try:
        if what == "html":
            click.echo(report_file(engine, report_id, "html"))
        elif what == "json":
            click.echo(report_file(engine, report_id, "json").read_text())
        else:
            click.echo(json.dumps(get_report(engine, report_id), default=str, indent=2))
    except ReportNotFound as exc:
        raise click.ClickException(str(exc)) from None


@main.command()
@click.option("--events", default=30_000, show_default=True, type=click.IntRange(1_000))
@click.option("--keep", is_flag=True, help="leave broker and worker running at the end")
def demo(events: int, keep: bool) -> None:
    """Run the whole loop locally: broker, database, worker, a replayed stream, live recommendations."""
    from .demo import run_demo

    run_demo(events=events, keep=keep)


if __name__ == "__main__":  # pragma: no cover
    main()
