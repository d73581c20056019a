"""`recstream` — the one command for everything an operator does. `recstream --help` lists the commands."""

from __future__ import annotations

import json
import logging
import os
import signal

import click

from recstream.stream.cli.common import Cli, bootstrap_opt, db_opt, load_settings
from recstream.stream.cli.drift import drift
from recstream.stream.cli.items import items
from recstream.stream.cli.models import models
from recstream.stream.cli.schema import openapi, schema


@click.group(cls=Cli)
@click.option("-v", "--verbose", is_flag=True, help="log debug output")
def main(verbose: bool) -> None:
    """recstream: continuous-learning recommendations from Kafka events."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not verbose:  # the Kafka clients narrate every connection at INFO, httpx every request
        for name in ("kafka", "aiokafka", "alembic", "httpx"):
            logging.getLogger(name).setLevel(logging.WARNING)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on")
@click.option("--port", default=9092, show_default=True, type=click.IntRange(1, 65535))
@click.option("--storage", default="memory://tansu/", show_default=True,
              help="memory://tansu/ (lost on exit) or s3://BUCKET/ (kept; endpoint and keys from AWS_* variables)")
def broker(host: str, port: int, storage: str) -> None:
    """Run the embedded Kafka-protocol broker (tansu) until Ctrl-C. For development and demos."""
    from recstream.stream.kafka.broker import EmbeddedBroker

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
    from recstream.models.store.db import create_db_engine, current_revision, upgrade

    s = load_settings(database_url=database_url)
    engine = create_db_engine(s.database_url)
    upgrade(engine, revision)
    click.echo(f"database {engine.url.render_as_string(hide_password=True)} at revision {current_revision(engine)}")


@db.command("current")
@db_opt
def db_current(database_url: str | None) -> None:
    """Show the schema revision of the database."""
    from recstream.models.store.db import create_db_engine, current_revision, head_revision

    engine = create_db_engine(load_settings(database_url=database_url).database_url)
    click.echo(f"current {current_revision(engine) or 'none'} (newest {head_revision()})")


@main.command()
@bootstrap_opt
@click.option("--partitions", type=click.IntRange(1, 10_000), help="partitions of new topics")
def topics(bootstrap: str | None, partitions: int | None) -> None:
    """Create the behaviour, feedback, dead-letter and items topics if missing."""
    from recstream.stream.kafka.access import check_access
    from recstream.stream.kafka.topics import Topics, ensure_topics

    s = load_settings(bootstrap=bootstrap, topic_partitions=partitions)
    check_access(s.kafka)
    ensure_topics(s.kafka.bootstrap, Topics.of(s.kafka), s.kafka.topic_partitions, security=s.kafka.client_options())
    click.echo(", ".join(Topics.of(s.kafka)))


@main.command()
@bootstrap_opt
@db_opt
@click.option("--web-port", type=click.IntRange(0, 65535), help="HTTP API port [env RECSTREAM_WEB_PORT]")
@click.option("--web-host", help="HTTP API address [env RECSTREAM_WEB_HOST]")
def worker(bootstrap: str | None, database_url: str | None, web_port: int | None, web_host: str | None) -> None:
    """Consume events, learn online and serve recommendations over HTTP."""
    from recstream.stream.app.faust_app import run_worker

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
    from recstream.models.data.files import read_interactions
    from recstream.models.data.synthetic import SyntheticSpec, generate
    from recstream.stream.kafka.access import check_access
    from recstream.stream.kafka.produce import produce as send

    s = load_settings(bootstrap=bootstrap)
    if synthetic == (path is not None):
        raise click.UsageError("give either PATH or --synthetic")
    check_access(s.kafka)
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
    n = send(stream, s.kafka.bootstrap, s.kafka.topic_behaviour, rate=rate, total=total,
             security=s.kafka.client_options())
    click.echo(f"sent {n} events to {s.kafka.topic_behaviour} at {s.kafka.bootstrap}")


@main.command()
@click.argument("user_id")
@click.option("-k", default=10, show_default=True, type=click.IntRange(1, 200))
@click.option("--api", default=None, help="API base URL (default http://RECSTREAM_WEB_HOST:RECSTREAM_WEB_PORT)")
def recommend(user_id: str, k: int, api: str | None) -> None:
    """Ask a running worker for a user's recommendations."""
    from recstream.stream.client import Client

    s = load_settings()
    with Client(api or f"http://{s.serving.web_host}:{s.serving.web_port}", retries=1) as worker:
        click.echo(worker.recommendations(user_id, k).model_dump_json(indent=2, exclude_none=True))


@main.command("dead-letters")
@bootstrap_opt
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1))
@click.option("--timeout", default=3.0, show_default=True, type=float, help="seconds to wait for records")
def dead_letters(bootstrap: str | None, limit: int, timeout: float) -> None:
    """Print the newest dead-lettered messages with their reasons."""
    from recstream.stream.ingest.dead_letters import read_dead_letters
    from recstream.stream.kafka.access import check_access

    s = load_settings(bootstrap=bootstrap)
    check_access(s.kafka)
    for d in read_dead_letters(s.kafka.bootstrap, s.kafka.topic_dead_letter, limit, timeout,
                               security=s.kafka.client_options()):
        click.echo(json.dumps(d))


def yield_cpu(nice: int, threads: int | None) -> None:
    """The scheduler's trainings share hosts with serving workers: a request waiting behind a training step
    is the tail of /recommendations (bench/soak.py). A lower priority lets the kernel run a worker first."""
    if nice:
        os.nice(nice)
    if threads:
        import torch

        torch.set_num_threads(threads)


@main.command()
@db_opt
def scheduler(database_url: str | None) -> None:
    """Run scheduled retraining and queued retrain requests until Ctrl-C."""
    from recstream.models.store.db import create_db_engine, require_current_schema
    from recstream.monitors.schedule import CanaryJudge, DriftJob, RetrainJobs, build_scheduler

    s = load_settings(database_url=database_url)
    engine = create_db_engine(s.database_url)
    require_current_schema(engine)
    yield_cpu(s.scheduler.nice, s.scheduler.threads)
    sched = build_scheduler(RetrainJobs(engine, s.retrain_config()), interval_s=s.retrain.interval_s,
                            cron=s.retrain.cron, poll_s=s.scheduler.poll_s,
                            canary=CanaryJudge(engine, s.canary.min_impressions) if s.canary.auto else None,
                            drift=DriftJob(engine, s.drift.config()), drift_every_s=s.drift.interval_s)
    when = ", ".join(filter(None, [s.retrain.interval_s and f"every {s.retrain.interval_s:g}s",
                                   s.retrain.cron and f"cron '{s.retrain.cron}'"])) or "on request only"
    drift = f"every {s.drift.interval_s:g}s" if s.drift.interval_s else "off"
    click.echo(f"scheduler: retraining {when}; polling requests every {s.scheduler.poll_s:g}s; drift reports {drift}")
    try:
        sched.start()
    except (KeyboardInterrupt, SystemExit):
        pass


@main.command()
@click.option("--events", default=30_000, show_default=True, type=click.IntRange(1_000))
@click.option("--keep", is_flag=True, help="leave broker and worker running at the end")
def demo(events: int, keep: bool) -> None:
    """Run the whole loop locally: broker, database, worker, a replayed stream, live recommendations."""
    from recstream.stream.cli.demo import run_demo

    run_demo(events=events, keep=keep)


main.add_command(models)
main.add_command(drift)
main.add_command(schema)
main.add_command(openapi)
main.add_command(items)


if __name__ == "__main__":  # pragma: no cover
    main()
