"""The catalogue feed: every worker applies every catalogue update, whichever worker owns its partition.

The consumer group gives each items partition to one worker, which validates, stores and dead-letters its
messages like any event. But every worker must stop serving an unavailable item, so each also reads every items
partition here, outside the group, and applies the valid updates to its in-memory catalogue within a fetch
(at most 100 ms of waiting). At start it loads what the store holds (a catalogue older than the topic's
retention survives), then reads the topic from the beginning (compacted: the latest update per item), and is
caught up once it reaches the end offsets it saw when it started: only then is the worker ready.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from recstream.models.catalogue.catalogue import Catalogue
from recstream.models.catalogue.items import ItemRecord
from recstream.stream.ingest.item_events import parse_item
from recstream.stream.ingest.rejections import Rejection
from recstream.stream.settings import IngestSettings, KafkaSettings

log = logging.getLogger(__name__)


def make_catalogue_consumer(kafka: KafkaSettings, ingest: IngestSettings) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap, group_id=None, client_id="recstream-catalogue",
                            enable_auto_commit=False, auto_offset_reset="earliest", fetch_max_wait_ms=100,
                            max_poll_records=ingest.batch_max, **kafka.client_options())


class CatalogueFeed:
    def __init__(self, consumer: AIOKafkaConsumer, topic: str, catalogue: Catalogue,
                 load_stored: Callable[[], list[ItemRecord]], max_bytes: int = 16 * 1024) -> None:
        self.consumer, self.topic, self.catalogue = consumer, topic, catalogue
        self.load_stored, self.max_bytes = load_stored, max_bytes
        self.positions: dict[int, int] = {}
        self._ends: dict[int, int] = {}
        self.skipped = 0
        self.caught_up = False

    async def start(self) -> None:
        """Load the stored catalogue, then read every partition of the topic from its beginning."""
        self.catalogue.apply(await asyncio.to_thread(self.load_stored))
        partitions = await self._partitions()
        tps = [TopicPartition(self.topic, p) for p in partitions]
        self.consumer.assign(tps)
        await self.consumer.seek_to_beginning(*tps)
        begins = await self.consumer.beginning_offsets(tps)
        ends = await self.consumer.end_offsets(tps)
        self.positions = {tp.partition: begins[tp] for tp in tps}
        self._ends = {tp.partition: ends[tp] for tp in tps}
        self._check_caught_up()
        log.info("catalogue: %d items stored; reading %d partitions of %s", len(self.catalogue), len(tps), self.topic)

    async def _partitions(self) -> list[int]:
        for _ in range(50):
            parts = self.consumer.partitions_for_topic(self.topic)
            if parts:
                return sorted(parts)
            await self.consumer.topics()  # refreshes the cluster metadata
            await asyncio.sleep(0.1)
        raise RuntimeError(f"the items topic {self.topic} has no partitions: run `recstream topics`")

    async def run(self) -> None:
        while True:
            try:
                fetched = await self.consumer.getmany(timeout_ms=500)
            except KafkaError as exc:  # the ingest loop reports the broker; this one waits for it
                log.debug("catalogue fetch failed: %s", exc)
                await asyncio.sleep(1.0)
                continue
            self.take(fetched)

    def take(self, fetched: dict[TopicPartition, list]) -> None:
        records: list[ItemRecord] = []
        for tp, messages in fetched.items():
            for m in messages:
                item = parse_item(m.key, m.value, self.max_bytes)
                if isinstance(item, Rejection):
                    self.skipped += 1  # the partition's owner dead-letters it
                else:
                    records.append(item)
            if messages:
                self.positions[tp.partition] = messages[-1].offset + 1
        self.catalogue.apply(records)
        self._check_caught_up()

    def _check_caught_up(self) -> None:
        if not self.caught_up and all(self.positions.get(p, 0) >= end for p, end in self._ends.items()):
            self.caught_up = True
            log.info("catalogue caught up: %s", self.catalogue.state())

    def state(self) -> dict:
        return {**self.catalogue.state(), "caught_up": self.caught_up, "skipped": self.skipped,
                "partitions": sorted(self.positions)}
