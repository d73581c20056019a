"""The ingest loop with fake consumers (unit tests; the integration tests run it on the real broker).

- When producers outrun a worker, what it holds stays bounded: the loop fetches only while fewer than
  IN_FLIGHT batches (of at most RECSTREAM_BATCH_MAX records) await learning, and commits each one after it is
  learned; the rest of the backlog stays in Kafka. (aiokafka's own read-ahead is bounded by fetch_max_bytes.)
- Records read again (after a failed commit, or replayed for learning after a rebalance) are not dead-lettered
  a second time.
- After a failed batch, a partition is read again from where the model stopped learning it: every record is
  learned once, even when the failure hits while the worker catches up on what another one committed."""

import asyncio
from collections import namedtuple

from aiokafka import TopicPartition
from aiokafka.errors import CommitFailedError

from recstream.models.data.interaction import InteractionColumns
from recstream.stream.ingest.loop import IN_FLIGHT, IngestLoop
from recstream.stream.ingest.pipeline import Pipeline, PipelineStats
from recstream.stream.ingest.prepare import Prepared
from recstream.stream.ingest.rejections import Rejection
from recstream.stream.kafka.topics import Topics
from recstream.stream.settings import Settings

Message = namedtuple("Message", "topic partition offset key value")


class Backlog:
    """One partition of `n` junk records (endless when n is None, like a topic a fast producer keeps filling);
    the group's committed offset and commit failures are set by the test."""

    def __init__(self, topic: str, n: int | None = None, group_committed: int | None = None,
                 failing_commits: int = 0) -> None:
        self.tp = TopicPartition(topic, 0)
        self.n = n
        self.position = 0
        self.handed_out = 0
        self.group_committed = group_committed
        self.failing_commits = failing_commits
        self.commits: list[int] = []

    def subscribe(self, topics, listener) -> None:
        pass

    async def getmany(self, timeout_ms: int, max_records: int) -> dict:
        stop = self.position + max_records if self.n is None else min(self.position + max_records, self.n)
        batch = [Message(self.tp.topic, 0, o, b"u1", b"not json") for o in range(self.position, stop)]
        if not batch:
            await asyncio.sleep(timeout_ms / 1000)
            return {}
        self.position = stop
        self.handed_out += len(batch)
        return {self.tp: batch}

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.position = offset

    async def seek_to_beginning(self, tp: TopicPartition) -> None:
        self.position = 0

    def assignment(self) -> set[TopicPartition]:
        return {self.tp}

    async def committed(self, tp: TopicPartition) -> int | None:
        return self.group_committed

    async def beginning_offsets(self, tps: list[TopicPartition]) -> dict:
        return {tp: 0 for tp in tps}

    async def commit(self, offsets: dict) -> None:
        self.commits.append(offsets[self.tp].offset)
        if self.failing_commits:
            self.failing_commits -= 1
            raise CommitFailedError("the group rebalanced")
        self.group_committed = offsets[self.tp].offset

    def highwater(self, tp: TopicPartition) -> int:
        return self.position + 10_000_000 if self.n is None else self.n

    def partitions_for_topic(self, topic: str) -> set[int]:
        return {0}


class SlowPipeline:
    def __init__(self, consumer: Backlog) -> None:
        self.stats = PipelineStats()
        self.consumer = consumer
        self.most_held = 0

    async def prepare(self, records) -> Prepared:
        await asyncio.sleep(0.001)
        return Prepared(behaviour=InteractionColumns.of(()), rejected=[], stored=0, feedback_stored=0, parse_s=0.0, store_s=0.0)

    async def apply(self, records, prepared) -> None:
        # Records handed out by the consumer and not yet committed are what the worker holds.
        held = self.consumer.handed_out - (self.consumer.group_committed or 0)
        self.most_held = max(self.most_held, held)
        await asyncio.sleep(0.01)
        self.stats.learned += len(records)


