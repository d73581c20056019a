"""The helper processes that validate and store batches, on a real database (SQLite; PostgreSQL where it runs)."""

import asyncio
import json

from recstream.models.store.events import EventStore
from recstream.stream.ingest.pipeline import RawRecord
from recstream.stream.ingest.prepare import PreparerProcess
from recstream.stream.kafka.topics import Topics
from recstream.stream.settings import Settings


def record(i: int, valid: bool = True) -> RawRecord:
    user = f"u{i % 7}"
    doc = {"event_id": f"e{i}", "user_id": user, "item_id": f"i{i % 11}", "type": "view", "ts": 1772366400 + i}
    return RawRecord("behaviour", 0, i, user.encode(), json.dumps(doc).encode() if valid else b"not json")


def test_batches_spread_over_two_helpers_come_back_in_order_and_are_stored_once(engine, db_url):
    settings = Settings.build(database_url=db_url, topic_behaviour="behaviour", topic_feedback="feedback",
                        prepare_processes=2)
    helpers = PreparerProcess(settings.database_url, Topics.of(settings.kafka), settings.ingest)

    async def run():
        await helpers.start()
        batches = [[record(i, valid=i % 10 != 3) for i in range(start, start + 100)] for start in range(0, 800, 100)]
        batches.append(batches[2] + batches[5])  # redelivered: handled by whichever helper's turn it is
        return batches, await asyncio.gather(*[helpers.prepare(b) for b in batches])

    try:
        batches, results = asyncio.run(run())
    finally:
        helpers.close()
    for batch, prepared in zip(batches, results):  # each result belongs to the batch it was asked for
        valid = [r for r in batch if r.value != b"not json"]
        assert list(prepared.behaviour.event_ids) == [f"e{r.offset}" for r in valid]
        assert [batch[i].offset for i, _ in prepared.rejected] == [r.offset for r in batch if r not in valid]
    assert sum(p.stored for p in results) == 720  # the redelivered rows counted as new by one helper only
    assert EventStore(engine).count_interactions() == 720
