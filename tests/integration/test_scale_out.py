"""Two workers in one consumer group: they split the partitions, either one answers for any user from the
up-to-date state (the owner's), and when one leaves the other takes its partitions over without losing what the
leaver learned."""

import json
import signal
import time

import pytest
from kafka import KafkaProducer

from recstream.models.data.keys import user_partition
from recstream.models.store.db import create_db_engine
from recstream.models.store.events import EventStore
from recstream.stream.client import api_get

from .test_checkpoints import checkpoint_covering, produce

pytestmark = pytest.mark.integration

FAST = {"RECSTREAM_CHECKPOINT_INTERVAL_S": "1", "RECSTREAM_WORKER_HEARTBEAT_S": "0.5"}
PARTITIONS = 4


def split(a, b, timeout: float = 40.0) -> tuple[set[int], set[int]]:
    """Wait until a and b own disjoint halves of the partitions and each sees the other in the directory."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ha, hb = a.health(), b.health()
        pa, pb = set(ha["partitions"]), set(hb["partitions"])
        if pa and pb and not pa & pb and pa | pb == set(range(PARTITIONS)) and \
                len(ha["group"]) == len(hb["group"]) == 2:
            return pa, pb
        time.sleep(0.2)
    raise AssertionError(f"the group never split: {a.health()['partitions']} / {b.health()['partitions']}")


def user_on(partitions: set[int]) -> str:
    return next(f"u{i}" for i in range(1, 300) if user_partition(f"u{i}", PARTITIONS) in partitions)


def recommendations(w, user: str) -> dict:
    return api_get(f"{w.api}/recommendations/{user}?k=10")


def item_ids(answer: dict) -> list[str]:
    return [i["item_id"] for i in answer["items"]]


def buy(w, event_id: str, user: str, item: str) -> None:
    p = KafkaProducer(bootstrap_servers=w.env["RECSTREAM_BOOTSTRAP"])  # a stock client, default partitioner
    p.send(w.env["RECSTREAM_TOPIC_BEHAVIOUR"], key=user.encode(), value=json.dumps(
        {"event_id": event_id, "user_id": user, "item_id": item, "type": "purchase", "ts": time.time()}).encode())
    p.flush()
    p.close()


def until_gone(workers, user: str, item: str, timeout: float = 10.0) -> None:
    """Wait until no worker recommends `item` to `user` any more (it was bought: seen items are excluded)."""
    deadline = time.monotonic() + timeout
    while any(item in item_ids(recommendations(w, user)) for w in workers):
        assert time.monotonic() < deadline, f"{user}'s purchase of {item} never reached the answers"
        time.sleep(0.05)


def test_two_workers_split_partitions_route_requests_and_survive_one_leaving(worker_factory):
    a = worker_factory(**FAST)
    produce(a, 6000, seed=1)
    a.wait(lambda h: h["events_learned"] == 6000, what="the first stream")
    checkpoint_covering(a, 6000)  # b starts from it when it joins

    b = worker_factory(**FAST)
    pa, pb = split(a, b)
    ua, ub = user_on(pa), user_on(pb)

    # Either worker answers for any user with the owner's state: same items, served by the owner.
    for user, owner in ((ua, a), (ub, b)):
        direct = recommendations(owner, user)
        for asked in (a, b):
            got = recommendations(asked, user)
            assert got["served_by"] == owner.health()["worker"]
            assert item_ids(got) == item_ids(direct) and got["source"] == "personal"

    # Each worker adds the item-side deltas the other sends (its item feed): an item only b's users bought
    # becomes known to a, though a learns none of those users.
    items_a, events_a = a.health()["items"], a.health()["events_learned"]
    for n in range(3):
        buy(a, f"fresh-{n}", user_on(pb), f"fresh-item-{n}")
    a.wait(lambda h: h["items"] == items_a + 3, what="a to learn b's new items through its item feed", timeout=10)
    assert a.health()["events_learned"] == events_a  # item-side only: b's users stay b's
    feed_a, feed_b = a.health()["item_feed"], b.health()["item_feed"]
    assert feed_b["sent"]["sent"] >= 1 and feed_a["added"] >= 1 and feed_a["refused"] == 0
    assert feed_a["learned"] >= 3 and feed_a["lag_p99_ms"] <= 5000

    # A purchase is reflected within seconds whichever worker is asked.
    top_b = item_ids(recommendations(a, ub))[0]
    buy(a, "scale-1", ub, top_b)
    until_gone((a, b), ub, top_b)
    top_a = item_ids(recommendations(b, ua))[0]
    buy(a, "scale-2", ua, top_a)
    until_gone((a, b), ua, top_a)
    produce(a, 3000, seed=2)
    store = EventStore(create_db_engine(a.env["RECSTREAM_DATABASE_URL"]))
    deadline = time.monotonic() + 30
    while store.count_interactions() < 9005:
        assert time.monotonic() < deadline, "the two workers did not store the second stream"
        time.sleep(0.2)
    assert a.health()["pipeline"]["learned"] + b.health()["pipeline"]["learned"] >= 3005

    # b leaves; a takes its partitions back and learns what b learned meanwhile (b's purchase included).
    b.process.send_signal(signal.SIGTERM)
    b.process.wait(20)
    a.wait(lambda h: sorted(h["partitions"]) == list(range(PARTITIONS)) and len(h["group"]) == 1,
           what="a to own every partition", timeout=30)
    until_gone((a,), ub, top_b)
    answer = recommendations(a, ub)
    assert answer["served_by"] == a.health()["worker"] and answer["source"] == "personal"
    # a's model now holds every event exactly once: its own, and b's partitions learned again from where a
    # left them at the rebalance.
    a.wait(lambda h: h["events_learned"] == 9005, what="a to catch up with b's partitions", timeout=30)
    time.sleep(1.0)
    assert a.health()["events_learned"] == 9005
    assert store.count_interactions() == 9005  # nothing lost, nothing stored twice


def test_a_joining_replica_is_ready_only_once_routed_and_never_answers_popular_for_a_known_user(worker_factory):
    a = worker_factory(**FAST)
    produce(a, 3000, seed=3)
    a.wait(lambda h: h["events_learned"] == 3000, what="the stream")
    users = [u for u in (f"u{i}" for i in range(300)) if recommendations(a, u)["source"] == "personal"][:40]
    b = worker_factory(ready=None, **FAST)  # requests start as soon as its HTTP server answers
    answers, ready_codes = [], []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            answers += [recommendations(b, u) for u in users[:10]]
            ready_codes.append(urllib_status(f"{b.api}/readyz"))
        except Exception:  # noqa: BLE001 - b is not listening yet
            time.sleep(0.05)
            continue
        if ready_codes[-1] == 200 and b.health()["partitions"]:
            break
    answers += [recommendations(w, u) for w in (a, b) for u in users]
    assert ready_codes and ready_codes[-1] == 200
    assert len(answers) > 80 and all(x["source"] == "personal" for x in answers), \
        (a.api, b.api, [(k, x["user_id"], x["served_by"], x["events_learned"]) for k, x in enumerate(answers) if x["source"] != "personal"][:8], len(answers))
    assert 503 in ready_codes or ready_codes[0] == 200  # (a fast join may be ready at the first look)


def urllib_status(url: str) -> int:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code
