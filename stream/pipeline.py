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

from .dedupe import RecentIds
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
    #: Cumulative seconds per stage: where a slow worker spends its time.
    seconds: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict:
        return {"consumed": self.consumed, "stored": self.stored, "duplicates": self.duplicates,
                "learned": self.learned, "feedback_stored": self.feedback_stored,
                "dead_lettered": dict(self.dead_lettered), "batches": self.batches,
                "last_batch_s": round(self.last_batch_s, 4),
                "seconds": {k: round(v, 3) for k, v in self.seconds.items()}}


class Pipeline:
    """Validate → dead-letter the bad → store the good (idempotently) → test-then-learn the new ones.

    The caller commits Kafka offsets only after `handle` returns, so a crash replays the batch. The store's
    primary key keeps rows single forever; learning skips ids seen within the last `dedupe_window` events.
    Storing (in a thread: the DB drivers release the GIL) and learning (on the loop) run at the same time,
    which measured 1.5x the throughput of storing first and learning what the store reported new.
    """

    def __init__(self, topics: Topics, parser: EventParser, store: EventStore, recommender: OnlineRecommender,
                 dead_letters: DeadLetterSink, learn_chunk: int = 200, dedupe_window: int = 1_000_000) -> None:
        self.topics = topics
        self.parser = parser
        self.store = store
        self.recommender = recommender
        self.dead_letters = dead_letters
        self.learn_chunk = learn_chunk
        self.recent = RecentIds(dedupe_window)
        self.stats = PipelineStats()

    async def handle(self, records: Sequence[RawRecord]) -> None:
        started = time.perf_counter()
        behaviour: list[Interaction] = []
        feedback: list[Feedback] = []
        rejected: list[tuple[RawRecord, Rejection]] = []
        for n, rec in enumerate(records, 1):
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
            if n % self.learn_chunk == 0:
                await asyncio.sleep(0)  # parsing a big batch must not stall waiting requests either
        parsed = time.perf_counter()
        self.stats.seconds["parse"] += parsed - started
        if rejected:
            await self.dead_letters.send_many(rejected)
            self.stats.dead_lettered.update(r.code for _, r in rejected)
        stored = asyncio.create_task(asyncio.to_thread(self.store.add_interactions, behaviour)) if behaviour else None
        stored_fb = asyncio.create_task(asyncio.to_thread(self.store.add_feedback, feedback)) if feedback else None
        learning = time.perf_counter()
        try:
            first: dict[str, Interaction] = {}
            for e in behaviour:
                first.setdefault(e.event_id, e)
            fresh = [first[i] for i in self.recent.add_new(list(first))]
            for i in range(0, len(fresh), self.learn_chunk):
                self.recommender.learn(fresh[i:i + self.learn_chunk])
                await asyncio.sleep(0)  # let waiting requests in between chunks
        finally:
            waiting = time.perf_counter()
            self.stats.seconds["learn"] += waiting - learning
            # Whatever happened above, the batch is only done (and committable) once it is stored.
            new_ids = await stored if stored else set()
            if stored_fb:
                self.stats.feedback_stored += len(await stored_fb)
            self.stats.seconds["store_wait"] += time.perf_counter() - waiting
        self.stats.consumed += len(records)
        self.stats.stored += len(new_ids)
        self.stats.duplicates += len(behaviour) - len(fresh)
        self.stats.learned += len(fresh)
        self.stats.batches += 1
        self.stats.last_batch_s = time.perf_counter() - started
