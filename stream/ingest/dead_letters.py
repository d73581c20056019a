"""Dead letters: the original message, byte for byte, plus why it was refused, in headers.

Same shape as Kafka Connect's dead-letter queues: the value and key are untouched so the message can be fixed
and replayed with any client; headers carry the reason and where it came from.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer

from recstream.models.store.dead_letters import DeadLetter, DeadLetterLog
from recstream.stream.ingest.records import Record
from recstream.stream.ingest.rejections import Rejection

H_CODE = "recstream.error.code"
H_REASON = "recstream.error.reason"
H_TOPIC = "recstream.source.topic"
H_PARTITION = "recstream.source.partition"
H_OFFSET = "recstream.source.offset"
H_FAILED_AT = "recstream.error.failed_at"


def dead_letter_headers(record: Record, rejection: Rejection) -> list[tuple[str, bytes]]:
    return [(H_CODE, rejection.code.encode()), (H_REASON, rejection.detail.encode()),
            (H_TOPIC, record.topic.encode()), (H_PARTITION, str(record.partition).encode()),
            (H_OFFSET, str(record.offset).encode()), (H_FAILED_AT, f"{time.time():.3f}".encode())]


class KafkaDeadLetters:
    """Publishes rejected records to the dead-letter topic and waits for the broker's acknowledgement."""

    def __init__(self, producer: AIOKafkaProducer, topic: str) -> None:
        self.producer = producer
        self.topic = topic

    async def send_many(self, items: Sequence[tuple[Record, Rejection]]) -> None:
        futures = [await self.producer.send(self.topic, value=rec.value, key=rec.key,
                                            headers=dead_letter_headers(rec, rej))
                   for rec, rej in items]
        await asyncio.gather(*futures)


class KeptDeadLetters:
    """Another sink's dead letters, also kept as rows for the console (models/store/dead_letters.py). The rows
    go first: if the database is away the batch waits like any other (nothing sent twice to the topic meanwhile),
    and a batch sent again after a failed send adds no second row."""

    def __init__(self, sink: Any, log: DeadLetterLog) -> None:
        self.sink, self.log = sink, log

    async def send_many(self, items: Sequence[tuple[Record, Rejection]]) -> None:
        now = time.time()
        rows = [DeadLetter.of(rej.code, rej.detail, rec.topic, rec.partition, rec.offset, now, rec.key, rec.value)
                for rec, rej in items]
        await asyncio.to_thread(self.log.add, rows)
        await self.sink.send_many(items)


def read_dead_letters(bootstrap: str, topic: str, limit: int = 20, timeout_s: float = 3.0,
                      security: Mapping[str, Any] | None = None) -> list[dict]:
    """The newest `limit` dead letters as dicts (reason, source, original value as text where it decodes)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, client_id="recstream-dlq-read",
                             **(security or {}))
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in parts]
        consumer.assign(tps)
        ends = consumer.end_offsets(tps)
        for tp in tps:
            consumer.seek(tp, max(ends[tp] - limit, 0))
        out = []
        deadline = time.monotonic() + timeout_s
        # poll() hands back whole fetched batches; positions advance per batch, so test them between polls.
        while time.monotonic() < deadline and any(consumer.position(tp) < ends[tp] for tp in tps):
            for msgs in consumer.poll(timeout_ms=200).values():
                for msg in msgs:
                    h = {k: v.decode(errors="replace") for k, v in msg.headers}
                    value = msg.value
                    out.append({"code": h.get(H_CODE), "reason": h.get(H_REASON), "source_topic": h.get(H_TOPIC),
                                "source_partition": h.get(H_PARTITION), "source_offset": h.get(H_OFFSET),
                                "failed_at": float(h.get(H_FAILED_AT) or 0),
                                "key": msg.key.decode(errors="replace") if msg.key else None,
                                "value": value.decode(errors="replace")[:500] if value is not None else None})
        out.sort(key=lambda d: d["failed_at"])  # partitions interleave: newest last
        return out[-limit:]
    finally:
        consumer.close()
