"""The ingest service: the worker's Kafka clients and its IngestLoop, started and stopped with the Faust app."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka import AIOKafkaProducer

from recstream.stream.ingest.dead_letters import KafkaDeadLetters
from recstream.stream.ingest.loop import IngestLoop, make_consumer
from recstream.stream.worker.state import WorkerState

log = logging.getLogger("recstream.worker")


class IngestService:
    def __init__(self, state: WorkerState) -> None:
        self.state = state
        self._task: asyncio.Task | None = None

    async def run(self, app: Any) -> None:
        state, s = self.state, self.state.settings
        producer = AIOKafkaProducer(bootstrap_servers=s.kafka.bootstrap, client_id="recstream-dead-letters",
                                    acks="all", linger_ms=5)
        consumer = make_consumer(s.kafka, s.ingest)
        await producer.start()
        await consumer.start()
        await state.router.prune()
        pipeline = state.attach(KafkaDeadLetters(producer, s.kafka.topic_dead_letter))
        await pipeline.preparer.start()
        log.info("consuming %s and %s from %s; API on http://%s:%d", state.topics.behaviour, state.topics.feedback,
                 s.kafka.bootstrap, s.serving.web_host, s.serving.web_port)
        self._task = asyncio.current_task()
        try:
            state.ingest_loop = IngestLoop(consumer, pipeline, s.kafka, s.ingest, state.topics,
                                           choose_start=state.choose_start, after_commit=state.save_checkpoint,
                                           on_assignment=state.router.on_assignment)
            await state.ingest_loop.run()
        finally:
            await consumer.stop()  # leaves the group: the others take this worker's partitions at once
            await state.router.leave()
            await producer.stop()
            pipeline.preparer.close()

    async def stop(self) -> None:
        """On SIGTERM, stop ingesting (the batch in hand finishes or is re-read) and leave the consumer group
        first, before Faust tears down the rest: the others take this worker's partitions at their next
        heartbeat instead of after the session timeout. (aiokafka sends LeaveGroup only from generation 1 on;
        a broker that numbers the first generation 0, as tansu does, sees that one leave as a timeout.)"""
        task = self._task
        if task is not None and not task.done():
            log.info("stopping: leaving consumer group %s", self.state.settings.kafka.group_id)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
