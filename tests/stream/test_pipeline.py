"""The batch pipeline against a real SQLite store and a recording dead-letter sink (no Kafka needed)."""

import asyncio
import json

from recstream.models.online.config import OnlineConfig
from recstream.models.online.recommender import OnlineRecommender
from recstream.models.store.db import create_db_engine, upgrade
from recstream.models.store.events import EventStore
from recstream.stream.ingest.events import EventParser
from recstream.stream.ingest.pipeline import Pipeline, RawRecord
from recstream.stream.ingest.prepare import Preparer
from recstream.stream.kafka.topics import Topics

TOPICS = Topics("behaviour", "feedback", "dead-letter", "items", "item-deltas")


class RecordingSink:
    def __init__(self):
        self.sent = []

    async def send_many(self, items):
        self.sent.extend(items)


def make(tmp_path):
    engine = create_db_engine(f"sqlite:///{tmp_path / 'p.db'}")
    upgrade(engine)
    sink = RecordingSink()
    rec = OnlineRecommender(OnlineConfig(n_factors=8))
    return Pipeline(Preparer(TOPICS, EventParser(), EventStore(engine)), rec, sink, learn_chunk=50), sink


def good(i: int) -> RawRecord:
    user = f"u{i % 20}"
    doc = {"event_id": f"e{i}", "user_id": user, "item_id": f"i{i % 50}", "type": "click", "ts": 1772366400 + i}
    return RawRecord("behaviour", 0, i, user.encode(), json.dumps(doc).encode())


def bad(i: int) -> RawRecord:
    return RawRecord("behaviour", 1, i, b"u1", b"garbage %d" % i)


def test_valid_are_stored_and_learned_bad_are_dead_lettered(tmp_path):
    pipe, sink = make(tmp_path)
    records = []
    for i in range(1000):
        records.append(good(i))
        if i % 5 == 0:
            records.append(bad(i))
    asyncio.run(pipe.handle(records))
    assert pipe.preparer.store.count_interactions() == 1000
    assert len(sink.sent) == 200
    rec, why = sink.sent[0]
    assert rec.value == b"garbage 0" and rec.offset == 0 and why.code == "not_json"
    assert pipe.recommender.events_learned == 1000
    assert pipe.stats.as_dict()["dead_lettered"] == {"not_json": 200}


def test_redelivery_stores_and_learns_nothing_twice(tmp_path):
    pipe, _ = make(tmp_path)
    batch = [good(i) for i in range(300)]
    asyncio.run(pipe.handle(batch))
    asyncio.run(pipe.handle(batch[100:] + [good(i) for i in range(300, 350)]))
    assert pipe.preparer.store.count_interactions() == 350
    assert pipe.recommender.events_learned == 350
    assert pipe.stats.duplicates == 200


def test_in_batch_duplicates_are_learned_once(tmp_path):
    pipe, _ = make(tmp_path)
    asyncio.run(pipe.handle([good(1), good(1), good(2)]))
    assert pipe.recommender.events_learned == 2


def test_feedback_is_stored_and_bad_feedback_dead_lettered(tmp_path):
    pipe, sink = make(tmp_path)
    fb = {"event_id": "f1", "rec_id": "r1", "user_id": "u1", "item_id": "i1", "action": "skip",
          "model_version": "online:biased_mf", "ts": 1772366400}
    asyncio.run(pipe.handle([RawRecord("feedback", 0, 0, b"u1", json.dumps(fb).encode()),
                             RawRecord("feedback", 0, 1, b"u1", json.dumps({**fb, "action": "meh"}).encode())]))
    assert pipe.preparer.store.count_feedback() == 1
    assert [why.code for _, why in sink.sent] == ["schema"]


def test_a_failed_store_fails_the_batch_and_the_retry_learns_nothing_twice(tmp_path):
    import pytest
    from sqlalchemy import create_engine
    from sqlalchemy.exc import OperationalError

    pipe, _ = make(tmp_path)
    working = pipe.preparer.store.engine
    (tmp_path / "gone").mkdir()
    pipe.preparer.store.engine = create_engine(f"sqlite:///{tmp_path / 'gone'}")  # a directory: every write fails
    batch = [good(i) for i in range(10)]
    with pytest.raises(OperationalError):  # the store's error reaches the loop, which retries from the commit
        asyncio.run(pipe.handle(batch))
    assert pipe.stats.consumed == 0  # not counted as handled, so the consumer does not commit it
    pipe.preparer.store.engine = working  # the database is back; Kafka redelivers the batch
    asyncio.run(pipe.handle(batch))
    assert pipe.preparer.store.count_interactions() == 10
    assert pipe.recommender.events_learned == 10


def feedback_record(i: int, user: str, item: str, action: str, ts: float) -> RawRecord:
    doc = {"event_id": f"f{i}", "user_id": user, "item_id": item, "action": action, "rec_id": "r1",
           "model_version": "online:biased_mf", "ts": ts}
    return RawRecord("feedback", 0, 10_000 + i, user.encode(), json.dumps(doc).encode())


