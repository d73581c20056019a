"""The hot path: an aiokafka batch consumer feeding the pipeline, committing each batch once it is done.

Why not a Faust agent: on the embedded broker, iterating a Faust stream (plain, `take`, or `take_events`) peaked
at 5-6.5k events/s with no work per event, while aiokafka's `getmany` read 205k/s. The worker stays a Faust app
(lifecycle, web server, timers); only this loop bypasses Faust's per-event machinery.

Up to IN_FLIGHT (6) batches are in flight: while batch N is learned here, the next ones are validated and stored
by the helper processes or wait for them. Batches are applied and committed strictly in order.

Rebalances (a worker joining or leaving the group): before giving partitions up, the batch being learned is
finished and committed. Nothing is applied while an assignment is taken, and batches fetched around it are
dropped: every partition is then read again from where this model stopped learning it (aiokafka fetches a new
partition from the group's offset until the assignment seeks it, so such a batch may start anywhere). Each
assigned partition is read from where *this worker's model* left off (its checkpoint's offsets, or where it
stopped learning that partition before), not from the group's committed offset: events another worker learned
meanwhile are then learned here too, so the model holds every event of the users it serves. A partition its
model never learned is read from the beginning of what Kafka keeps.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import NamedTuple

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import IllegalStateError, KafkaError
from aiokafka.structs import OffsetAndMetadata

from recstream.models.data.keys import user_partition
from recstream.models.online.checkpoint import offset_key
from recstream.stream.ingest.pipeline import Pipeline
from recstream.stream.ingest.prepare import Prepared
from recstream.stream.ingest.records import Record
from recstream.stream.kafka.topics import Topics
from recstream.stream.settings import IngestSettings, KafkaSettings

log = logging.getLogger(__name__)

#: Batches between fetch and commit: one being learned, the others being prepared or queued for the helper
#: processes, which idled whenever they finished before the learner (bench/ingest.py: 31k events/s with two in
#: flight, 36k with three; then 45k -> 50k with four, once both sides had got faster; with two helpers and
#: compiled learning, six gave ~5% more than four, back to back: 48-52k vs 47-49k).
IN_FLIGHT = 6
#: Longest wait before a failed batch is read again: an outage (database, broker) is noticed within this once over.
MAX_BACKOFF_S = 5.0


def make_consumer(kafka: KafkaSettings, ingest: IngestSettings) -> AIOKafkaConsumer:
    """The worker's consumer; IngestLoop subscribes it (with its rebalance listener)."""
    session_ms = int(kafka.session_timeout_s * 1000)
    return AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap, group_id=kafka.group_id, client_id="recstream-worker",
        **kafka.client_options(),
        enable_auto_commit=False, auto_offset_reset="earliest",
        # Heartbeats are how the other members hear of a rebalance (a worker leaving or joining): every second
        # at most, so they stop within about a second instead of a third of the session timeout.
        session_timeout_ms=session_ms, heartbeat_interval_ms=max(min(session_ms // 3, 1000), 100),
        max_poll_records=ingest.batch_max, max_partition_fetch_bytes=4 * 1024 * 1024,
        # The broker may hold a fetch this long waiting for data (default 500 ms): it bounds freshness.
        fetch_max_wait_ms=min(int(ingest.batch_within_s * 1000), 500),
        fetch_max_bytes=32 * 1024 * 1024,
    )


class Batch(NamedTuple):
    records: list[Record]
    #: next offset to read per partition once this batch is done
    offsets: dict[TopicPartition, OffsetAndMetadata]
    prepared: asyncio.Future[Prepared]
    #: the assignment it was fetched under: a batch from before a rebalance is dropped, not applied
    generation: int


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, loop: IngestLoop) -> None:
        self.loop = loop

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self.loop.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        await self.loop.on_assigned(assigned)


