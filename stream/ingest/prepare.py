"""The first half of a batch: validate every message and store the valid ones. CPU-bound, no model state.

It runs in helper processes by default (`PreparerProcess`, two), so batches are validated and stored on other
cores while the previous batch is learned: Python threads could not overlap them (the GIL), measured
0.25-0.30x of River's bare learn_one loop for the whole worker when both shared one process.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from recstream.models.catalogue.items import ItemRecord
from recstream.models.data.interaction import Feedback, Interaction, InteractionColumns
from recstream.models.store.db import create_db_engine
from recstream.models.store.events import EventStore
from recstream.stream.ingest.events import EventParser
from recstream.stream.ingest.item_events import parse_item
from recstream.stream.ingest.records import Record
from recstream.stream.ingest.rejections import Rejection
from recstream.stream.ingest.runtime import tune_for_throughput
from recstream.stream.kafka.topics import Topics
from recstream.stream.settings import IngestSettings


@dataclass(slots=True)
class Prepared:
    """What validation and storage made of one batch."""

    #: the valid behaviour events, in batch order (columns: see InteractionColumns)
    behaviour: InteractionColumns
    #: (index into the batch, why) for every refused message
    rejected: list[tuple[int, Rejection]]
    stored: int
    feedback_stored: int
    parse_s: float
    store_s: float
    #: the valid feedback events, in batch order (the learner learns them after the batch's behaviour)
    feedback: list[Feedback] = field(default_factory=list)
    #: the valid catalogue updates, in batch order: stored by the pipeline, in order (two helpers may store
    #: neighbouring batches in either order, which only events can afford)
    items: list[ItemRecord] = field(default_factory=list)


class Preparer:
    """Validates a batch and stores what is valid. Idempotent: storing a batch twice adds no rows."""

    def __init__(self, topics: Topics, parser: EventParser, store: EventStore) -> None:
        self.topics = topics
        self.parser = parser
        self.store = store

    def __call__(self, records: Sequence[Record]) -> Prepared:
        return self.columns(*columns(records))

    def columns(self, topics: Sequence[str], keys: Sequence[bytes | None],
                values: Sequence[bytes | None]) -> Prepared:
        """The batch as three columns (what crosses to the helper process: lists of bytes pickle ~10x faster
        than record objects)."""
        started = time.perf_counter()
        behaviour: list[Interaction] = []
        feedback: list[Feedback] = []
        rejected: list[tuple[int, Rejection]] = []
        items: list[ItemRecord] = []
        feedback_topic, items_topic, parser = self.topics.feedback, self.topics.items, self.parser
        for i, (topic, key, value) in enumerate(zip(topics, keys, values)):
            if topic == items_topic:
                item = parse_item(key, value, parser.max_bytes)
                if isinstance(item, Rejection):
                    rejected.append((i, item))
                else:
                    items.append(item)
            elif topic == feedback_topic:
                fb = parser.feedback(key, value)
                if isinstance(fb, Rejection):
                    rejected.append((i, fb))
                else:
                    feedback.append(fb.to_feedback())
            else:
                ev = parser.interaction(key, value)
                if isinstance(ev, Rejection):
                    rejected.append((i, ev))
                else:
                    behaviour.append(ev)
        parsed = time.perf_counter()
        stored = len(self.store.add_interactions(behaviour)) if behaviour else 0
        feedback_stored = len(self.store.add_feedback(feedback)) if feedback else 0
        return Prepared(InteractionColumns.of(behaviour), rejected, stored, feedback_stored, parsed - started,
                        time.perf_counter() - parsed, feedback, items)

    async def start(self) -> None:
        """Nothing to start: it runs in the worker's own process."""

    async def prepare(self, records: Sequence[Record]) -> Prepared:
        # In a thread: the DB drivers release the GIL while they work, so HTTP requests still get through.
        return await asyncio.to_thread(self, records)

    def close(self) -> None:
        self.store.engine.dispose()

    @classmethod
    def create(cls, database_url: str, topics: Topics, ingest: IngestSettings) -> Preparer:
        return cls(topics, EventParser(ingest.max_event_bytes, ingest.max_future_skew_s),
                   EventStore(create_db_engine(database_url)))


def columns(records: Sequence[Record]) -> tuple[list[str], list[bytes | None], list[bytes | None]]:
    """(topics, keys, values) of `records`."""
    return [r.topic for r in records], [r.key for r in records], [r.value for r in records]


# ---- the helper process ----------------------------------------------------------------------------------
_child: Preparer | None = None


def _exit_with_parent(parent: int) -> None:
    # A worker killed with SIGKILL cannot stop its pool: without this, the helper lives on as an orphan.
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def _init_child(database_url: str, topics: tuple[str, ...], ingest: dict, parent: int) -> None:
    global _child
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True, name="parent-watch").start()
    tune_for_throughput()
    _child = Preparer.create(database_url, Topics(*topics), IngestSettings(**ingest))


def _prepare_in_child(topics: list[str], keys: list[bytes | None], values: list[bytes | None]) -> Prepared:
    assert _child is not None, "helper process was not initialised"
    return _child.columns(topics, keys, values)


class PreparerProcess:
    """Runs a `Preparer` in `ingest.prepare_processes` spawned helper processes, batches handed out in turn
    (spawn: forking a process with running threads and an event loop is unsafe). Results are used in batch order
    by the ingest loop whichever helper finishes first; the store is idempotent and row order does not matter,
    so two helpers may store neighbouring batches in either order."""

    def __init__(self, database_url: str, topics: Topics, ingest: IngestSettings) -> None:
        context = multiprocessing.get_context("spawn")
        self._pools = [ProcessPoolExecutor(max_workers=1, mp_context=context, initializer=_init_child,
                                           initargs=(database_url, tuple(topics), ingest.model_dump(), os.getpid()))
                       for _ in range(ingest.prepare_processes)]
        self._turn = 0

    async def start(self) -> None:
        """Start every helper now (each imports the stack: ~1-2 s of CPU) rather than on the first batches."""
        loop = asyncio.get_running_loop()
        await asyncio.gather(*[loop.run_in_executor(pool, _prepare_in_child, [], [], []) for pool in self._pools])

    async def prepare(self, records: Sequence[Record]) -> Prepared:
        pool = self._pools[self._turn]
        self._turn = (self._turn + 1) % len(self._pools)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(pool, _prepare_in_child, *columns(records))

    def close(self) -> None:
        for pool in self._pools:
            pool.shutdown(wait=True, cancel_futures=True)
