"""Cold users out of a worker's memory into the database and back (stream/worker/eviction.py), on SQLite and
PostgreSQL: what a user is served after coming back equals what it was served before leaving."""

import asyncio
import json

import pytest
from prometheus_client import generate_latest
from sqlalchemy import update

from recstream.models.data.interaction import Interaction
from recstream.models.data.synthetic import SyntheticSpec, generate
from recstream.models.online.config import OnlineConfig
from recstream.models.online.recommender import OnlineRecommender
from recstream.models.online.users import idle_users
from recstream.models.serving.hotswap import DeepSlot
from recstream.models.store.registry import Registry
from recstream.models.store.schema import user_states
from recstream.models.store.user_states import UserStates
from recstream.stream.settings import Settings
from recstream.stream.web.reply import LocalRequest
from recstream.stream.web.serving import ServingViews
from recstream.stream.worker.eviction import EvictedIds, Eviction
from recstream.stream.worker.health import health
from recstream.stream.worker.state import WorkerState


def learned() -> OnlineRecommender:
    online = OnlineRecommender(OnlineConfig(n_factors=8, prequential_sample=0.0))
    online.learn(list(generate(SyntheticSpec(users=600, items=90, events=4_000, seed=4))))
    return online


def test_idle_users_go_to_the_database_and_come_back_serving_the_same_lists(engine):
    online = learned()
    before = {u: online.recommend(u, k=10) for u in online.user_ids}
    eviction = Eviction(UserStates(engine, "w1"), after_s=10.0, batch=10_000)
    gone = asyncio.run(eviction.evict(online, asyncio.Lock()))
    assert 0 < gone < len(before) and UserStates(engine).count() == gone
    out = [u for u in before if not online.holds(u)]
    assert len(out) == gone and all(online.recommend(u, k=10).source == "popular" for u in out)
    assert asyncio.run(eviction.readmit(online, out + ["never-seen"])) == gone
    assert all(online.recommend(u, k=10) == want for u, want in before.items())
    # A new worker reads which users are stored at start, and a running one at each assignment: they bring
    # them back too.
    assert all(u in Eviction(UserStates(engine), 10.0, 10).ids for u in out)
    other = Eviction(UserStates(engine), 10.0, 10)
    UserStates(engine).put({"evicted-elsewhere": b"{}"})
    assert "evicted-elsewhere" not in other.ids
    asyncio.run(other.reload())
    assert "evicted-elsewhere" in other.ids


def test_a_stored_state_that_cannot_be_read_is_skipped_and_the_user_starts_afresh(engine, caplog):
    online = learned()
    eviction = Eviction(UserStates(engine), after_s=10.0, batch=10_000)
    asyncio.run(eviction.evict(online, asyncio.Lock()))
    victim, fine = UserStates(engine).ids()[:2]
    with engine.begin() as conn:
        conn.execute(update(user_states).where(user_states.c.user_id == victim).values(state='{"factors": 1}'))
    assert asyncio.run(eviction.readmit(online, [victim, fine])) == 1
    assert not online.holds(victim) and online.holds(fine) and "cannot be read" in caplog.text


def test_a_user_learned_while_its_state_was_being_written_stays_in_memory(engine):
    online = learned()
    store = UserStates(engine)
    eviction = Eviction(store, after_s=10.0, batch=10_000)
    idle = idle_users(online, online.seen.latest_ts() - 10.0, 1)[0]

    def put_while_an_event_arrives(states):  # the ingest loop learns between the pass's steps
        online.learn([Interaction("late", idle, "i1", "click", None, 10.0)])
        UserStates.put(store, states)

    eviction.store.put = put_while_an_event_arrives  # type: ignore[method-assign]
    gone = asyncio.run(eviction.evict(online, asyncio.Lock()))
    assert gone > 0 and online.holds(idle)


def test_the_hashed_id_set_answers_membership_before_and_after_merging():
    ids = EvictedIds([f"u{i}" for i in range(100)])
    EvictedIds.MERGE_AT, saved = 8, EvictedIds.MERGE_AT
    try:
        ids.add([f"v{i}" for i in range(20)])
    finally:
        EvictedIds.MERGE_AT = saved
    assert all(f"u{i}" in ids for i in range(100)) and all(f"v{i}" in ids for i in range(20))
    assert "w1" not in ids and len(ids) == 120


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_request_for_an_evicted_user_is_answered_personal_as_before(engine, db_url):
    settings = Settings.build(database_url=db_url, online_evict_after_s=10.0)
    online = learned()
    state = WorkerState.of(settings, online, DeepSlot(Registry(engine)), "me")
    views = ServingViews(state, None)  # type: ignore[arg-type]
    user = idle_users(online, online.seen.latest_ts() - 10.0, 1)[0]
    ask = LocalRequest(query={"k": "5"})
    before = json.loads(asyncio.run(views.recommendations(ask, user)).body)
    asyncio.run(state.eviction.evict(online, state.learning))
    assert not online.holds(user)
    after = json.loads(asyncio.run(views.recommendations(ask, user)).body)
    assert after["source"] == "personal" and after["items"] == before["items"]
    shown = health(state)["eviction"]
    assert shown["evicted"] > 0 and shown["readmitted"] == 1 and shown["after_s"] == 10.0
    scraped = generate_latest(state.metrics.registry).decode()
    assert "recstream_users_readmitted_total 1.0" in scraped and "recstream_users_held " in scraped


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_with_the_database_gone_an_evicted_user_is_answered_from_memory_not_refused(engine, db_url):
    settings = Settings.build(database_url=db_url, online_evict_after_s=10.0)
    online = learned()
    state = WorkerState.of(settings, online, DeepSlot(Registry(engine)), "me")
    user = idle_users(online, online.seen.latest_ts() - 10.0, 1)[0]
    asyncio.run(state.eviction.evict(online, state.learning))

    def gone(ids):
        raise OSError("database unreachable")

    state.eviction.store.get_many = gone  # type: ignore[method-assign]
    reply = asyncio.run(ServingViews(state, None).recommendations(LocalRequest(query={"k": "5"}), user))
    assert reply.status == 200 and json.loads(reply.body)["source"] == "popular"
    with pytest.raises(OSError):  # the ingest path waits for the database instead (its batch is read again)
        asyncio.run(state.eviction.readmit(online, [user]))