class IngestLoop:
    """Consume → prepare → apply → commit, forever. A failed batch is re-read after a back-off (with anything
    fetched after it), from where the model stopped learning."""

    def __init__(self, consumer: AIOKafkaConsumer, pipeline: Pipeline, kafka: KafkaSettings, ingest: IngestSettings,
                 topics: Topics,
                 choose_start: Callable[[dict[str, int | None]], Awaitable[dict[str, int]]] | None = None,
                 after_commit: Callable[[dict[str, int]], Awaitable[None]] | None = None,
                 on_assignment: Callable[[list[int], int], Awaitable[None]] | None = None) -> None:
        self.consumer = consumer
        self.pipeline = pipeline
        self.kafka, self.ingest = kafka, ingest
        self.topics = topics
        self.failures = 0
        self.rebalances = 0
        #: records found on another partition than Kafka's default partitioner would put their key on
        self.misrouted = 0
        #: whether the broker answered the last probe_broker (None: not probed yet), and how many did not
        self.broker_up: bool | None = None
        self.broker_errors = 0
        #: next offset per partition of everything this worker's model learned ("topic:partition" -> offset):
        #: what a checkpoint records, and where a partition assigned to this worker is read from. It starts at
        #: the restored checkpoint's offsets and keeps partitions that a rebalance took away.
        self.learned_offsets: dict[str, int] = {}
        #: at the first assignment: restores a checkpoint for the assigned partitions, returns its offsets
        self.choose_start = choose_start
        self.after_commit = after_commit
        #: called with (behaviour partitions now assigned, partitions the behaviour topic has) after a rebalance
        self.on_assignment = on_assignment
        #: per partition, the offset below which every record's dead letter is sent, as far as this worker
        #: knows: the group's committed offset at assignment, then each batch it applied. Records read again
        #: below it (replayed to learn what another worker learned, or re-read after a failed commit) are
        #: learned, not dead-lettered a second time.
        self._handled: dict[TopicPartition, int] = {}
        #: next offset to read per partition, as of the last fetch (for the consumer-lag metric)
        self._next: dict[TopicPartition, int] = {}
        #: offsets handled (stored, dead-lettered, learned) whose commit failed: sent again with the next one
        self._uncommitted: dict[TopicPartition, OffsetAndMetadata] = {}
        self._generation = 0
        #: held while a batch is applied and committed: a revocation waits for it
        self._applying = asyncio.Lock()
        #: cleared while an assignment is being taken (a checkpoint restored, partitions sought): no batch is
        #: applied then, since the model may be swapped and what is fetched meanwhile comes from other offsets
        self._settled = asyncio.Event()
        self._settled.set()
        consumer.subscribe([topics.behaviour, topics.feedback, topics.items], listener=_Rebalance(self))

    async def probe_broker(self, timeout_s: float) -> bool:
        """Ask the brokers for the end offsets of this worker's partitions (the whole cluster's metadata
        before it has any). The fetch loop cannot tell an unreachable broker from an idle topic (getmany
        returns nothing either way; the client reconnects by itself), so a probe says which."""
        assigned = list(self.consumer.assignment())
        probe = self.consumer.end_offsets(assigned) if assigned else self.consumer.topics()
        try:
            await asyncio.wait_for(probe, timeout_s)
        except (TimeoutError, KafkaError, OSError) as exc:
            if self.broker_up is not False:
                log.warning("the Kafka broker at %s does not answer (%s); the worker keeps serving and "
                            "reconnects by itself", self.kafka.bootstrap, str(exc) or type(exc).__name__)
            self.broker_up = False
            self.broker_errors += 1
            return False
        if self.broker_up is False:
            log.info("the Kafka broker at %s answers again", self.kafka.bootstrap)
        self.broker_up = True
        return True

    async def on_revoked(self, revoked: list[TopicPartition]) -> None:
        """Finish (and commit) the batch being learned; drop the ones fetched after it."""
        async with self._applying:
            self._generation += 1
        self.pipeline.stats.lag.clear()
        self._next.clear()

    async def on_assigned(self, assigned: list[TopicPartition]) -> None:
        """Seek each assigned partition to where this model stopped learning it (restoring a checkpoint first,
        at the first assignment). aiokafka fetches the new partitions from the group's offsets while this
        runs: nothing is applied meanwhile, and what was fetched before the seeks is dropped."""
        self._settled.clear()
        try:
            await self._assign(assigned)
        finally:
            self._generation += 1
            self._settled.set()

    async def _assign(self, assigned: list[TopicPartition]) -> None:
        self.rebalances += 1
        # a revoked partition's new owner commits what it handles; one still ours is committed from here
        mine = set(assigned)
        self._uncommitted = {tp: m for tp, m in self._uncommitted.items() if tp in mine}
        group = {tp: await self.consumer.committed(tp) for tp in assigned}
        if self.choose_start is not None:  # the first assignment: resume from the best checkpoint for it
            choose, self.choose_start = self.choose_start, None
            self.learned_offsets = dict(await choose({offset_key(tp.topic, tp.partition): c for tp, c in group.items()}))
        again: dict[str, int] = {}
        # A partition this model never learned: build its users' state from the start of what Kafka keeps.
        # (beginning_offsets + seek, not seek_to_beginning: that one waits for the fetcher, which waits for
        # this callback.)
        unseen = [tp for tp in assigned if offset_key(tp.topic, tp.partition) not in self.learned_offsets]
        start = await self.consumer.beginning_offsets(unseen) if unseen else {}
        for tp in assigned:
            self._handled[tp] = max(group[tp] or 0, self._handled.get(tp, 0))
            key = offset_key(tp.topic, tp.partition)
            learned = self.learned_offsets.get(key, start.get(tp))
            if learned is not None:
                self.consumer.seek(tp, learned)
            learned = learned or 0
            if (group[tp] or 0) > learned:
                again[key] = (group[tp] or 0) - learned
        behaviour = sorted(tp.partition for tp in assigned if tp.topic == self.topics.behaviour)
        log.info("assigned behaviour partitions %s of %s%s", behaviour, self.topics.behaviour,
                 f"; learning again what was committed after this model's offsets: {again}" if again else "")
        if self.on_assignment is not None:
            n = len(self.consumer.partitions_for_topic(self.topics.behaviour) or ()) or self.kafka.topic_partitions
            await self.on_assignment(behaviour, n)

    def _update_lag(self) -> None:
        """Lag per partition = its end (as of the last fetch response) minus the next offset we will read."""
        lag = self.pipeline.stats.lag
        for tp, nxt in self._next.items():
            end = self.consumer.highwater(tp)
            if end is not None:
                lag[(tp.topic, tp.partition)] = max(end - nxt, 0)

    async def _fetch(self, wait: bool) -> Batch | None:
        t0 = time.perf_counter()
        timeout_ms = int(self.ingest.batch_within_s * 1000) if wait else 0
        before = self._generation
        fetched = await self.consumer.getmany(timeout_ms=timeout_ms, max_records=self.ingest.batch_max)
        # An assignment taken while getmany waited: what it returns may come from before or after the seeks,
        # so it is dropped and every partition read again from where the model stopped (see run).
        generation = self._generation if before == self._generation else -1
        self.pipeline.stats.seconds["fetch"] += time.perf_counter() - t0
        if not fetched:
            self._update_lag()
            if self._uncommitted:  # idle after a failed commit: the group's offset catches up now
                await self._retry_commit()
            if self.after_commit is not None:  # idle: the last batches' state gets its checkpoint too
                await self.after_commit(self.learned_offsets)
            return None
        records: list[Record] = [m for msgs in fetched.values() for m in msgs]  # aiokafka's records, as they are
        offsets = {tp: OffsetAndMetadata(msgs[-1].offset + 1, "") for tp, msgs in fetched.items()}
        self._next.update({tp: meta.offset for tp, meta in offsets.items()})
        self._update_lag()
        self._check_keys(fetched)
        return Batch(records, offsets, asyncio.ensure_future(self.pipeline.prepare(records)), generation)

    async def _retry_commit(self) -> None:
        try:
            async with self._applying:
                await self._commit({})
        except KafkaError as exc:
            log.debug("commit failed again (%s); retrying when idle or with the next batch", exc)

    def _check_keys(self, fetched: dict) -> None:
        """One record per fetched partition: is its key where Kafka's default partitioner puts it? Requests are
        routed to workers by that rule (stream/worker/routing.py), so a producer using another one is worth a warning."""
        for tp, msgs in fetched.items():
            if tp.topic != self.topics.behaviour or not msgs or not msgs[0].key:
                continue
            n = len(self.consumer.partitions_for_topic(tp.topic) or ())
            if n and user_partition(msgs[0].key, n) != tp.partition:
                if not self.misrouted:
                    log.warning("events keyed %r arrive on partition %d, but Kafka's default partitioner puts that "
                                "key on %d: requests for such users may reach a worker without their state; produce "
                                "keyed by user_id with the default (murmur2) partitioner", msgs[0].key[:64],
                                tp.partition, user_partition(msgs[0].key, n))
                self.misrouted += 1

    def _not_yet_dead_lettered(self, batch: Batch, prepared: Prepared) -> Prepared:
        """Leave out the refused records whose dead letters were already sent (see `_handled`)."""
        def new(record: Record) -> bool:
            return record.offset >= self._handled.get(TopicPartition(record.topic, record.partition), 0)

        keep = [(i, why) for i, why in prepared.rejected if new(batch.records[i])]
        if len(keep) == len(prepared.rejected):
            return prepared
        return dataclasses.replace(prepared, rejected=keep)

    async def run(self) -> None:
        backoff = 0.5
        in_flight: deque[Batch] = deque()
        while True:
            if len(in_flight) < IN_FLIGHT:
                batch = await self._fetch(wait=not in_flight)
                if batch is not None:
                    in_flight.append(batch)
                    if len(in_flight) < IN_FLIGHT and not in_flight[0].prepared.done():
                        continue  # fetch one more to prepare while the first is being prepared
            if not in_flight:
                continue
            head = in_flight.popleft()
            await asyncio.gather(head.prepared, return_exceptions=True)  # a failure is raised below
            await self._settled.wait()
            if head.generation != self._generation:  # fetched around a rebalance: read it all again
                await self._drop(in_flight)
                await self._read_again()
                continue
            try:
                async with self._applying:
                    if head.generation != self._generation:  # a revocation came first: the loop reads again
                        in_flight.appendleft(head)
                        continue
                    prepared = self._not_yet_dead_lettered(head, head.prepared.result())
                    await self.pipeline.apply(head.records, prepared)
                    # The model holds these now, committed or not: a failure from here on must not read them
                    # again (nor skip what it has not learned: see _read_again).
                    self.learned_offsets.update({offset_key(tp.topic, tp.partition): m.offset
                                                 for tp, m in head.offsets.items()})
                    await self._commit(head.offsets)
                if self.after_commit is not None:
                    await self.after_commit(self.learned_offsets)
                backoff = 0.5
            except (asyncio.CancelledError, KeyboardInterrupt):
                raise
            except Exception as exc:  # a bad batch must never kill the worker
                self.failures += 1
                log.error("batch of %d records failed, reading again from what the model learned in %.1f s: %s",
                          len(head.records), backoff, exc, exc_info=not isinstance(exc, KafkaError))
                await self._drop(in_flight)  # fetched after the failed batch: it will be read again
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                await self._read_again()

    @staticmethod
    async def _drop(in_flight: deque[Batch]) -> None:
        """Forget the batches in flight (their preparation finished first: it stores, and must not be cut off)."""
        for batch in in_flight:
            await asyncio.gather(batch.prepared, return_exceptions=True)
        in_flight.clear()

    async def _commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        """Commit what was handled past the group's offset, with anything a failed commit left behind. A batch
        replayed only to learn (below the committed offset) commits nothing: that would move the group back."""
        due = {tp: m for tp, m in offsets.items() if m.offset > self._handled.get(tp, 0)}
        for tp, meta in offsets.items():
            self._handled[tp] = max(self._handled.get(tp, 0), meta.offset)
        self._uncommitted.update(due)
        if not self._uncommitted:
            return
        t1 = time.perf_counter()
        await self.consumer.commit(dict(self._uncommitted))
        self._uncommitted.clear()
        self.pipeline.stats.seconds["commit"] += time.perf_counter() - t1

    async def _read_again(self) -> None:
        """After a failed batch, or one fetched around a rebalance: read each partition again from where this
        model stopped learning it. Not from the group's committed offset: while a worker catches up on events
        another one committed (after a restart or a rebalance), that offset is ahead of its model, and seeking
        there skipped the rest of the catch-up (bench/soak.py: 353 of 2,789 events never learned after a
        kill -9 and a database outage)."""
        for tp in self.consumer.assignment():
            learned = self.learned_offsets.get(offset_key(tp.topic, tp.partition))
            try:
                if learned is None:  # this model has learned nothing of it: from the beginning of what Kafka keeps
                    await self.consumer.seek_to_beginning(tp)
                else:
                    self.consumer.seek(tp, learned)
            except IllegalStateError:  # a rebalance took it meanwhile: its assignment seeks it (or its owner)
                continue
