"""The stream worker: a Faust app that runs the ingest loop and serves the HTTP API from the same state."""

from __future__ import annotations

import asyncio
import logging
import sys

import faust
from aiokafka import AIOKafkaProducer

from recstream.monitors.drift import latest_summary, store_probes

from .deadletter import KafkaDeadLetters
from .ingest import IngestLoop, make_consumer
from .service import WorkerState
from .settings import Settings
from .web import register_views

log = logging.getLogger("recstream.worker")


def create_app(settings: Settings, state: WorkerState) -> faust.App:
    app = faust.App(
        "recstream",
        broker=f"kafka://{settings.bootstrap}",
        store="memory://",
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_bind=settings.web_host,
        broker_session_timeout=settings.session_timeout_s,
        topic_partitions=settings.topic_partitions,
        # Faust's own consumer has nothing to read here; the hot path is IngestLoop.
        topic_allow_declare=True,
    )
    register_views(app, state)

    ingesting: list[asyncio.Task | None] = []

    @app.on_before_shutdown.connect
    async def leave_group(app: faust.App, **kwargs: object) -> None:
        """On SIGTERM, stop ingesting (the batch in hand finishes or is re-read) and leave the consumer group
        first, before Faust tears down the rest: the others take this worker's partitions at their next
        heartbeat instead of after the session timeout. (aiokafka sends LeaveGroup only from generation 1 on;
        a broker that numbers the first generation 0, as tansu does, sees that one leave as a timeout.)"""
        for task in ingesting:
            if task is not None and not task.done():
                log.info("stopping: leaving consumer group %s", settings.group_id)
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    @app.task
    async def ingest() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap, client_id="recstream-dead-letters",
                                    acks="all", linger_ms=5)
        consumer = make_consumer(settings)
        await producer.start()
        await consumer.start()
        pipeline = state.attach(KafkaDeadLetters(producer, settings.topic_dead_letter))
        await pipeline.preparer.start()
        log.info("consuming %s and %s from %s; API on http://%s:%d", state.topics.behaviour,
                 state.topics.feedback, settings.bootstrap, settings.web_host, settings.web_port)
        ingesting.append(asyncio.current_task())
        try:
            loop = IngestLoop(consumer, pipeline, settings, state.topics, choose_start=state.choose_start,
                              after_commit=state.maybe_checkpoint, on_assignment=state.on_assignment)
            state.ingest_loop = loop
            await loop.run()
        finally:
            await consumer.stop()  # leaves the group: the others take this worker's partitions at once
            if state.directory is not None:
                await asyncio.get_running_loop().run_in_executor(None, state.directory.leave)
            await producer.stop()
            pipeline.preparer.close()

    @app.task
    async def follow_registry() -> None:
        """Swap in new live/canary deep versions within RECSTREAM_MODEL_POLL_S (loading runs in a thread)."""
        loop = asyncio.get_running_loop()
        failing = False
        while not app.should_stop:
            try:
                await loop.run_in_executor(None, state.deep.poll)
                if state.pipeline is not None:
                    rolled_back = await loop.run_in_executor(None, state.follow_online)
                    if rolled_back is not None:  # an operator rolled the online model back
                        state.pipeline.between_batches(lambda r=rolled_back: state.restore(*r))
                failing = False
            except Exception as exc:  # noqa: BLE001 - a database blip must not stop serving the current model
                if not failing:
                    log.warning("cannot read the model registry (%s); serving the current model meanwhile", exc)
                failing = True
            await asyncio.sleep(settings.model_poll_s)

    @app.task
    async def directory() -> None:
        """Keep this worker's row in the directory alive and the map of who owns which partition fresh."""
        if state.directory is not None:
            try:
                await asyncio.get_running_loop().run_in_executor(None, state.directory.prune)
            except Exception:  # noqa: BLE001 - housekeeping only
                pass
        failing = False
        while not app.should_stop:
            await asyncio.sleep(settings.worker_heartbeat_s)
            try:
                await state.refresh_owners(heartbeat=True)
                failing = False
            except Exception as exc:  # noqa: BLE001 - requests are answered here meanwhile
                if not failing:
                    log.warning("cannot read the worker directory (%s); routing with the last map", exc)
                failing = True

    @app.task
    async def watch_broker() -> None:
        """Probe the broker every RECSTREAM_WORKER_HEARTBEAT_S: its state shows in /healthz and /metrics."""
        while not app.should_stop:
            await asyncio.sleep(settings.worker_heartbeat_s)
            if state.ingest_loop is not None:
                await state.ingest_loop.probe_broker(timeout_s=max(settings.worker_heartbeat_s, 1.0))

    @app.task
    async def record_outputs() -> None:
        """Store the online model's probes for drift monitoring and pick up the latest drift verdict."""
        loop = asyncio.get_running_loop()
        engine = state.registry.engine
        failing = False
        while not app.should_stop:
            await asyncio.sleep(settings.drift_probe_flush_s)
            probes = state.recommender.drain_probes()
            try:
                await loop.run_in_executor(None, store_probes, engine, probes, state.source)
                state.drift_summary = await loop.run_in_executor(None, latest_summary, engine)
                failing = False
            except Exception as exc:  # noqa: BLE001 - monitoring must never stop ingestion or serving
                if not failing:
                    log.warning("cannot store model-output probes (%s); %d dropped, monitoring only", exc,
                                len(probes))
                failing = True

    @app.timer(interval=10.0)
    async def report() -> None:
        h = state.health()
        if h["pipeline"]:
            log.info("learned %d events (%d users, %d items), dead-lettered %s, live Recall@10 %s",
                     h["events_learned"], h["users"], h["items"], h["pipeline"]["dead_lettered"] or 0,
                     h["prequential_recall_at_10"])

    return app


def run_worker(settings: Settings) -> None:
    """Block running one worker until SIGINT/SIGTERM."""
    from .topics import Topics, ensure_topics

    ensure_topics(settings.bootstrap, Topics.from_settings(settings), settings.topic_partitions)
    # Other threads (the helper pool's result hand-off; the store thread with RECSTREAM_PREPARE_IN_PROCESS=false)
    # share the GIL with the event loop; the default 5 ms hand-off showed up as tens of ms of request latency
    # under load. 1 ms keeps serving snappy at no measurable ingest cost.
    sys.setswitchinterval(0.001)
    state = WorkerState.create(settings)
    app = create_app(settings, state)
    worker = faust.Worker(app, loglevel=settings.log_level, quiet=True)
    worker.execute_from_commandline()
