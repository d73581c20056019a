"""Item sharing between workers, Kafka-free: which deltas a worker sends, and which of its peers' it adds."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import numpy as np

from recstream.models.data.interaction import Interaction
from recstream.models.online.config import OnlineConfig
from recstream.models.online.delta_codec import decode
from recstream.models.online.item_deltas import apply_delta
from recstream.models.online.recommender import OnlineRecommender
from recstream.stream.ingest.delta_publisher import DeltaPublisher
from recstream.stream.ingest.peer_feed import PeerFeed
from recstream.stream.settings import IngestSettings
from recstream.stream.worker.state import peer_positions

CFG = OnlineConfig(n_factors=4, negatives=0, prequential_sample=0.0)
INGEST = IngestSettings()
MAX_PAIRS = INGEST.share_items_max_pairs
T = 1_767_225_600.0


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    async def send(self, topic: str, value: bytes) -> asyncio.Future:
        self.sent.append((topic, value))
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


class FakeConsumer:
    """The calls PeerFeed.assign makes: the deltas topic starts at offset 0 here."""

    def assign(self, tps: list) -> None:
        self.assigned = tps

    async def beginning_offsets(self, tps: list) -> dict:
        return {tp: 0 for tp in tps}

    def seek(self, tp: object, offset: int) -> None:
        self.at = offset


@dataclass
class Msg:
    offset: int
    value: bytes


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def buys(user: str, items: str, n: int = 0) -> list[Interaction]:
    return [Interaction(f"{user}-{n}-{k}", user, i, "purchase", None, T + k) for k, i in enumerate(items)]


def test_a_worker_sends_its_counts_when_due_with_the_offsets_they_reach():
    async def run() -> None:
        producer, clock, rec = FakeProducer(), Clock(), OnlineRecommender(CFG)
        pub = DeltaPublisher(producer, "deltas", CFG.popularity_half_life_s, every_s=1.0, max_pairs=2, clock=clock)
        pub.attach(rec)
        rec.learn(buys("u1", "a"), evaluate=False)
        await pub.after_batch(rec, {"b:0": 1, "b:1": 7})
        assert producer.sent == []  # not due yet
        rec.learn(buys("u1", "bc", 1), evaluate=False)
        await pub.after_batch(rec, {"b:0": 3, "b:1": 7})
        # due by size before its time: 3 pairs, 2 a part (and 3 item factor rows, 1 a part): parts of one message
        parts = [decode(v) for _, v in producer.sent]
        assert [p.index for _, p in parts] == [0, 1, 2] and len({p.message for _, p in parts}) == 1
        assert sum(len(d.pairs) for d, _ in parts) == 3 and all(len(d.factor_items) == 1 for d, _ in parts)
        assert parts[0][0].ends == {"b:0": 3, "b:1": 7} and parts[0][0].events == 3
        rec.learn(buys("u2", "ab"), evaluate=False)
        clock.now = 3.0
        await pub.after_batch(rec, {"b:0": 5, "b:1": 7})
        last, _ = decode(producer.sent[-1][1])
        assert last.ends == {"b:0": 5}  # only the partitions it advanced
        sent = len(producer.sent)
        await pub.after_batch(rec, {"b:0": 5, "b:1": 7})
        assert len(producer.sent) == sent and pub.state()["sent"] == 2  # nothing new learned: nothing sent

    asyncio.run(run())


def test_a_restored_learner_starts_a_fresh_log():
    pub = DeltaPublisher(FakeProducer(), "d", CFG.popularity_half_life_s, INGEST.share_items_every_s, MAX_PAIRS)
    old, new = OnlineRecommender(CFG), OnlineRecommender(CFG)
    pub.attach(old)
    old.learn(buys("u", "ab"), evaluate=False)
    pub.attach(new)
    assert new.item_log is pub.log and pub.log.events == 0


def deltas_of(batches: list[tuple[list[Interaction], dict[str, int]]]) -> list[Msg]:
    """Messages a worker would send for `batches` (events, offsets after them), one delta each."""
    async def run() -> list[Msg]:
        producer, rec = FakeProducer(), OnlineRecommender(CFG)
        pub = DeltaPublisher(producer, "d", CFG.popularity_half_life_s, every_s=0.0, max_pairs=MAX_PAIRS)
        pub.attach(rec)
        learned: dict[str, int] = {}
        for events, ends in batches:
            rec.learn(events, evaluate=False)
            learned.update(ends)
            await pub.after_batch(rec, learned)
        return [Msg(k, v) for k, (_, v) in enumerate(producer.sent)]

    return asyncio.run(run())


def feed_for(rec: OnlineRecommender) -> PeerFeed:
    return PeerFeed(FakeConsumer(), "d", lambda d: apply_delta(rec, d))  # type: ignore[arg-type]


def test_a_peer_adds_deltas_of_partitions_it_neither_owns_nor_holds():
    msgs = deltas_of([(buys("x", "ab", 1), {"b:1": 2}), (buys("y", "ac", 2), {"b:2": 2}),
                           (buys("z", "ad", 3), {"b:1": 4})])
    rec = OnlineRecommender(CFG)
    feed = feed_for(rec)
    asyncio.run(feed.assign(owned={"b:2"}, learned={"b:1": 2, "b:2": 9}))  # b:1 was ours up to offset 2
    feed.take(msgs)
    # the first delta is b:1 up to 2 (this model learned those), the second b:2 (owned here): only the third
    assert (feed.added, feed.skipped) == (1, 2) and feed.offset == 3
    assert rec.peer_events_learned == 2 and rec.item_row("d") is not None and rec.item_row("c") is None
    assert feed.saved() == {"offset": 3, "positions": {"b:1": 4}}
    feed.take(msgs)  # read again (a restart before a checkpoint): nothing counts twice
    assert rec.peer_events_learned == 2


def test_all_parts_of_a_wanted_message_are_added_and_none_of_an_unwanted_one():
    async def parts() -> list[Msg]:
        producer, rec = FakeProducer(), OnlineRecommender(CFG)
        pub = DeltaPublisher(producer, "d", CFG.popularity_half_life_s, every_s=0.0, max_pairs=100)
        pub.attach(rec)
        rec.learn([Interaction(f"e{k}", f"u{k % 7}", f"i{k % 50}", "purchase", None, T + k) for k in range(400)],
                  evaluate=False)
        await pub.after_batch(rec, {"b:1": 400})
        return [Msg(k, v) for k, (_, v) in enumerate(producer.sent)]

    msgs = asyncio.run(parts())
    assert len(msgs) > 3
    wanted, unwanted = OnlineRecommender(CFG), OnlineRecommender(CFG)
    for rec, owned in ((wanted, set()), (unwanted, {"b:1"})):
        feed = feed_for(rec)
        asyncio.run(feed.assign(owned=owned, learned={}))
        feed.take(msgs)
        assert feed.added == (len(msgs) if not owned else 0)
    assert wanted.peer_events_learned == 400 and unwanted.n_items == 0
    assert np.count_nonzero(wanted.cooccurrence.item_count) == 50


def test_a_refused_delta_is_counted_and_the_feed_goes_on():
    msgs = deltas_of([(buys("x", "ab"), {"b:1": 2})])
    rec = OnlineRecommender(CFG)
    feed = feed_for(rec)
    asyncio.run(feed.assign(owned=set(), learned={}))
    feed.take([Msg(0, b"garbage"), Msg(1, msgs[0].value)])
    assert (feed.refused, feed.added, feed.offset) == (1, 1, 2)


def test_a_checkpoint_from_before_deltas_keeps_its_peer_positions():
    assert peer_positions({"item_feed": {"1": 40, "3": 7}}, "beh") == \
        {"offset": None, "positions": {"beh:1": 40, "beh:3": 7}}
    saved = {"offset": 12, "positions": {"beh:1": 50}}
    assert peer_positions({"item_deltas": saved}, "beh") == saved


def test_a_delta_the_broker_refuses_is_counted_and_sending_goes_on():
    from aiokafka.errors import KafkaConnectionError

    class Down(FakeProducer):
        down = True

        async def send(self, topic: str, value: bytes) -> asyncio.Future:
            if self.down:
                raise KafkaConnectionError("broker away")
            return await super().send(topic, value)

    async def run() -> None:
        producer, rec = Down(), OnlineRecommender(CFG)
        pub = DeltaPublisher(producer, "d", CFG.popularity_half_life_s, every_s=0.0, max_pairs=MAX_PAIRS)
        pub.attach(rec)
        rec.learn(buys("u", "ab"), evaluate=False)
        await pub.after_batch(rec, {"b:0": 2})
        assert pub.state()["failed"] == 1 and pub.state()["sent"] == 0
        producer.down = False
        rec.learn(buys("v", "cd"), evaluate=False)
        await pub.after_batch(rec, {"b:0": 4})
        assert pub.state()["sent"] == 1 and decode(producer.sent[0][1])[0].ends == {"b:0": 4}

    asyncio.run(run())
