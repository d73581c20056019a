"""The whole loop on the real embedded broker, with real worker processes and a client we did not write."""

import json
import os
import signal
import time
from pathlib import Path

import pytest
from kafka import KafkaProducer

from recstream.models.store.db import create_db_engine
from recstream.models.store.events import EventStore
from recstream.stream.client import api_get
from recstream.stream.ingest.dead_letters import read_dead_letters

pytestmark = pytest.mark.integration


def event(i: int, user: str, item: str, type_: str = "click", ts: float | None = None) -> bytes:
    return json.dumps({"event_id": f"ev-{i}", "user_id": user, "item_id": item, "type": type_,
                       "ts": ts or time.time()}).encode()


def producer(bootstrap: str) -> KafkaProducer:
    return KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)


@pytest.mark.parametrize("exact_below", ["50000", "0"])  # 0: every request scores the index's candidates
def test_events_from_kafka_python_change_a_users_recommendations(worker_factory, exact_below):
    w = worker_factory(RECSTREAM_RETRIEVAL_EXACT_BELOW=exact_below)
    p = producer(w.env["RECSTREAM_BOOTSTRAP"])
    topic = w.env["RECSTREAM_TOPIC_BEHAVIOUR"]
    # A crowd makes i-hot popular; alice then buys two things.
    for i in range(200):
        user = f"crowd{i % 40}"
        p.send(topic, key=user.encode(), value=event(i, user, "i-hot" if i % 2 else f"i{i % 30}"))
    p.flush()
    w.wait(lambda h: h["events_learned"] >= 200, what="the crowd's events")
    before = api_get(f"{w.api}/recommendations/alice?k=5")
    assert before["source"] == "popular" and before["items"][0]["item_id"] == "i-hot"
    assert before["rec_id"] and before["model_version"] == "online:biased_mf"

    sent = time.monotonic()
    p.send(topic, key=b"alice", value=event(1000, "alice", "i-hot", "purchase"))
    p.send(topic, key=b"alice", value=event(1001, "alice", "i7", "purchase"))
    p.flush()
    while True:
        after = api_get(f"{w.api}/recommendations/alice?k=5")
        if after["source"] == "personal":
            break
        assert time.monotonic() - sent < 10, "alice's events never reached her recommendations"
        time.sleep(0.05)
    ids = [i["item_id"] for i in after["items"]]
    assert "i-hot" not in ids and "i7" not in ids  # bought items are not recommended back
    assert ids != [i["item_id"] for i in before["items"]]
    retrieval = w.health()["retrieval"]
    if exact_below == "0":  # built in a thread on the first request; every one since was served from it
        assert retrieval["builds"] >= 1 and retrieval["index"]["items"] >= 16  # the crowd's items
    else:
        assert retrieval["builds"] == 0 and retrieval["index"] is None


