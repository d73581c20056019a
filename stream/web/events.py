"""POST /events: behaviour and feedback from a web page or an app, validated exactly as on the topics (the same
`EventParser`, the same dead-letter codes) and produced to Kafka keyed by `user_id`; a worker's ingest learns
them from there like any other event. Each event is accepted or refused with why; none is dropped silently.

Idempotent by `event_id`: the ids produced recently are remembered (RECSTREAM_HTTP_EVENTS_RECENT), so a
retried batch is not produced twice; past that window the event store still keeps one copy per id.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from recstream.stream.ingest.events import EventParser
from recstream.stream.ingest.rejections import Rejection
from recstream.stream.kafka.topics import Topics
from recstream.stream.settings import Settings
from recstream.stream.web.contract.requests import EventsBody

#: how long one batch may wait for the brokers to take it
SEND_TIMEOUT_S = 10.0


class BrokerUnavailable(RuntimeError):
    """The brokers did not take a batch; some of it may have been produced (a retry is safe: ids dedupe)."""


class RecentIds:
    """The last `size` event ids produced (the oldest forgotten first)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, event_id: str) -> bool:
        return event_id in self._ids

    def add(self, event_id: str) -> None:
        self._ids[event_id] = None
        if len(self._ids) > self.size:
            self._ids.popitem(last=False)


class EventGateway:
    def __init__(self, settings: Settings, topics: Topics,
                 make_producer: Callable[[], Any] | None = None) -> None:
        self.parser = EventParser(settings.ingest.max_event_bytes, settings.ingest.max_future_skew_s)
        self.topics = topics
        self.recent = RecentIds(settings.serving.http_events_recent)
        self._make = make_producer or (lambda: AIOKafkaProducer(
            bootstrap_servers=settings.kafka.bootstrap, client_id="recstream-http-events", acks="all",
            linger_ms=2, max_batch_size=256 * 1024, **settings.kafka.client_options()))
        self._producer: Any = None
        self._starting = asyncio.Lock()

    async def post(self, body: EventsBody) -> dict[str, Any]:
        """Validate every event; produce the valid, new ones; say what happened to each."""
        refused, send, duplicates = [], [], 0
        for topic, validate, events in (("behaviour", self.parser.behaviour, body.behaviour),
                                        ("feedback", self.parser.feedback, body.feedback)):
            for index, event in enumerate(events):
                key, value = _wire(event)
                got = validate(key, value)
                if isinstance(got, Rejection):
                    refused.append({"topic": topic, "index": index, "event_id": _id_of(event), "code": got.code,
                                    "reason": got.detail})
                elif got.event_id in self.recent:
                    duplicates += 1
                else:
                    send.append((getattr(self.topics, topic), key, value, got.event_id))
        if send:
            await self._produce(send)
        return {"accepted": len(send), "duplicates": duplicates, "refused": refused}

    async def _produce(self, send: list[tuple[str, bytes, bytes, str]]) -> None:
        producer = await self._ready()
        try:
            async with asyncio.timeout(SEND_TIMEOUT_S):
                sent = [await producer.send(topic, value, key=key) for topic, key, value, _ in send]
                await asyncio.gather(*sent)
        except (KafkaError, TimeoutError) as exc:
            raise BrokerUnavailable(f"the brokers did not take the events ({type(exc).__name__}: {exc}): "
                                    "send the batch again; events are kept once per event_id") from None
        for *_, event_id in send:
            self.recent.add(event_id)

    async def _ready(self) -> Any:
        """The producer, started at the first batch (a worker nobody posts events to opens no connection)."""
        async with self._starting:
            if self._producer is None:
                producer = self._make()
                try:
                    await producer.start()
                except KafkaError as exc:
                    await producer.stop()
                    raise BrokerUnavailable(f"no broker reachable ({exc}): send the batch again later") from None
                self._producer = producer
        return self._producer

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None


def _wire(event: dict[str, Any]) -> tuple[bytes | None, bytes]:
    """(key, value) as a producer following the contract would write them: keyed by the event's user_id."""
    user = event.get("user_id")
    key = user.encode("utf-8", "surrogatepass") if isinstance(user, str) else None  # a lone surrogate: refused below
    return key, json.dumps(event, separators=(",", ":")).encode()


def _id_of(event: dict[str, Any]) -> str | None:
    eid = event.get("event_id")
    return eid[:256] if isinstance(eid, str) else None
