"""The peer feed: what other workers' users taught the item side, added by this worker (/healthz: `item_feed`).

A worker learns in full (factors, seen items, everything) only the users of its partitions. What those users
tell about *items* — which are popular now, which go together — every worker needs: without it, each one ranks
items by a quarter of the evidence with 4 workers, and cannot serve an item none of its users has touched
(bench/served.py, sessions: 4 workers served 0.90x of one worker's recall with the online model alone). Each
worker sends the item-side counts its own events made as deltas (delta_publisher.py); this feed reads the one
deltas topic, outside the consumer group, and adds every delta that brings partitions this worker neither owns
nor already holds (`models/online/item_deltas.py`). A peer's event costs a fraction of replaying it: its
counts arrive summed, one message a half-second per worker, and no peer user's window is kept here.

Which deltas are added: each says where its sender's learning stood per "topic:partition" it advanced. This
feed keeps, per partition it does not own, the offset up to which its model holds that partition's events
(`positions`: from deltas added, or from this model's own learning of a partition a rebalance took away), and
adds a delta when some partition in it is not owned here and goes beyond that position. So a worker skips its
own deltas, and after a restart adds its old deltas only for partitions it no longer owns (those events are
in no checkpoint it restored). Known overlap: a partition that moves to this worker is learned in full from
where this model last learned it, so events a delta had already brought count twice for that catch-up only;
a delta mixing that partition with another is added whole.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from recstream.models.errors import DeltaFormatError
from recstream.models.online.delta_codec import decode
from recstream.models.online.item_deltas import ItemDelta
from recstream.stream.settings import IngestSettings, KafkaSettings

log = logging.getLogger(__name__)


def make_feed_consumer(kafka: KafkaSettings, ingest: IngestSettings) -> AIOKafkaConsumer:
    """Outside the group (no group id): assigned the deltas topic explicitly, never committing."""
    return AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap, group_id=None, client_id="recstream-item-feed",
                            enable_auto_commit=False, auto_offset_reset="earliest", max_poll_records=50,
                            fetch_max_wait_ms=200, max_partition_fetch_bytes=4 * 1024 * 1024,
                            **kafka.client_options())


class PeerFeed:
    """Reads the deltas topic from `offset` and hands each delta it wants to `apply`."""

    def __init__(self, consumer: AIOKafkaConsumer, topic: str, apply: Callable[[ItemDelta], None],
                 learning: asyncio.Lock | None = None, observe_lag: Callable[[float], None] | None = None) -> None:
        self.consumer, self.topic, self.apply = consumer, topic, apply
        #: held while adding (a checkpoint being serialised holds it: the state must not change meanwhile)
        self.learning = learning or asyncio.Lock()
        #: seconds from a delta's first event learned by its sender to it being added here
        self.observe_lag = observe_lag
        #: "topic:partition" -> next offset this model holds, for partitions it does not own
        self.positions: dict[str, int] = {}
        self.owned: set[str] = set()
        #: next offset to read on the deltas topic (None: from the start of what Kafka keeps)
        self.offset: int | None = None
        self.added = self.skipped = self.refused = 0
        self._adding: str | None = None
        self._tp = TopicPartition(topic, 0)
        self._assigned = asyncio.Event()

    async def assign(self, owned: set[str], learned: dict[str, int]) -> None:
        """After each rebalance of the ingest loop (`owned`: its "topic:partition"s now; `learned`: where this
        worker's model stopped learning each partition it ever owned)."""
        for key, end in learned.items():
            if key not in owned:
                self.positions[key] = max(self.positions.get(key, end), end)
        self.owned = set(owned)
        if not self._assigned.is_set():
            self.consumer.assign([self._tp])
            if self.offset is None:
                self.offset = (await self.consumer.beginning_offsets([self._tp]))[self._tp]
            self.consumer.seek(self._tp, self.offset)
            self._assigned.set()

    def restore(self, saved: dict) -> None:
        """Continue from a restored checkpoint's place (`saved`: what `saved()` returned then)."""
        self.positions = dict(saved.get("positions", {}))
        self.offset = saved.get("offset")
        if self._assigned.is_set() and self.offset is not None:
            self.consumer.seek(self._tp, self.offset)

    def saved(self) -> dict:
        """What a checkpoint keeps: the peers' events its state holds."""
        return {"offset": self.offset, "positions": dict(self.positions)}

    async def run(self) -> None:
        """Forever: fetch deltas, add the wanted ones."""
        await self._assigned.wait()
        while True:
            try:
                fetched = await self.consumer.getmany(self._tp, timeout_ms=500)
            except KafkaError as exc:  # the ingest loop reports the broker; this one waits for it
                log.debug("item feed fetch failed: %s", exc)
                await asyncio.sleep(1.0)
                continue
            records = fetched.get(self._tp, [])
            if records:
                async with self.learning:
                    self.take(records)

    def take(self, records: list) -> None:
        for r in records:
            self.offset = r.offset + 1
            try:
                delta, part = decode(r.value or b"")
                if part.index == 0:
                    self._adding = part.message if self._wanted(delta.ends) else None
                if self._adding != part.message:
                    self.skipped += 1
                    continue
                self.apply(delta)
            except DeltaFormatError as exc:
                self.refused += 1
                log.warning("item delta at offset %d refused: %s", r.offset, exc)
                continue
            self.added += 1
            if self.observe_lag is not None and part.index == 0 and delta.learned_at:
                self.observe_lag(max(time.time() - delta.learned_at, 0.0))

    def _wanted(self, ends: dict[str, int]) -> bool:
        new = {k: v for k, v in ends.items() if k not in self.owned and v > self.positions.get(k, -1)}
        self.positions.update(new)
        return bool(new)

    def state(self) -> dict:
        return {"added": self.added, "skipped": self.skipped, "refused": self.refused, "offset": self.offset}
