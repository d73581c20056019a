"""Broker faults while events keep being produced: the broker process frozen for longer than the consumer session
timeout (an outage as clients see it), and the broker stopped and started again. Producer and worker carry on
afterwards; nothing is lost or learned twice.

The restart needs a broker whose topics outlive the process: the embedded broker (tansu) keeps them in memory by
default, so that test runs it on its S3 storage engine, backed by moto's S3 server on loopback (the broker and the
Kafka clients are the real ones; moto only stands in for the object store under the broker's log)."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from kafka import KafkaProducer

from recstream.models.store.db import create_db_engine
from recstream.models.store.events import EventStore
from recstream.monitors.metrics import parse
from recstream.stream.kafka.broker import EmbeddedBroker, free_port, wait_for_port

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
            assert w.health()["broker"]["up"] is False  # and the outage shows
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
        w.stop()  # before its broker goes: a worker stopping without one waits out its 15 s shutdown timeout


@pytest.fixture
def s3_storage(tmp_path: Path) -> Iterator[dict[str, str]]:
    """An S3 endpoint on loopback (moto's server) with a bucket `tansu`; yields the broker's AWS_* settings."""
    port = free_port()
    log = (tmp_path / "s3.log").open("wb")
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        assert wait_for_port("127.0.0.1", port, 30), "the S3 server did not start"
        env = {"AWS_ENDPOINT": f"http://127.0.0.1:{port}", "AWS_ALLOW_HTTP": "true", "AWS_ACCESS_KEY_ID": "test",
               "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}
        boto3.client("s3", endpoint_url=env["AWS_ENDPOINT"], aws_access_key_id="test",
                     aws_secret_access_key="test", region_name="us-east-1").create_bucket(Bucket="tansu")
        yield env
    finally:
        server.terminate()
        server.wait(10)


def test_a_broker_restart_loses_nothing_and_workers_and_producers_reconnect(worker_factory, s3_storage, tmp_path):
    broker = EmbeddedBroker(storage="s3://tansu/", env=s3_storage, log_path=tmp_path / "broker.log").start()
    try:
        w = worker_factory(RECSTREAM_BOOTSTRAP=broker.bootstrap)
        topic = w.env["RECSTREAM_TOPIC_BEHAVIOUR"]
        p = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=5, request_timeout_ms=60_000,
                          delivery_timeout_ms=180_000, reconnect_backoff_max_ms=1000)
        send(p, topic, 0, 2000)
        p.flush()
        w.wait(lambda h: h["events_learned"] >= 2000, what="events before the restart")

        broker.stop()  # SIGTERM: the process is gone; its port closes
        assert not wait_for_port("127.0.0.1", broker.port, 0.5)
        during = threading.Thread(target=send, args=(p, topic, 2000, 3000))  # buffered by the producer
        during.start()
        time.sleep(4)
        assert w.process.poll() is None and w.health()["status"] == "ok"  # serving goes on meanwhile
        down = w.wait(lambda h: h["broker"]["up"] is False, timeout=15, what="the outage to show")
        assert down["broker"]["failed_probes"] >= 1
        with urllib.request.urlopen(f"{w.api}/metrics") as r:
            metrics = parse(r.read().decode())
        assert metrics["recstream_broker_up"] == 0 and metrics["recstream_broker_failed_probes_total"] >= 1
        broker.start()  # same port, same storage: the topics, their records and the group's offsets are back

        during.join(60)
        send(p, topic, 3000, 4000)
        p.flush(timeout=120)
        h = w.wait(lambda h: h["events_learned"] >= 4000, timeout=120, what="events after the restart")
        time.sleep(1.0)
        assert w.process.poll() is None  # the same worker process, reconnected
        assert w.health()["events_learned"] == 4000  # none learned twice
        assert EventStore(create_db_engine(w.env["RECSTREAM_DATABASE_URL"])).count_interactions() == 4000
        with urllib.request.urlopen(f"{w.api}/metrics") as r:
            metrics = parse(r.read().decode())
        assert metrics["recstream_events_learned_total"] == 4000
        assert metrics["recstream_broker_up"] == 1
        assert sum(v for k, v in metrics.items() if k.startswith("recstream_consumer_lag{")) == 0
        assert h["pipeline"]["dead_lettered"] == {}
        p.close()
        w.stop()  # before its broker goes (see above)
    finally:
        broker.stop()
