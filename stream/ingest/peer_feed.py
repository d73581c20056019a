"""The peer feed: what other workers' users do, learned item-side by this worker (/healthz calls it `item_feed`).

A worker learns in full (factors, seen items, everything) only the users of its partitions. What those users
tell about *items* — which are popular now, which go together — every worker needs: without it, each one ranks
items by a quarter of the evidence with 4 workers, and cannot serve an item none of its users has touched
(bench/served.py, sessions: 4 workers served 0.90x of one worker's recall with the online model alone, 1.01x
with this feed). So a second consumer, outside the consumer group, is assigned the behaviour partitions this
worker does not own and hands their valid events to `OnlineRecommender.learn_items` (popularity and
co-occurrence; user factors stay with the owner). It commits nothing and dead-letters nothing (the owner does
both); its positions travel in this worker's checkpoints.

Where a peer partition is read from: the position this feed reached (kept across rebalances and in checkpoints),
else where this worker's own model stopped learning it (a partition a rebalance took away), else the beginning of
what Kafka keeps (a new worker learns the catalogue's history). A partition moving the other way (a peer's, now
owned) is read by the ingest loop from where this model stopped learning it: events this feed had already counted
item-side are then counted twice, for that partition's catch-up only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from recstream.models.data.interaction import Interaction, InteractionColumns
from recstream.models.online.checkpoint import offset_key
from recstream.stream.ingest.events import EventParser
from recstream.stream.ingest.rejections import Rejection
from recstream.stream.settings import IngestSettings, KafkaSettings

log = logging.getLogger(__name__)


def make_feed_consumer(kafka: KafkaSettings, ingest: IngestSettings) -> AIOKafkaConsumer:
    """Outside the group (no group id): assigned partitions explicitly, never committing."""
    return AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap, group_id=None, client_id="recstream-item-feed",
                            enable_auto_commit=False, auto_offset_reset="earliest",
                            max_poll_records=ingest.batch_max, fetch_max_wait_ms=500, **kafka.client_options())


class PeerFeed:
    """Reads the peer partitions of `topic` and passes their valid events to `learn` (in order per partition)."""

    def __init__(self, consumer: AIOKafkaConsumer, topic: str, parser: EventParser,
                 learn: Callable[[InteractionColumns], None], batch_max: int = 2000,
                 learning: asyncio.Lock | None = None) -> None:
        self.consumer, self.topic, self.parser, self.learn = consumer, topic, parser, learn
        self.batch_max = batch_max
        #: held while learning (a checkpoint being serialised holds it: the state must not change meanwhile)
        self.learning = learning or asyncio.Lock()
        #: next offset to read per peer partition
        self.positions: dict[int, int] = {}
        self.peers: list[int] = []
        self.skipped = 0
        self._assigned = asyncio.Event()

    async def assign(self, owned: list[int], partitions: int, learned: dict[str, int]) -> None:
        """After each rebalance of the ingest loop: read every partition but `owned` (`learned`: where this
        worker's model stopped learning each partition, "topic:partition" -> next offset)."""
        mine = set(owned)
        peers = [p for p in range(partitions) if p not in mine]
        for p in peers:
            if p not in self.positions and offset_key(self.topic, p) in learned:
                self.positions[p] = learned[offset_key(self.topic, p)]
        for p in set(self.positions) - set(peers):
            del self.positions[p]  # owned now: the ingest loop learns it in full
        tps = [TopicPartition(self.topic, p) for p in peers]
        self.consumer.assign(tps)
        start = await self.consumer.beginning_offsets([tp for tp in tps if tp.partition not in self.positions])
        for tp in tps:
            self.consumer.seek(tp, self.positions.get(tp.partition, start.get(tp, 0)))
        self.peers = peers
        if peers:
            log.info("item feed: learning items from partitions %s of %s", peers, self.topic)
        self._assigned.set()

    def restore(self, positions: dict[int, int]) -> None:
        """Read peer partitions from `positions` (a restored checkpoint's: the peers' events its state holds)."""
        self.positions = dict(positions)
        for p in self.peers:
            if p in self.positions:
                self.consumer.seek(TopicPartition(self.topic, p), self.positions[p])

    async def run(self) -> None:
        """Forever: fetch what the peers' users did, learn it item-side."""
        await self._assigned.wait()
        while True:
            if not self.peers:  # one worker owns every partition: nothing to read
                await asyncio.sleep(0.5)
                continue
            try:
                fetched = await self.consumer.getmany(timeout_ms=500, max_records=self.batch_max)
            except KafkaError as exc:  # the ingest loop reports the broker; this one waits for it
                log.debug("item feed fetch failed: %s", exc)
                await asyncio.sleep(1.0)
                continue
            if fetched:
                async with self.learning:
                    self.take(fetched)

    def take(self, fetched: dict[TopicPartition, list]) -> None:
        events: list[Interaction] = []
        peers = set(self.peers)
        for tp, records in fetched.items():
            if tp.partition not in peers:
                continue  # fetched just before a rebalance made it ours
            for r in records:
                ev = self.parser.interaction(r.key, r.value)
                if isinstance(ev, Rejection):
                    self.skipped += 1  # its owner dead-letters it
                else:
                    events.append(ev)
            self.positions[tp.partition] = records[-1].offset + 1
        if events:
            self.learn(InteractionColumns.of(events))

    def state(self) -> dict:
        return {"partitions": self.peers, "skipped": self.skipped}