def test_a_backlog_far_larger_than_the_worker_is_read_a_bounded_number_of_batches_at_a_time():
    settings = Settings.build(batch_max=500, batch_within_s=0.05)
    topics = Topics.of(settings.kafka)
    consumer = Backlog(topics.behaviour)
    pipeline = SlowPipeline(consumer)
    loop = IngestLoop(consumer, pipeline, settings.kafka, settings.ingest, topics)  # type: ignore[arg-type]

    async def run_a_while() -> None:
        task = asyncio.create_task(loop.run())
        await asyncio.sleep(1.0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(run_a_while())
    assert pipeline.stats.learned >= 20 * settings.ingest.batch_max  # it kept going through the backlog
    assert pipeline.most_held <= IN_FLIGHT * settings.ingest.batch_max  # and never held more than IN_FLIGHT batches
    assert consumer.handed_out - (consumer.group_committed or 0) <= IN_FLIGHT * settings.ingest.batch_max


class RejectAll:
    async def prepare(self, records) -> Prepared:
        rejected = [(i, Rejection("not_json", "not JSON")) for i in range(len(records))]
        return Prepared(behaviour=InteractionColumns.of(()), rejected=rejected, stored=0, feedback_stored=0, parse_s=0.0,
                        store_s=0.0)


class DeadLetters:
    def __init__(self) -> None:
        self.sent: list[int] = []

    async def send_many(self, items) -> None:
        self.sent.extend(record.offset for record, _ in items)


def drain(consumer: Backlog, assigned_first: bool) -> tuple[IngestLoop, DeadLetters]:
    settings = Settings.build(batch_max=40, batch_within_s=0.01)
    sink = DeadLetters()
    pipeline = Pipeline(RejectAll(), recommender=None, dead_letters=sink)  # type: ignore[arg-type]
    loop = IngestLoop(consumer, pipeline, settings.kafka, settings.ingest, Topics.of(settings.kafka))  # type: ignore[arg-type]

    async def run() -> None:
        if assigned_first:
            await loop.on_assigned([consumer.tp])
        task = asyncio.create_task(loop.run())
        for _ in range(500):
            if consumer.group_committed == consumer.n:
                break
            await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(run())
    return loop, sink


def test_a_batch_read_again_after_a_failed_commit_is_not_dead_lettered_twice():
    consumer = Backlog("recstream.behaviour", 100, failing_commits=1)
    loop, sink = drain(consumer, assigned_first=False)
    assert loop.failures == 1  # the first batch's commit failed and it was read again
    assert consumer.group_committed == 100
    assert sorted(sink.sent) == list(range(100))  # each junk record dead-lettered exactly once
    assert sum(loop.pipeline.stats.dead_lettered.values()) == 100


def test_records_replayed_for_learning_after_a_rebalance_are_not_dead_lettered_again():
    # Another worker handled (stored, dead-lettered) offsets 0-59 and committed 60; this worker's model
    # never learned the partition, so it reads it from the start to learn, but dead-letters only from 60 on.
    consumer = Backlog("recstream.behaviour", 100, group_committed=60)
    loop, sink = drain(consumer, assigned_first=True)
    assert sorted(sink.sent) == list(range(60, 100))
    assert loop.pipeline.stats.consumed == 100  # it did read (and could learn) all of them


class Learner:
    """Learns every record it is handed (records their offsets); its `fail_at`-th batch fails before learning,
    as a batch does when the database is down."""

    def __init__(self, fail_at: int | None = None, prepare_s: float = 0.0) -> None:
        self.stats = PipelineStats()
        self.prepare_s = prepare_s
        self.learned: list[int] = []
        self.batches = 0
        self.fail_at = fail_at

    async def prepare(self, records) -> Prepared:
        await asyncio.sleep(self.prepare_s)
        return Prepared(behaviour=InteractionColumns.of(()), rejected=[], stored=0, feedback_stored=0, parse_s=0.0,
                        store_s=0.0)

    async def apply(self, records, prepared) -> None:
        self.batches += 1
        if self.batches == self.fail_at:
            raise ConnectionError("the database is down")
        self.learned.extend(r.offset for r in records)


def learn_all(consumer: Backlog, learner: Learner) -> IngestLoop:
    settings = Settings.build(batch_max=20, batch_within_s=0.01)
    loop = IngestLoop(consumer, learner, settings.kafka, settings.ingest, Topics.of(settings.kafka))  # type: ignore[arg-type]

    async def run() -> None:
        await loop.on_assigned([consumer.tp])
        task = asyncio.create_task(loop.run())
        for _ in range(600):
            if len(learner.learned) >= consumer.n and not loop._uncommitted:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # anything read twice would be learned by now
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(run())
    return loop


def test_a_batch_failing_while_the_model_catches_up_is_read_again_from_what_the_model_learned():
    # Another worker committed 60; this model learned none of the partition and replays it from 0. The second
    # batch (offsets 20-39) fails: reading again from the group's offset (60) would skip 20-59 for good.
    consumer = Backlog("recstream.behaviour", 100, group_committed=60)
    learner = Learner(fail_at=2)
    loop = learn_all(consumer, learner)
    assert loop.failures == 1
    assert sorted(learner.learned) == list(range(100))  # every record learned, each once
    assert consumer.group_committed == 100
    assert min(consumer.commits) > 60  # replaying below the group's offset never moved it back


def test_a_batch_learned_but_not_committed_is_not_learned_again():
    consumer = Backlog("recstream.behaviour", 100, failing_commits=1)
    learner = Learner()
    loop = learn_all(consumer, learner)
    assert loop.failures == 1  # the first commit failed ...
    assert sorted(learner.learned) == list(range(100))  # ... and its batch, learned already, was not read again
    assert consumer.group_committed == 100  # its offsets went with the next commit


def test_batches_read_while_the_first_assignment_restores_a_checkpoint_are_not_learned():
    # The consumer starts a new partition at the group's offset (60) while the worker restores a checkpoint
    # (which takes a while) whose state learned up to 30. What it read from 60 meanwhile must not be learned
    # after the restore: a checkpoint would then say "learned up to 70" of a state that lacks 30-59, and a
    # worker resuming from it would never learn them (bench/soak.py found 962 such events).
    consumer = Backlog("recstream.behaviour", 100, group_committed=60)
    consumer.position = 60
    learner = Learner(prepare_s=0.2)  # batches fetched during the restore are still being prepared after it
    settings = Settings.build(batch_max=10, batch_within_s=0.01)

    async def restore_slowly(committed: dict) -> dict[str, int]:
        await asyncio.sleep(0.05)
        learner.learned.clear()  # the restored state holds nothing learned before it
        return {"recstream.behaviour:0": 30}

    loop = IngestLoop(consumer, learner, settings.kafka, settings.ingest, Topics.of(settings.kafka),  # type: ignore[arg-type]
                      choose_start=restore_slowly)

    async def run() -> None:
        task = asyncio.create_task(loop.run())
        await asyncio.sleep(0.05)  # the loop is fetching when the group assigns the partition
        await loop.on_assigned([consumer.tp])
        for _ in range(300):
            if len(learner.learned) >= 70:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(run())
    assert sorted(learner.learned) == list(range(30, 100))
    assert loop.learned_offsets == {"recstream.behaviour:0": 100}
