"""This worker's side of item sharing: what its own events taught the item side, sent to its peers as deltas.

After each batch (the ingest loop's hook, so the counts taken match the offsets learned) the counts kept since
the last send go out once `every_s` has passed or they hold `max_pairs` pairs: one message on the deltas topic,
in parts of at most `max_pairs` pairs (a Kafka message has a size limit; a peer applies all parts of a message or
none). Each delta says where this worker's learning stood on every partition it advanced ("topic:partition" ->
next offset): peers skip a delta whose partitions they own or already hold (stream/ingest/peer_feed.py).

A delta that cannot be sent is counted and dropped: peers then miss that much item knowledge, while the events
themselves stay stored and learned in full by this worker (a derived, approximate signal: no retry queue).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from recstream.models.online.delta_codec import Part, encode
from recstream.models.online.item_deltas import ItemSideLog
from recstream.models.online.recommender import OnlineRecommender

logger = logging.getLogger(__name__)


class DeltaPublisher:
    def __init__(self, producer: AIOKafkaProducer, topic: str, half_life: float, every_s: float, max_pairs: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.producer, self.topic = producer, topic
        self.every_s, self.max_pairs, self.clock = every_s, max_pairs, clock
        self.log = ItemSideLog(half_life)
        self._sent_ends: dict[str, int] = {}
        self._last = clock()
        self._name = uuid.uuid4().hex[:12]
        self._count = 0
        self.sent = self.failed = 0
        self.bytes = 0

    def attach(self, recommender: OnlineRecommender) -> None:
        """Keep `recommender`'s own item-side counts from now on (a restored learner starts a fresh log: the
        counts of the one it replaced describe a state that is gone)."""
        if recommender.item_log is not self.log:
            self.log = ItemSideLog(self.log.half_life)
            recommender.item_log = self.log

    async def after_batch(self, recommender: OnlineRecommender, learned: dict[str, int]) -> None:
        """Send the counts since the last send when due (`learned`: the ingest loop's offsets, which the counts
        reflect)."""
        if not self.log.events or (self.clock() - self._last < self.every_s and self.log.rows < self.max_pairs):
            return
        ends = {k: v for k, v in learned.items() if self._sent_ends.get(k) != v}
        log, self.log = self.log, ItemSideLog(self.log.half_life)
        recommender.item_log = self.log
        self._last = self.clock()
        message = f"{self._name}-{self._count}"
        # Summed and encoded in a thread (~2 us an event, milliseconds a delta): requests go on meanwhile (NumPy's
        # sorts let go of the GIL). Nothing learns meanwhile: the ingest loop is waiting for this hook.
        encoded = await asyncio.to_thread(self._encoded, log, recommender.item_ids, ends, message)
        if not encoded:
            return
        self._sent_ends.update(ends)
        self._count += 1
        try:
            for data in encoded:
                sent = await self.producer.send(self.topic, data)
                sent.add_done_callback(self._acked)
                self.bytes += len(data)
        except KafkaError as exc:  # the broker is away: the ingest loop reports it; peers miss this delta
            self.failed += 1
            logger.warning("item delta not sent (%s): peers miss its item-side counts", exc)
            return
        self.sent += 1

    def _encoded(self, log: ItemSideLog, item_ids: list[str], ends: dict[str, int], message: str) -> list[bytes]:
        delta = log.take(item_ids, ends)
        if delta is None:
            return []
        parts = delta.split(self.max_pairs)
        return [encode(part, Part(message, k, len(parts))) for k, part in enumerate(parts)]

    def _acked(self, sent: asyncio.Future) -> None:
        if not sent.cancelled() and sent.exception() is not None:
            self.failed += 1
            logger.warning("item delta not acknowledged: %s", sent.exception())

    def state(self) -> dict:
        return {"sent": self.sent, "failed": self.failed, "bytes": self.bytes}
