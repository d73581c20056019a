"""The ingest service: the worker's Kafka clients and its IngestLoop, started and stopped with the Faust app."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka import AIOKafkaProducer

from recstream.models.online.checkpoint import offset_key
from recstream.models.online.item_deltas import apply_delta
from recstream.models.store.items import ItemStore
from recstream.stream.ingest.catalogue_feed import CatalogueFeed, make_catalogue_consumer
from recstream.stream.ingest.dead_letters import KafkaDeadLetters
from recstream.stream.ingest.delta_publisher import DeltaPublisher
from recstream.stream.ingest.loop import IngestLoop, make_consumer
from recstream.stream.ingest.peer_feed import PeerFeed, make_feed_consumer
from recstream.stream.worker.state import WorkerState

log = logging.getLogger("recstream.worker")


class IngestService:
    def __init__(self, state: WorkerState) -> None:
        self.state = state
        self._task: asyncio.Task | None = None

    async def run(self, app: Any) -> None:
        state, s = self.state, self.state.settings
        producer = AIOKafkaProducer(bootstrap_servers=s.kafka.bootstrap, client_id="recstream-dead-letters",
                                    acks="all", linger_ms=5, **s.kafka.client_options())
        consumer = make_consumer(s.kafka, s.ingest)
        await producer.start()
        await consumer.start()
        await state.router.prune()
        try:  # who owns what, before this worker joins: until it has partitions it forwards to them
            await state.router.refresh()
        except Exception as exc:  # noqa: BLE001 - the heartbeat service retries
            log.warning("cannot read the worker directory yet (%s)", exc)
        pipeline = state.attach(KafkaDeadLetters(producer, s.kafka.topic_dead_letter))
        await pipeline.preparer.start()
        log.info("consuming %s, %s and %s from %s; API on http://%s:%d", state.topics.behaviour,
                 state.topics.feedback, state.topics.items, s.kafka.bootstrap, s.serving.web_host, s.serving.web_port)
        self._task = asyncio.current_task()
        feed = await self._start_feed(producer) if s.ingest.share_items else None
        catalogue = await self._start_catalogue()
        try:
            state.ingest_loop = loop = IngestLoop(consumer, pipeline, s.kafka, s.ingest, state.topics,
                                                  choose_start=state.choose_start, after_commit=state.after_batch,
                                                  on_assignment=self._on_assignment)
            await loop.run()
        finally:
            await consumer.stop()  # leaves the group: the others take this worker's partitions at once
            catalogue.cancel()
            await asyncio.gather(catalogue, return_exceptions=True)
            await state.catalogue_feed.consumer.stop()  # type: ignore[union-attr]
            if feed is not None:
                feed.cancel()
                await asyncio.gather(feed, return_exceptions=True)
                await state.peer_feed.consumer.stop()
            await state.router.leave()
            await producer.stop()
            pipeline.preparer.close()

    async def _start_feed(self, producer: AIOKafkaProducer) -> asyncio.Task:
        """Item sharing: this worker's deltas out (delta_publisher.py), its peers' in (peer_feed.py, reading
        from the first assignment)."""
        state, s = self.state, self.state.settings
        state.delta_publisher = DeltaPublisher(producer, state.topics.item_deltas, s.online.popularity_half_life_s,
                                               s.ingest.share_items_every_s, s.ingest.share_items_max_pairs)
        state.delta_publisher.attach(state.recommender)
        consumer = make_feed_consumer(s.kafka, s.ingest)
        await consumer.start()
        state.peer_feed = PeerFeed(consumer, state.topics.item_deltas, lambda d: apply_delta(state.recommender, d),
                                   state.learning, state.metrics.item_delta_lag_seconds.observe)
        return asyncio.create_task(state.peer_feed.run(), name="item feed")

    async def _start_catalogue(self) -> asyncio.Task:
        """The catalogue feed (see stream/ingest/catalogue_feed.py): every items partition, from the start."""
        state, s = self.state, self.state.settings
        consumer = make_catalogue_consumer(s.kafka, s.ingest)
        await consumer.start()
        state.catalogue_feed = CatalogueFeed(consumer, state.topics.items, state.catalogue,
                                             ItemStore(state.registry.engine).all, s.ingest.max_event_bytes)
        await state.catalogue_feed.start()
        return asyncio.create_task(state.catalogue_feed.run(), name="catalogue feed")

    async def _on_assignment(self, behaviour: list[int], partitions: int) -> None:
        state = self.state
        await state.router.on_assignment(behaviour, partitions)
        if state.eviction is not None:  # the new partitions' users may have been evicted by their last owner
            await state.eviction.reload()
        loop = state.ingest_loop
        if state.peer_feed is not None and loop is not None:
            owned = {offset_key(tp.topic, tp.partition) for tp in loop.consumer.assignment()}
            await state.peer_feed.assign(owned, loop.learned_offsets)

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
