"""The hot path: an aiokafka batch consumer feeding the pipeline, committing each batch once it is done.

Why not a Faust agent: on the embedded broker, iterating a Faust stream (plain, `take`, or `take_events`) peaked
at 5-6.5k events/s with no work per event, while aiokafka's `getmany` read 205k/s. The worker stays a Faust app
(lifecycle, web server, timers); only this loop bypasses Faust's per-event machinery.

Two batches are in flight: while batch N is learned here, batch N+1 is validated and stored by the helper
process. Batches are applied and committed strictly in order.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import NamedTuple

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata

from recstream.models.checkpoint import offset_key

from .pipeline import Pipeline
from .prepare import Prepared
from .records import RawRecord
from .settings import Settings
from .topics import Topics

log = logging.getLogger(__name__)

#: Batches between fetch and commit: one being learned, one being prepared.
IN_FLIGHT = 2


def make_consumer(settings: Settings, topics: Topics) -> AIOKafkaConsumer:
    session_ms = int(settings.session_timeout_s * 1000)
    return AIOKafkaConsumer(
        topics.behaviour, topics.feedback,
        bootstrap_servers=settings.bootstrap, group_id=settings.group_id, client_id="recstream-worker",
        enable_auto_commit=False, auto_offset_reset="earliest",
        session_timeout_ms=session_ms, heartbeat_interval_ms=max(session_ms // 3, 100),
        max_poll_records=settings.batch_max, max_partition_fetch_bytes=4 * 1024 * 1024,
        # The broker may hold a fetch this long waiting for data (default 500 ms): it bounds freshness.
        fetch_max_wait_ms=min(int(settings.batch_within_s * 1000), 500),
        fetch_max_bytes=32 * 1024 * 1024,
    )


class Batch(NamedTuple):
    records: list[RawRecord]
    #: next offset to read per partition once this batch is done
    offsets: dict[TopicPartition, OffsetAndMetadata]
    prepared: asyncio.Future[Prepared]


class IngestLoop:
    """Consume → prepare → apply → commit, forever. A failed batch is not committed and is re-read after a
    back-off (with anything fetched after it)."""

    def __init__(self, consumer: AIOKafkaConsumer, pipeline: Pipeline, settings: Settings,
                 restore_offsets: dict[str, int] | None = None,
                 after_commit: Callable[[dict[str, int]], None] | None = None) -> None:
        self.consumer = consumer
        self.pipeline = pipeline
        self.settings = settings
        self.failures = 0
        #: where the restored learner checkpoint left off ("topic:partition" -> next offset): read from there,
        #: not from the group's committed offsets, so events learned after the checkpoint are learned again
        self._restore = dict(restore_offsets or {})
        #: next offset per partition of everything learned and committed (what a checkpoint records)
        self.committed: dict[str, int] = dict(self._restore)
        self.after_commit = after_commit
        #: next offset to read per partition, as of the last fetch (for the consumer-lag metric)
        self._next: dict[TopicPartition, int] = {}

    def _seek_to_checkpoint(self) -> None:
        for tp in self.consumer.assignment():
            offset = self._restore.get(offset_key(tp.topic, tp.partition))
            if offset is not None:
                self.consumer.seek(tp, offset)
        log.info("resuming from the online checkpoint's offsets: %s", self._restore)
        self._restore = {}

    def _update_lag(self) -> None:
        """Lag per partition = its end (as of the last fetch response) minus the next offset we will read."""
        lag = self.pipeline.stats.lag
        for tp, nxt in self._next.items():
            end = self.consumer.highwater(tp)
            if end is not None:
                lag[(tp.topic, tp.partition)] = max(end - nxt, 0)

    async def _fetch(self, wait: bool) -> Batch | None:
        t0 = time.perf_counter()
        timeout_ms = int(self.settings.batch_within_s * 1000) if wait else 0
        fetched = await self.consumer.getmany(timeout_ms=timeout_ms, max_records=self.settings.batch_max)
        self.pipeline.stats.seconds["fetch"] += time.perf_counter() - t0
        if self._restore and self.consumer.assignment():
            self._seek_to_checkpoint()
            return None  # what was fetched came from the committed offsets: read again from the checkpoint
        if not fetched:
            self._update_lag()
            if self.after_commit is not None:  # idle: the last batches' state gets its checkpoint too
                self.after_commit(self.committed)
            return None
        records = [RawRecord(m.topic, m.partition, m.offset, m.key, m.value) for msgs in fetched.values() for m in msgs]
        offsets = {tp: OffsetAndMetadata(msgs[-1].offset + 1, "") for tp, msgs in fetched.items()}
        self._next.update({tp: meta.offset for tp, meta in offsets.items()})
        self._update_lag()
        return Batch(records, offsets, asyncio.ensure_future(self.pipeline.prepare(records)))

    async def run(self) -> None:
        backoff = 0.5
        in_flight: deque[Batch] = deque()
        while True:
            if len(in_flight) < IN_FLIGHT:
                batch = await self._fetch(wait=not in_flight)
                if batch is not None:
                    in_flight.append(batch)
                    if len(in_flight) < IN_FLIGHT and not in_flight[0].prepared.done():
                        continue  # fetch one more to prepare while the first is being prepared
            if not in_flight:
                continue
            head = in_flight.popleft()
            try:
                await self.pipeline.apply(head.records, await head.prepared)
                t1 = time.perf_counter()
                await self.consumer.commit(head.offsets)
                self.pipeline.stats.seconds["commit"] += time.perf_counter() - t1
                self.committed.update({offset_key(tp.topic, tp.partition): m.offset for tp, m in head.offsets.items()})
                if self.after_commit is not None:
                    self.after_commit(self.committed)
                backoff = 0.5
            except (asyncio.CancelledError, KeyboardInterrupt):
                raise
            except Exception as exc:  # noqa: BLE001 - a bad batch must never kill the worker
                self.failures += 1
                log.error("batch of %d records failed, retrying from the last commit in %.1f s: %s",
                          len(head.records), backoff, exc, exc_info=not isinstance(exc, KafkaError))
                for later in in_flight:  # fetched after the failed batch: it will be read again
                    await asyncio.gather(later.prepared, return_exceptions=True)
                in_flight.clear()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                for tp in self.consumer.assignment():
                    committed = await self.consumer.committed(tp)
                    if committed is None:
                        await self.consumer.seek_to_beginning(tp)
                    else:
                        self.consumer.seek(tp, committed)
