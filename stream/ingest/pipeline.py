"""One batch of raw messages → dead letters, stored rows, learned events. Kafka-free, so it tests with fakes.

Two halves: `prepare` (validate + store; in a helper process in the worker, see prepare.py) and `apply`
(dead-letter + test-then-learn; where the model lives). The ingest loop overlaps them across batches.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from recstream.models.catalogue.items import ItemRecord
from recstream.models.data.interaction import Feedback, InteractionColumns
from recstream.models.online.recommender import OnlineRecommender
from recstream.stream.ingest.dedupe import RecentIds
from recstream.stream.ingest.prepare import Prepared
from recstream.stream.ingest.records import RawRecord, Record
from recstream.stream.ingest.rejections import Rejection

__all__ = ["DeadLetterSink", "Pipeline", "PipelineStats", "RawRecord"]

#: Loop turns given away after each chunk while requests arrive. A request needs about three before it is
#: answered (bytes read, its handler task started, the answer written); with one, each of those turns came after
#: another chunk, so a request waited ~3 chunks instead of at most one (freshness.py under load, this 2-core
#: machine: p99 7.3-8.6 ms with one, 5.7-6.1 with three). An idle turn costs ~20 us.
SERVING_YIELDS = 3


class DeadLetterSink(Protocol):
    async def send_many(self, items: Sequence[tuple[Record, Rejection]]) -> None:
        """Publish every rejected record with its reason; return once all are acknowledged."""


class BatchPreparer(Protocol):
    async def start(self) -> None: ...

    async def prepare(self, records: Sequence[Record]) -> Prepared: ...

    def close(self) -> None: ...


@dataclass
class PipelineStats:
    consumed: int = 0
    stored: int = 0
    duplicates: int = 0
    learned: int = 0
    feedback_stored: int = 0
    items_stored: int = 0
    dead_lettered: Counter[str] = field(default_factory=Counter)
    batches: int = 0
    #: Cumulative seconds per stage: where a slow worker spends its time.
    seconds: Counter[str] = field(default_factory=Counter)
    #: (topic, partition) -> records between the last fetched one and the partition's end (consumer lag)
    lag: dict[tuple[str, int], int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"consumed": self.consumed, "stored": self.stored, "duplicates": self.duplicates,
                "learned": self.learned, "feedback_stored": self.feedback_stored, "items_stored": self.items_stored,
                "dead_lettered": dict(self.dead_lettered), "batches": self.batches,
                "seconds": {k: round(v, 3) for k, v in self.seconds.items()}}


class Pipeline:
    """Validate → store (idempotently) → dead-letter the bad → test-then-learn the new.

    The caller commits Kafka offsets only after `apply` returns, so a crash replays the batch. The store's
    primary key keeps rows single forever; learning skips ids seen within the last `dedupe_window` events.
    """

    def __init__(self, preparer: BatchPreparer, recommender: OnlineRecommender, dead_letters: DeadLetterSink,
                 learn_chunk: int = 200, dedupe_window: int = 1_000_000, serving_chunk: int | None = None,
                 observe: Callable[[float], None] | None = None,
                 before_learn: Callable[[InteractionColumns], Iterable[object] | None] | None = None,
                 learn_feedback: bool = True,
                 store_items: Callable[[list[ItemRecord]], int] | None = None,
                 readmit: Callable[[OnlineRecommender, Sequence[str]], Awaitable[int]] | None = None) -> None:
        self.preparer = preparer
        self.recommender = recommender
        self.dead_letters = dead_letters
        self.learn_chunk = learn_chunk
        #: the chunk while requests arrive (see `serving`): each one waits for at most one chunk being learned
        self.serving_chunk = serving_chunk or learn_chunk
        self._serving_until = 0.0
        self.recent = RecentIds(dedupe_window)
        self.stats = PipelineStats()
        #: called with each batch's dead-letter + learn seconds (the worker's latency histogram)
        self.observe = observe
        #: called with each chunk before it is learned (the worker's judge of what it serves): the steps it
        #: returns, if any, are taken one at a time with requests let in between
        self.before_learn = before_learn
        #: reactions to served lists are learned (clicks as positives, ignored impressions as negatives)
        self.learn_feedback = learn_feedback
        #: stores a batch's catalogue updates, in order (every worker's catalogue feed applies them to serving)
        self.store_items = store_items
        #: brings evicted users of a batch back into memory before it is learned (stream/worker/eviction.py)
        self.readmit = readmit
        self._applying = False
        self._pending_swap: Callable[[], None] | None = None

    def serving(self, for_s: float = 1.0) -> None:
        """A request arrived: learn in the smaller serving chunks for the next `for_s` seconds."""
        self._serving_until = time.monotonic() + for_s

    def between_batches(self, swap: Callable[[], None]) -> None:
        """Run `swap` (e.g. restoring a learner checkpoint) now if no batch is being learned, else right after
        the current one: a batch is never learned half by one model and half by another."""
        if self._applying:
            self._pending_swap = swap
        else:
            swap()

    def _run_pending(self) -> None:
        swap, self._pending_swap = self._pending_swap, None
        if swap is not None:
            swap()

    def _unseen(self, keys: Sequence[Hashable]) -> list[int] | None:
        """Positions of the keys not learned before, each at its first place in the batch (redelivered or
        repeated ids are learned once); None when every key is new, the usual batch, so nothing is copied."""
        new = self.recent.add_new(keys)
        if len(new) == len(keys):
            return None
        first: dict[Hashable, int] = {}
        for k, key in enumerate(keys):
            first.setdefault(key, k)
        return [first[key] for key in new]

    def _new_feedback(self, feedback: list[Feedback]) -> list[Feedback]:
        """Feedback not learned before: a redelivered or re-sent one would count a click twice. Its ids share the
        checkpointed memory with behaviour ids as ("feedback", id): the two topics may reuse each other's ids."""
        keep = self._unseen([("feedback", fb.event_id) for fb in feedback])
        return feedback if keep is None else [feedback[k] for k in keep]

    async def prepare(self, records: Sequence[Record]) -> Prepared:
        return await self.preparer.prepare(records)

    async def apply(self, records: Sequence[Record], prepared: Prepared) -> None:
        self._applying = True
        try:
            await self._apply(records, prepared)
        finally:
            self._applying = False
            self._run_pending()

    async def _apply(self, records: Sequence[Record], prepared: Prepared) -> None:
        started = time.perf_counter()
        if prepared.rejected:
            await self.dead_letters.send_many([(records[i], why) for i, why in prepared.rejected])
        if prepared.items and self.store_items is not None:
            self.stats.items_stored += await asyncio.to_thread(self.store_items, prepared.items)
        sent = time.perf_counter()
        behaviour = prepared.behaviour
        keep = self._unseen(behaviour.event_ids)
        fresh = behaviour if keep is None else behaviour.take(keep)
        if self.readmit is not None:
            users = list(fresh.user_ids) + [fb.user_id for fb in prepared.feedback]
            await self.readmit(self.recommender, users)
        if len(fresh) and self.learn_feedback and self.recommender.feedback.taught:  # clicks feedback taught
            fresh = fresh.take(self.recommender.feedback.drop_repeats(fresh.user_ids, fresh.item_ids))
        i = 0
        while i < len(fresh):
            serving = time.monotonic() < self._serving_until
            size = self.serving_chunk if serving else self.learn_chunk
            chunk, i = fresh[i:i + size], i + size
            if self.before_learn is not None:
                for _ in self.before_learn(chunk) or ():  # a step per judged event, each a wait for a request
                    await _give_way(serving)
            self.recommender.learn(chunk)
            await _give_way(serving)
        if self.learn_feedback and prepared.feedback:
            self.recommender.learn_feedback(self._new_feedback(prepared.feedback))
        s = self.stats
        s.dead_lettered.update(why.code for _, why in prepared.rejected)
        s.consumed += len(records)
        s.stored += prepared.stored
        s.feedback_stored += prepared.feedback_stored
        s.duplicates += len(behaviour) - len(fresh)
        s.learned += len(fresh)
        s.batches += 1
        s.seconds["parse"] += prepared.parse_s
        s.seconds["store"] += prepared.store_s
        s.seconds["dead_letter"] += sent - started
        done = time.perf_counter()
        s.seconds["learn"] += done - sent
        if self.observe is not None:
            self.observe(done - started)

    async def handle(self, records: Sequence[Record]) -> None:
        """Both halves, one after the other (tests; the ingest loop overlaps them across batches)."""
        await self.apply(records, await self.prepare(records))


async def _give_way(serving: bool) -> None:
    """Let waiting requests in between chunks: one loop turn, or SERVING_YIELDS while requests arrive."""
    for _ in range(SERVING_YIELDS if serving else 1):
        await asyncio.sleep(0)