def test_a_click_reported_as_feedback_and_as_behaviour_is_stored_both_ways_and_learned_once(tmp_path):
    pipe, _ = make(tmp_path)
    asyncio.run(pipe.handle([good(i) for i in range(100)]))
    learned = pipe.recommender.events_learned
    click = {"event_id": "b-click", "user_id": "u1", "item_id": "new-item", "type": "click", "ts": 1772366500}
    behaviour = RawRecord("behaviour", 0, 500, b"u1", json.dumps(click).encode())
    # The widget's feedback arrives a batch before the tracker's behaviour event: learned from the feedback.
    asyncio.run(pipe.handle([feedback_record(1, "u1", "new-item", "impression", 1772366490),
                             feedback_record(2, "u1", "new-item", "click", 1772366500)]))
    asyncio.run(pipe.handle([behaviour]))
    assert pipe.recommender.events_learned == learned + 1
    assert pipe.preparer.store.count_interactions() == 101  # stored as what it is, all the same
    # The other way round, in one batch: behaviour is learned first, the feedback copy is not learned again.
    click2 = {**click, "event_id": "b-click-2", "item_id": "other-item", "ts": 1772366600}
    asyncio.run(pipe.handle([RawRecord("behaviour", 0, 501, b"u1", json.dumps(click2).encode()),
                             feedback_record(3, "u1", "other-item", "click", 1772366600)]))
    assert pipe.recommender.events_learned == learned + 2
    assert pipe.recommender.feedback.state()["repeats_dropped"] == 2


def test_redelivered_feedback_is_learned_once_even_where_a_behaviour_event_shares_its_id(tmp_path):
    pipe, _ = make(tmp_path)
    asyncio.run(pipe.handle([good(i) for i in range(100)]))
    click = feedback_record(1, "u1", "new-item", "click", 1772366500)
    asyncio.run(pipe.handle([click, click]))  # a producer's retry inside one batch
    asyncio.run(pipe.handle([click]))  # and a redelivery after a rebalance
    assert pipe.recommender.feedback.state()["positives"] == 1
    assert pipe.recommender.feedback.state()["repeats_dropped"] == 0  # a copy is not a second report
    same_id = {"event_id": "f2", "user_id": "u2", "item_id": "i1", "type": "view", "ts": 1772366600}
    asyncio.run(pipe.handle([RawRecord("behaviour", 0, 700, b"u2", json.dumps(same_id).encode()),
                             feedback_record(2, "u3", "i2", "click", 1772366600)]))
    assert pipe.recommender.events_learned == 100 + 1 + 2  # the feedback click, then both "f2"s


def test_feedback_is_stored_but_not_learned_when_switched_off(tmp_path):
    pipe, _ = make(tmp_path)
    pipe.learn_feedback = False
    asyncio.run(pipe.handle([good(i) for i in range(10)] + [feedback_record(1, "u1", "i7", "click", 1772366500)]))
    assert pipe.recommender.events_learned == 10 and pipe.stats.feedback_stored == 1


def test_while_requests_arrive_it_learns_in_smaller_chunks(tmp_path):
    # A request waits for the chunk being learned: with requests arriving, chunks shrink to the serving size.
    pipe, _ = make(tmp_path)
    pipe.serving_chunk = 20
    sizes = []
    pipe.before_learn = lambda chunk: sizes.append(len(chunk))
    asyncio.run(pipe.handle([good(i) for i in range(200)]))
    assert sizes == [50] * 4  # nobody asking: the plain chunk
    sizes.clear()
    pipe.serving()
    asyncio.run(pipe.handle([good(i) for i in range(200, 400)]))
    assert sizes == [20] * 10
    assert pipe.recommender.events_learned == 400


def test_a_request_arriving_during_a_chunk_is_answered_before_the_next_chunk(tmp_path):
    # An HTTP request needs a few loop turns (bytes read, handler task started, answer written): each turn it
    # waited behind another chunk made it wait several chunks under load.
    pipe, _ = make(tmp_path)
    pipe.serving_chunk = 20
    order = []

    async def request():  # three loop turns, as aiohttp's
        for _ in range(2):
            await asyncio.sleep(0)
        order.append("answered")

    def judge(chunk):
        order.append(f"chunk {len(order)}")
        if len(order) == 1:
            asyncio.get_running_loop().create_task(request())  # arrives while the first chunk is learned

    pipe.before_learn = judge
    pipe.serving()
    asyncio.run(pipe.handle([good(i) for i in range(60)]))
    assert order.index("answered") == 1, order
    assert pipe.recommender.events_learned == 60


def test_a_request_waits_for_one_judged_event_not_for_all_of_a_chunks(tmp_path):
    # Each judged event scores every item (~1 ms at 10k items): a chunk's several were one wait for a request.
    pipe, _ = make(tmp_path)
    order = []

    async def request():
        for _ in range(2):
            await asyncio.sleep(0)
        order.append("answered")

    def judgements(chunk):
        for k in range(3):
            order.append(f"judged {k}")
            if not k and len(order) == 1:
                asyncio.get_running_loop().create_task(request())
            yield

    pipe.before_learn = judgements
    pipe.serving()
    asyncio.run(pipe.handle([good(i) for i in range(10)]))
    assert order[:3] == ["judged 0", "answered", "judged 1"], order


def test_an_evicted_users_next_batch_is_learned_on_its_stored_state_as_if_it_never_left(tmp_path):
    from recstream.models.store.user_states import UserStates
    from recstream.stream.worker.eviction import Eviction

    kept, _ = make(tmp_path / "kept")
    pipe, _ = make(tmp_path / "evicting")
    # Events a second apart, each user's every 20 s: all but the latest event's user idle for half a second.
    eviction = Eviction(UserStates(pipe.preparer.store.engine), after_s=0.5, batch=1_000)
    pipe.readmit = eviction.readmit
    first, later = [good(i) for i in range(600)], [good(i) for i in range(600, 1200)]
    for p in (kept, pipe):
        asyncio.run(p.handle(first))
    gone = asyncio.run(eviction.evict(pipe.recommender, asyncio.Lock()))
    assert gone == 19 and pipe.recommender.n_users == 1
    for p in (kept, pipe):
        asyncio.run(p.handle(later))
    assert eviction.readmitted == 19
    for user in (f"u{k}" for k in range(20)):
        assert pipe.recommender.recommend(user, k=10) == kept.recommender.recommend(user, k=10)
