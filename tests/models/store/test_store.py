"""Event store: batch writes are idempotent on event_id, on SQLite and PostgreSQL."""

from recstream.models.data.interaction import Feedback, Interaction
from recstream.models.store.events import EventStore


def ev(i: int, user: str = "u1", ts: float = 1.7e9) -> Interaction:
    return Interaction(f"e{i}", user, f"i{i % 7}", "click", None, ts + i, {"page": "home"} if i % 2 else None)


def test_new_ids_are_reported_once(engine):
    store = EventStore(engine)
    assert store.add_interactions([ev(i) for i in range(10)]) == {f"e{i}" for i in range(10)}
    # A redelivery of part of the batch plus new events: only the new ones are new.
    assert store.add_interactions([ev(i) for i in range(5, 15)]) == {f"e{i}" for i in range(10, 15)}
    assert store.count_interactions() == 15


def test_duplicates_inside_one_batch_store_one_row(engine):
    store = EventStore(engine)
    assert store.add_interactions([ev(1), ev(1), ev(2)]) == {"e1", "e2"}
    assert store.count_interactions() == 2


def test_rows_round_trip_in_event_time_order(engine):
    store = EventStore(engine)
    events = [ev(3, ts=100.0), ev(1, ts=300.0), ev(2, ts=50.0)]
    store.add_interactions(events)
    back = list(store.iter_interactions())
    assert [e.event_id for e in back] == ["e2", "e3", "e1"]
    assert back[1] == events[0]  # every field, context included
    assert [e.event_id for e in store.iter_interactions(since=100.0, until=200.0)] == ["e3"]


def test_large_batches_cross_the_sqlite_variable_limit(engine):
    store = EventStore(engine)
    batch = [ev(i) for i in range(40_000)]
    assert len(store.add_interactions(batch)) == 40_000
    assert store.add_interactions(batch) == set()


def test_feedback_is_idempotent(engine):
    store = EventStore(engine)
    fb = [Feedback(f"f{i}", "rec1", "u1", f"i{i}", "click", "online:biased_mf", 1.7e9) for i in range(3)]
    assert len(store.add_feedback(fb)) == 3
    assert store.add_feedback(fb) == set()
    assert store.count_feedback() == 3


def test_concurrent_writers_of_the_same_ids_each_report_only_what_they_stored(engine):
    """The worker's helper processes may store overlapping redeliveries at once: every id is reported new by
    exactly one of them."""
    from concurrent.futures import ThreadPoolExecutor

    events = [ev(i) for i in range(3000)]
    batches = [events[start:start + 500] for start in range(0, 3000, 250)]  # each event in two batches
    store = EventStore(engine)
    with ThreadPoolExecutor(max_workers=4) as pool:
        reported = list(pool.map(store.add_interactions, batches * 2))
    assert sum(len(r) for r in reported) == 3000
    assert set().union(*reported) == {e.event_id for e in events}
    assert store.count_interactions() == 3000


def test_sqlite_without_returning_takes_the_lock_then_looks_up(tmp_path):
    """SQLite before 3.35 has no RETURNING: the fallback reports the same ids, also under concurrent writers."""
    from concurrent.futures import ThreadPoolExecutor

    from recstream.models.store.db import create_db_engine, upgrade

    engine = create_db_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine)
    store = EventStore(engine)
    store._sqlite_returning = False  # as on an old SQLite
    assert store.add_interactions([ev(1), ev(1), ev(2)]) == {"e1", "e2"}
    assert store.add_interactions([ev(i) for i in range(5)]) == {"e0", "e3", "e4"}
    events = [ev(i) for i in range(5, 2005)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        reported = list(pool.map(store.add_interactions, [events[s:s + 400] for s in range(0, 2000, 200)] * 2))
    assert sum(len(r) for r in reported) == 2000 and store.count_interactions() == 2005
    engine.dispose()


def test_training_data_adds_clicks_reported_only_as_feedback_once(engine):
    from recstream.models.retrain.run import with_feedback

    store = EventStore(engine)
    store.add_interactions([Interaction("b1", "u1", "i1", "click", None, 10.0),
                            Interaction("b2", "u2", "i2", "view", None, 30.0)])
    store.add_feedback([Feedback("f1", "r", "u1", "i1", "click", "v", 11.0),  # also sent as behaviour
                        Feedback("f2", "r", "u1", "i9", "purchase", "v", 20.0),  # feedback only
                        Feedback("f3", "r", "u1", "i8", "impression", "v", 21.0)])
    users, items, types, _values, ts = with_feedback(store.interaction_columns(), store, None)
    assert list(zip(users, items, types, ts)) == [("u1", "i1", "click", 10.0), ("u1", "i9", "purchase", 20.0),
                                                 ("u2", "i2", "view", 30.0)]
