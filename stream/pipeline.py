"""One batch of raw messages → dead letters, stored rows, learned events. Kafka-free, so it tests with fakes."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from recstream.models.interaction import Feedback, Interaction
from recstream.models.online import OnlineRecommender
from recstream.models.store import EventStore

from .events import BehaviourEvent, EventParser, Rejection
from .topics import Topics

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RawRecord:
    """A consumed Kafka message, as the pipeline needs it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class DeadLetterSink(Protocol):
    async def send_many(self, items: Sequence[tuple[RawRecord, Rejection]]) -> None:
        """Publish every rejected record with its reason; return once all are acknowledged."""


@dataclass
class PipelineStats:
    consumed: int = 0
    stored: int = 0
    duplicates: int = 0
    learned: int = 0
    feedback_stored: int = 0
    dead_lettered: Counter[str] = field(default_factory=Counter)
    batches: int = 0
    last_batch_s: float = 0.0

    def as_dict(self) -> dict:
        return {"consumed": self.consumed, "stored": self.stored, "duplicates": self.duplicates,
                "learned": self.learned, "feedback_stored": self.feedback_stored,
                "dead_lettered": dict(self.dead_lettered), "batches": self.batches,
                "last_batch_s": round(self.last_batch_s, 4)}


class Pipeline:
    """Validate → dead-letter the bad → store the good (idempotently) → test-then-learn the new ones.

    The caller commits Kafka offsets only after `handle` returns, so a crash replays the batch; the store's
    idempotence then keeps rows single and stops redelivered events from being learned twice.
    """

    def __init__(self, topics: Topics, parser: EventParser, store: EventStore, recommender: OnlineRecommender,
                 dead_letters: DeadLetterSink, learn_chunk: int = 200) -> None:
        self.topics = topics
        self.parser = parser
        self.store = store
        self.recommender = recommender
        self.dead_letters = dead_letters
        self.learn_chunk = learn_chunk
        self.stats = PipelineStats()

    async def handle(self, records: Sequence[RawRecord]) -> None:
        started = time.perf_counter()
        behaviour: list[Interaction] = []
        feedback: list[Feedback] = []
        rejected: list[tuple[RawRecord, Rejection]] = []
        for rec in records:
            if rec.topic == self.topics.feedback:
                fb = self.parser.feedback(rec.key, rec.value)
                if isinstance(fb, Rejection):
                    rejected.append((rec, fb))
                else:
                    feedback.append(fb.to_feedback())
            else:
                ev = self.parser.behaviour(rec.key, rec.value)
                if isinstance(ev, BehaviourEvent):
                    behaviour.append(ev.to_interaction())
                else:
                    rejected.append((rec, ev))
        if rejected:
            await self.dead_letters.send_many(rejected)
            self.stats.dead_lettered.update(r.code for _, r in rejected)
        # SQLite and psycopg release the GIL while they work: store off the event loop so HTTP stays responsive.
        new_ids = await asyncio.to_thread(self.store.add_interactions, behaviour) if behaviour else set()
        if feedback:
            self.stats.feedback_stored += len(await asyncio.to_thread(self.store.add_feedback, feedback))
        # Learn each event once: skip rows an earlier delivery stored, and all but the first of in-batch repeats.
        fresh: list[Interaction] = []
        pending = set(new_ids)
        for e in behaviour:
            if e.event_id in pending:
                pending.discard(e.event_id)
                fresh.append(e)
        for i in range(0, len(fresh), self.learn_chunk):
            self.recommender.learn(fresh[i:i + self.learn_chunk])
            await asyncio.sleep(0)  # let waiting requests in between chunks
        self.stats.consumed += len(records)
        self.stats.stored += len(new_ids)
        self.stats.duplicates += len(behaviour) - len(fresh)
        self.stats.learned += len(fresh)
        self.stats.batches += 1
        self.stats.last_batch_s = time.perf_counter() - started