def test_mixed_valid_and_malformed_events_store_exactly_the_valid_ones(worker_factory):
    w = worker_factory()
    bootstrap, topic = w.env["RECSTREAM_BOOTSTRAP"], w.env["RECSTREAM_TOPIC_BEHAVIOUR"]
    p = producer(bootstrap)
    malformed = [
        (b"u1", b"this is not json"),
        (b"u1", json.dumps({"event_id": "x", "user_id": "u1", "item_id": "i", "type": "teleport",
                            "ts": time.time()}).encode()),
        (b"u1", json.dumps({"user_id": "u1", "item_id": "i", "type": "view", "ts": time.time()}).encode()),
        (b"u1", json.dumps({"event_id": "x", "user_id": "u1", "item_id": "i", "type": "view", "ts": 3}).encode()),
        (None, event(0, "u1", "i1")),
    ]
    ts0 = time.time() - 3600
    for i in range(1000):
        user = f"u{i % 50}"
        p.send(topic, key=user.encode(), value=event(i, user, f"i{i % 80}", "view", ts0 + i))
        if i % 5 == 0:
            key, value = malformed[(i // 5) % len(malformed)]
            p.send(topic, key=key, value=value)
    p.flush()
    h = w.wait(lambda h: h["pipeline"]["consumed"] >= 1200, what="1,200 messages")
    store = EventStore(create_db_engine(w.env["RECSTREAM_DATABASE_URL"]))
    assert store.count_interactions() == 1000
    assert sum(h["pipeline"]["dead_lettered"].values()) == 200
    assert h["events_learned"] == 1000

    letters = read_dead_letters(bootstrap, w.env["RECSTREAM_TOPIC_DEAD_LETTER"], limit=500, timeout_s=5)
    assert len(letters) == 200
    assert {d["code"] for d in letters} == {"not_json", "schema", "bad_timestamp", "key_mismatch"}
    assert all(d["reason"] and d["source_topic"] == topic and d["source_offset"].isdigit() for d in letters)
    assert any(d["value"] == "this is not json" for d in letters)  # the original bytes, untouched

    # Redelivering the same valid events (a producer retry, a replay) adds no rows and teaches nothing twice.
    for i in range(1000):
        user = f"u{i % 50}"
        p.send(topic, key=user.encode(), value=event(i, user, f"i{i % 80}", "view", ts0 + i))
    p.flush()
    h = w.wait(lambda h: h["pipeline"]["consumed"] >= 2200, what="the redelivery")
    assert store.count_interactions() == 1000
    # (>=: the producer's own retries, at least once under load, show up as duplicates too; none is learned)
    assert h["events_learned"] == 1000 and h["pipeline"]["duplicates"] >= 1000


def test_http_api_answers_bad_parameters_clearly(worker_factory):
    w = worker_factory()
    import urllib.error
    import urllib.request

    for query, words in (("k=ten", "k must be an integer"), ("k=0", "between 1 and 200"),
                         ("exclude_seen=maybe", "true or false")):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{w.api}/recommendations/alice?{query}")
        assert err.value.code == 400 and words in json.loads(err.value.read())["error"]
    empty = api_get(f"{w.api}/recommendations/nobody?k=3")
    assert empty["items"] == [] and empty["source"] == "popular"
    assert api_get(f"{w.api}/healthz")["status"] == "ok"


def proc_stat(pid: int | str) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state, parent, ...); None once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def children(pid: int) -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and (f := proc_stat(p)) is not None
            and int(f[1]) == pid]


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc")
def test_kill_9_of_a_worker_leaves_no_helper_process_behind(worker_factory):
    w = worker_factory()
    p = producer(w.env["RECSTREAM_BOOTSTRAP"])
    for i in range(50):
        p.send(w.env["RECSTREAM_TOPIC_BEHAVIOUR"], key=b"u1", value=event(i, "u1", f"i{i}"))
    p.flush()
    w.wait(lambda h: h["events_learned"] >= 50, what="events")  # the helper process exists by now
    helpers = children(w.process.pid)
    assert helpers
    w.process.send_signal(signal.SIGKILL)
    w.process.wait()
    deadline = time.monotonic() + 10
    while any((f := proc_stat(c)) is not None and f[0] != "Z" for c in helpers):
        assert time.monotonic() < deadline, "helper processes outlived their worker"
        time.sleep(0.2)


def test_a_librdkafka_client_produces_events_the_worker_learns(worker_factory):
    """confluent-kafka (librdkafka), with the Java-compatible partitioner the README asks for."""
    confluent_kafka = pytest.importorskip("confluent_kafka")
    w = worker_factory()
    p = confluent_kafka.Producer({"bootstrap.servers": w.env["RECSTREAM_BOOTSTRAP"],
                                  "partitioner": "murmur2_random"})
    topic = w.env["RECSTREAM_TOPIC_BEHAVIOUR"]
    for i in range(20):
        p.produce(topic, key=b"carol", value=event(5000 + i, "carol", f"i{i}", "view"))
        p.produce(topic, key=b"dave", value=event(6000 + i, "dave", f"j{i % 8}", "click"))
    assert p.flush(10) == 0
    w.wait(lambda h: h["events_learned"] >= 40, what="events from confluent-kafka")
    recs = api_get(f"{w.api}/recommendations/carol?k=5")
    assert recs["source"] == "personal"
    items = [i["item_id"] for i in recs["items"]]
    assert len(items) == 5 and all(i.startswith("j") for i in items)  # everything carol has not seen


