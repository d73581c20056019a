"""When producers outrun a worker, what it holds stays bounded: the ingest loop fetches only while fewer than
IN_FLIGHT batches (of at most RECSTREAM_BATCH_MAX records) await learning, and commits each one after it is
learned; the rest of the backlog stays in Kafka. (aiokafka's own read-ahead is bounded by fetch_max_bytes.)

Unit test: a fake consumer with an endless backlog and a pipeline that learns slowly."""

import asyncio
from collections import namedtuple

from aiokafka import TopicPartition

from recstream.stream.ingest import IN_FLIGHT, IngestLoop
from recstream.stream.pipeline import PipelineStats
from recstream.stream.settings import Settings
from recstream.stream.topics import Topics

Message = namedtuple("Message", "topic partition offset key value")


class EndlessBacklog:
    """Always has batch_max more records on every call, like a topic a fast producer keeps filling."""

    def __init__(self, topic: str) -> None:
        self.tp = TopicPartition(topic, 0)
        self.next = 0
        self.handed_out = 0
        self.committed = 0

    def subscribe(self, topics, listener) -> None:  # noqa: ANN001
        self.listener = listener

    async def getmany(self, timeout_ms: int, max_records: int) -> dict:
        msgs = [Message(self.tp.topic, 0, o, b"u1", b"{}") for o in range(self.next, self.next + max_records)]
        self.next += max_records
        self.handed_out += max_records
        return {self.tp: msgs}

    def highwater(self, tp: TopicPartition) -> int:
        return self.next + 10_000_000

    def partitions_for_topic(self, topic: str) -> set[int]:
        return {0}

    async def commit(self, offsets: dict) -> None:
        self.committed = offsets[self.tp].offset


class SlowPipeline:
    def __init__(self, consumer: EndlessBacklog) -> None:
        self.stats = PipelineStats()
        self.consumer = consumer
        self.most_held = 0

    async def prepare(self, records):  # noqa: ANN001, ANN201
        await asyncio.sleep(0.001)

    async def apply(self, records, prepared) -> None:  # noqa: ANN001
        # Records handed out by the consumer and not yet committed are what the worker holds.
        self.most_held = max(self.most_held, self.consumer.handed_out - self.consumer.committed)
        await asyncio.sleep(0.01)
        self.stats.learned += len(records)


def test_a_backlog_far_larger_than_the_worker_is_read_a_bounded_number_of_batches_at_a_time():
    settings = Settings(batch_max=500, batch_within_s=0.05)
    topics = Topics.from_settings(settings)
    consumer = EndlessBacklog(topics.behaviour)
    pipeline = SlowPipeline(consumer)
    loop = IngestLoop(consumer, pipeline, settings, topics)  # type: ignore[arg-type]

    async def run_a_while() -> None:
        task = asyncio.create_task(loop.run())
        await asyncio.sleep(1.0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(run_a_while())
    assert pipeline.stats.learned >= 20 * settings.batch_max  # it kept going through the backlog
    assert pipeline.most_held <= IN_FLIGHT * settings.batch_max  # and never held more than IN_FLIGHT batches
    assert consumer.handed_out - consumer.committed <= IN_FLIGHT * settings.batch_max
