"""The operator's commands, run as a user would: the `recstream` entry point in a subprocess."""

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from kafka import KafkaConsumer

from recstream.models.store.db import head_revision
from recstream.stream.kafka.broker import free_port

pytestmark = pytest.mark.integration


def recstream(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "recstream.stream.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout, check=False)  # callers read rc


@pytest.mark.parametrize("stop_with", [signal.SIGINT, signal.SIGTERM])
def test_broker_command_serves_kafka_and_stops_cleanly(stop_with):
    port = free_port()
    # Started with SIGINT ignored, as under nohup or a background shell job (Python then installs no Ctrl-C
    # handler of its own): the command must still stop, and stop its broker, on either signal.
    proc = subprocess.Popen(["/bin/sh", "-c", 'trap "" INT; exec "$0" "$@"',
                             sys.executable, "-m", "recstream.stream.cli", "broker", "--port", str(port)],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert f"bootstrap 127.0.0.1:{port}" in line
        out = recstream("topics", "--bootstrap", f"127.0.0.1:{port}")
        assert out.returncode == 0 and "recstream.behaviour" in out.stdout
    finally:
        proc.send_signal(stop_with)
        proc.wait(20)  # stopping may take the broker's own 5 s grace + 5 s after a kill (EmbeddedBroker.stop)
    assert proc.returncode == 0
    with socket.socket() as s:  # the broker itself is gone too
        assert s.connect_ex(("127.0.0.1", port)) != 0


def test_db_upgrade_then_current(tmp_path):
    url = f"sqlite:///{tmp_path / 'x.db'}"
    assert recstream("db", "current", "--database-url", url).stdout.startswith("current none")
    up = recstream("db", "upgrade", "--database-url", url)
    assert up.returncode == 0 and f"at revision {head_revision()}" in up.stdout


def test_produce_replays_a_csv_file_in_time_order(broker, tmp_path):
    f = tmp_path / "shop.csv"
    f.write_text("user_id,item_id,type,ts\nu2,i2,view,1772366402\nu1,i1,purchase,1772366401\n")
    env = {"RECSTREAM_BOOTSTRAP": broker.bootstrap, "RECSTREAM_TOPIC_BEHAVIOUR": f"csv-{time.time_ns()}"}
    out = recstream("produce", str(f), env=env)
    assert out.returncode == 0, out.stderr
    assert "sent 2 events" in out.stdout
    c = KafkaConsumer(env["RECSTREAM_TOPIC_BEHAVIOUR"], bootstrap_servers=broker.bootstrap,
                      auto_offset_reset="earliest", consumer_timeout_ms=5000)
    got = [(m.key, m.value) for m in c]
    c.close()
    assert sorted(k for k, _ in got) == [b"u1", b"u2"]
    assert all(b'"event_id":"shop-' in v for _, v in got)


@pytest.mark.parametrize("args,words", [
    (["produce"], "give either PATH or --synthetic"),
    (["produce", "/no/such/file.csv"], "no such file"),
    (["worker", "--database-url", "mysql://x@y/z"], "unsupported database"),
    (["produce", "--synthetic", "--bootstrap", "nonsense"], "host:port"),
    (["produce", "--synthetic", "--events", "100", "--shift-at", "500"], "shift_at must be within"),
    (["produce", "--synthetic", "--events", "0"], "--events"),
])
def test_bad_input_gets_one_clear_line(args, words):
    out = recstream(*args)
    assert out.returncode != 0
    assert words in out.stderr
    assert "Traceback" not in out.stderr