def feedback(i: int, user: str, item: str, action: str, answer: dict, ts: float) -> bytes:
    return json.dumps({"event_id": f"fb-{i}", "user_id": user, "item_id": item, "action": action, "ts": ts,
                       "rec_id": answer["rec_id"], "model_version": answer["model_version"]}).encode()


def test_what_a_user_was_shown_and_ignored_leaves_their_list_and_a_click_is_learned_once(worker_factory):
    w = worker_factory()
    p = producer(w.env["RECSTREAM_BOOTSTRAP"])
    behaviour, fb_topic = w.env["RECSTREAM_TOPIC_BEHAVIOUR"], w.env["RECSTREAM_TOPIC_FEEDBACK"]
    now = time.time() - 3600
    for i in range(300):
        user = f"crowd{i % 30}"
        p.send(behaviour, key=user.encode(), value=event(i, user, f"i{i % 25}", ts=now + i))
    p.send(behaviour, key=b"bob", value=event(999, "bob", "i3", ts=now + 300))
    p.flush()
    w.wait(lambda h: h["events_learned"] >= 301, what="the crowd's events")
    shown = api_get(f"{w.api}/recommendations/bob?k=3")
    top3 = [i["item_id"] for i in shown["items"]]
    # Bob is shown three items, clicks the third (the widget and the site's tracker both report it), ignores
    # the others; later feedback moves event time past the exposure window.
    for n, item in enumerate(top3):
        p.send(fb_topic, key=b"bob", value=feedback(n, "bob", item, "impression", shown, now + 400))
    p.send(fb_topic, key=b"bob", value=feedback(5, "bob", top3[2], "click", shown, now + 410))
    p.send(behaviour, key=b"bob", value=event(1000, "bob", top3[2], ts=now + 410))
    p.send(fb_topic, key=b"carol", value=feedback(6, "carol", "i1", "impression", shown, now + 1100))
    p.flush()
    # Both copies of the click handled (the two topics are read side by side, either may come first) ...
    h = w.wait(lambda h: h["feedback"]["exposure_negatives"] >= 2 and h["feedback"]["repeats_dropped"] >= 1,
               what="the ignored impressions and the click's second copy", timeout=15)
    assert h["events_learned"] == 302 and h["feedback"]["repeats_dropped"] == 1  # ... and the click learned once
    after = [i["item_id"] for i in api_get(f"{w.api}/recommendations/bob?k=3")["items"]]
    assert not set(top3) & set(after), (top3, after)  # ignored ones demoted, the clicked one is bob's now


def test_a_real_worker_evicts_an_idle_user_to_the_database_and_serves_them_as_before(worker_factory):
    w = worker_factory(RECSTREAM_ONLINE_EVICT_AFTER_S="600", RECSTREAM_ONLINE_EVICT_EVERY_S="0.5")
    p = producer(w.env["RECSTREAM_BOOTSTRAP"])
    topic = w.env["RECSTREAM_TOPIC_BEHAVIOUR"]
    now = time.time()
    # Alice's events are an hour old (event time); the crowd's are now: she is idle past the 10 minutes.
    for k, item in enumerate(("i1", "i2", "i3")):
        p.send(topic, key=b"alice", value=event(k, "alice", item, ts=now - 3600 + k))
    for i in range(200):
        user = f"crowd{i % 40}"
        p.send(topic, key=user.encode(), value=event(100 + i, user, f"i{i % 30}", ts=now))
    p.flush()
    w.wait(lambda h: h["events_learned"] >= 203 and h["eviction"]["evicted"] >= 1, what="alice's eviction")
    assert w.health()["users"] == 40  # the crowd; alice is in the database
    answer = api_get(f"{w.api}/recommendations/alice?k=5")  # read back before it is answered
    assert answer["source"] == "personal" and not {"i1", "i2", "i3"} & {i["item_id"] for i in answer["items"]}
    assert w.health()["eviction"]["readmitted"] == 1 and w.health()["users"] == 41
    p.send(topic, key=b"alice", value=event(999, "alice", "i4", ts=now))
    p.flush()
    w.wait(lambda h: h["events_learned"] >= 204, what="alice's next event")
    assert "i4" not in {i["item_id"] for i in api_get(f"{w.api}/recommendations/alice?k=5")["items"]}
