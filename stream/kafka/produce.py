"""Producing events: any stock Kafka client can do this; ours is plain kafka-python plus a rate limit and a bar."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaProducer
from tqdm import tqdm

from recstream.models.data.interaction import Interaction


def event_json(e: Interaction) -> bytes:
    """The wire form of a behaviour event (schema version 1)."""
    doc: dict = {"event_id": e.event_id, "user_id": e.user_id, "item_id": e.item_id, "type": e.type,
                 "ts": datetime.fromtimestamp(e.ts, UTC).isoformat()}
    if e.value is not None:
        doc["value"] = e.value
    if e.context:
        doc["context"] = e.context
    return json.dumps(doc, separators=(",", ":")).encode()


def make_producer(bootstrap: str, security: Mapping[str, Any] | None = None) -> KafkaProducer:
    return KafkaProducer(bootstrap_servers=bootstrap, client_id="recstream-produce", linger_ms=10,
                         batch_size=512 * 1024, max_request_size=8 * 1024 * 1024, acks="all", **(security or {}))


def produce(events: Iterable[Interaction], bootstrap: str, topic: str, rate: float | None = None,
            total: int | None = None, progress: bool = True, security: Mapping[str, Any] | None = None) -> int:
    """Send events keyed by user_id, at most `rate` per second (None = as fast as possible). Returns the count."""
    producer = make_producer(bootstrap, security)
    sent = 0
    started = time.monotonic()
    try:
        for e in tqdm(events, total=total, unit="ev", disable=not progress, desc=f"→ {topic}"):
            producer.send(topic, key=e.user_id.encode(), value=event_json(e))
            sent += 1
            if rate:
                ahead = sent / rate - (time.monotonic() - started)
                if ahead > 0.005:
                    time.sleep(ahead)
        producer.flush()
    finally:
        producer.close()
    return sent
