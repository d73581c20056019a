"""The worker directory (on SQLite and PostgreSQL) and the routing rule built on it."""

import time

import pytest
from kafka.partitioner.default import murmur2 as kafka_python_murmur2
from sqlalchemy import insert, update

from recstream.models.data.keys import user_partition
from recstream.models.store.schema import workers
from recstream.stream.worker.directory import Directory, WorkerInfo, plain_base_url
from recstream.stream.worker.routing import Router


@pytest.mark.parametrize("n", [1, 4, 12])
def test_user_partition_is_what_a_stock_kafka_client_picks(n):
    # kafka-python's default partitioner (its own murmur2, ported from the Java client): idx & 0x7fffffff % n
    for i in range(500):
        key = f"user-{i}".encode()
        assert user_partition(key.decode(), n) == (kafka_python_murmur2(key) & 0x7FFFFFFF) % n


def directory(engine, source: str, group: str = "g", stale: float = 10.0) -> Directory:
    return Directory(engine, group_id=group, source=source, url=f"http://{source}/", stale_after_s=stale)


def test_workers_announce_partitions_and_the_newest_assignment_wins(engine):
    a, b = directory(engine, "a:1"), directory(engine, "b:1")
    a.announce([0, 1, 2, 3], 4)
    assert {p: w.source for p, w in a.owners().items()} == {0: "a:1", 1: "a:1", 2: "a:1", 3: "a:1"}
    time.sleep(0.01)
    b.announce([2, 3], 4)  # b joined; a has not rewritten its row yet: b's newer claim wins
    assert {p: w.source for p, w in b.owners().items()} == {0: "a:1", 1: "a:1", 2: "b:1", 3: "b:1"}
    a.announce([0, 1], 4)  # an update, not a second row
    assert sorted(w.source for w in a.workers()) == ["a:1", "b:1"]
    assert a.workers()[0].url == "http://a:1"  # trailing slash dropped: paths are appended to it
    directory(engine, "c:1", group="other").announce([0, 1, 2, 3], 4)  # another group's worker
    assert {w.source for w in a.workers()} == {"a:1", "b:1"}
    b.leave()
    assert [w.source for w in a.workers()] == ["a:1"]


def test_a_silent_worker_is_ignored_then_pruned(engine):
    a = directory(engine, "a:1", stale=0.2)
    a.announce([0], 1)
    assert a.owners()[0].source == "a:1"
    time.sleep(0.3)
    assert a.owners() == {}  # crashed without leaving: not routed to
    a.heartbeat()
    assert a.owners()[0].source == "a:1"
    time.sleep(0.3)
    assert a.prune(older_than_s=0.1) == 1 and a.workers() == []


def _router(assigned: tuple[int, ...], owners: dict[int, str], n: int = 4) -> Router:
    router = Router("me")  # no directory: the map is set by hand
    router.assigned, router.n_partitions = assigned, n
    router.owners = {p: WorkerInfo(src, f"http://{src}", (p,), n, 0.0, 0.0) for p, src in owners.items()}
    return router


def test_requests_go_to_the_owner_of_the_users_partition_else_stay_here():
    users = {p: next(f"u{i}" for i in range(1000) if user_partition(f"u{i}", 4) == p) for p in range(4)}
    router = _router((0, 1), {0: "me", 1: "me", 2: "other:2", 3: "other:3"})
    assert router.owner_of(users[0]) is None and router.owner_of(users[1]) is None  # mine
    assert router.owner_of(users[2]).source == "other:2"
    assert _router((0, 1), {}).owner_of(users[2]) is None  # directory not read yet: answer here
    assert _router((0, 1), {0: "me", 1: "me"}).owner_of(users[3]) is None  # mid-rebalance, no owner known
    assert _router((), {}, n=0).owner_of(users[3]) is None  # before the first assignment


def test_a_row_no_worker_of_the_group_signed_is_never_a_peer(engine):
    key = b"k" * 32
    mine = Directory(engine, group_id="g", source="a:1", url="http://a:6066", stale_after_s=10, key=key)
    mine.announce([0], 2)
    other = Directory(engine, group_id="g", source="b:1", url="http://b:6066", stale_after_s=10, key=key)
    other.announce([1], 2)
    assert sorted(w.source for w in mine.workers()) == ["a:1", "b:1"]
    # Whoever can write the database adds a worker, or points a real one elsewhere: neither is trusted.
    now = time.time()
    with engine.begin() as conn:
        conn.execute(insert(workers).values(source="evil", group_id="g", url="http://169.254.169.254",
                                            partitions=[1], n_partitions=2, assigned_at=now + 1, heartbeat_at=now))
        conn.execute(update(workers).where(workers.c.source == "b:1").values(url="http://attacker.example"))
    assert [w.source for w in mine.workers()] == ["a:1"] and mine.owners() == {0: mine.workers()[0]}
    # Without keys only the URL's shape is checked: credentials, paths and queries are refused.
    open_ = Directory(engine, group_id="h", source="c:1", url="http://c:6066", stale_after_s=10)
    assert plain_base_url("http://c:6066") and plain_base_url("https://c.example/")
    for bad in ("http://u:p@c:6066", "http://c:6066/admin?x=1", "file:///etc/passwd", "gopher://c", "http://c:99999"):
        assert not plain_base_url(bad)
    open_.announce([0], 1)
    assert [w.source for w in open_.workers()] == ["c:1"]
