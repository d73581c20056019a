"""Broker faults: the broker process frozen for longer than the consumer session timeout (an outage as clients
see it) while events keep being produced. Producer and worker carry on afterwards; nothing is lost or learned
twice. (A broker *restart* cannot be tested on the embedded broker: its in-memory storage loses the topics.)"""

import json
import os
import signal
import threading
import time
import urllib.request

import pytest
from kafka import KafkaProducer

from recstream.models.db import create_db_engine
from recstream.models.store import EventStore
from recstream.monitors.metrics import parse
from recstream.stream.broker import EmbeddedBroker

pytestmark = pytest.mark.integration


def send(p: KafkaProducer, topic: str, start: int, stop: int) -> None:
    for i in range(start, stop):
        user = f"u{i % 40}"
        p.send(topic, key=user.encode(), value=json.dumps({
            "event_id": f"out-{i}", "user_id": user, "item_id": f"i{i % 60}", "type": "click",
            "ts": time.time()}).encode())


def test_a_broker_outage_longer_than_the_session_timeout_loses_nothing(worker_factory):
    with EmbeddedBroker() as broker:
        w = worker_factory(RECSTREAM_BOOTSTRAP=broker.bootstrap)  # session timeout 6 s in tests
        topic = w.env["RECSTREAM_TOPIC_BEHAVIOUR"]
        p = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=5, request_timeout_ms=60_000,
                          delivery_timeout_ms=180_000)
        send(p, topic, 0, 2000)
        p.flush()
        w.wait(lambda h: h["events_learned"] >= 2000, what="events before the outage")

        os.kill(broker.process.pid, signal.SIGSTOP)
        try:
            during = threading.Thread(target=send, args=(p, topic, 2000, 4000))  # buffered by the producer
            during.start()
            time.sleep(8)
            assert w.process.poll() is None and w.health()["status"] == "ok"  # serving goes on meanwhile
        finally:
            os.kill(broker.process.pid, signal.SIGCONT)
        during.join(60)
        send(p, topic, 4000, 5000)
        p.flush(timeout=120)
        h = w.wait(lambda h: h["events_learned"] >= 5000, timeout=120, what="events after the outage")
        time.sleep(1.0)
        assert w.health()["events_learned"] == 5000  # none learned twice after the re-read
        assert EventStore(create_db_engine(w.env["RECSTREAM_DATABASE_URL"])).count_interactions() == 5000
        with urllib.request.urlopen(f"{w.api}/metrics") as r:
            metrics = parse(r.read().decode())
        assert metrics["recstream_events_learned_total"] == 5000
        assert sum(v for k, v in metrics.items() if k.startswith("recstream_consumer_lag{")) == 0
        assert h["pipeline"]["dead_lettered"] == {}
