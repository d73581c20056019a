"""Online-model checkpoints on running workers: a `kill -9` mid-stream resumes from the checkpoint and its offsets
(nothing lost, nothing learned twice), and rolling the online model back restores its earlier state."""

import json
import os
import signal
import time

import pytest

from recstream.models.store.db import create_db_engine
from recstream.models.store.events import EventStore
from recstream.models.store.registry import Registry
from recstream.stream.client import api_get

from .test_cli import recstream

pytestmark = pytest.mark.integration

FAST = {"RECSTREAM_CHECKPOINT_INTERVAL_S": "1"}


def registry(w) -> Registry:
    return Registry(create_db_engine(w.env["RECSTREAM_DATABASE_URL"]))


def produce(w, events: int, seed: int, rate: float | None = None, **extra: str):
    args = ["produce", "--synthetic", "--events", str(events), "--users", "300", "--items", "400", "--seed",
            str(seed)] + (["--rate", str(rate)] if rate else [])
    for k, v in extra.items():
        args += [f"--{k.replace('_', '-')}", v]
    out = recstream(*args, env=w.env, timeout=120)
    assert out.returncode == 0, out.stderr


def checkpoint_covering(w, learned: int, timeout: float = 20.0):
    """Wait for the worker's live online checkpoint to hold `learned` events; return its version."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        live = registry(w).live("online")
        if live is not None and live.n_interactions == learned and w.health()["online_checkpoint"] == live.name:
            return live
        time.sleep(0.2)
    raise AssertionError(f"no checkpoint of {learned} events; live {registry(w).live('online')}")


def test_kill_9_mid_stream_resumes_from_the_checkpoint_without_losing_or_relearning(worker_factory, s3_prefix):
    bucket = {**FAST, "RECSTREAM_ARTEFACT_URL": s3_prefix}  # checkpoints in object storage, not on this host
    w = worker_factory(**bucket)
    produce(w, 6000, seed=1)
    w.wait(lambda h: h["events_learned"] == 6000, what="the first stream")
    first = checkpoint_covering(w, 6000)
    assert first.params["offsets"] and sum(first.params["offsets"].values()) >= 6000  # offsets saved with it
    assert first.artefact.startswith(s3_prefix + "/online/")

    # More events, slowly enough that the worker is mid-stream when it is killed.
    produce(w, 6000, seed=2, rate=3000)
    w.wait(lambda h: 6000 < h["events_learned"], what="learning to resume", timeout=30)
    os.kill(w.process.pid, signal.SIGKILL)
    w.process.wait(10)
    before_kill = registry(w).live("online")

    again = worker_factory(**bucket)  # same topics, group, database and bucket
    # (it restores once the group assigns it partitions: the checkpoint with the least left to learn again)
    h = again.wait(lambda h: h["online_checkpoint"] is not None, what="the checkpoint restored", timeout=30)
    assert h["online_checkpoint"] == before_kill.name
    assert h["events_learned"] >= before_kill.n_interactions > 0  # resumed from the checkpoint, not from scratch
    again.wait(lambda h: h["events_learned"] >= 12000, what="the rest of the stream", timeout=60)
    time.sleep(1.0)  # anything learned twice would show up as more than 12,000
    assert again.health()["events_learned"] == 12000
    assert EventStore(create_db_engine(w.env["RECSTREAM_DATABASE_URL"])).count_interactions() == 12000


def test_rolling_the_online_model_back_restores_its_earlier_state(worker_factory):
    w = worker_factory(**FAST)
    produce(w, 6000, seed=3)
    w.wait(lambda h: h["events_learned"] == 6000, what="the first stream")
    first = checkpoint_covering(w, 6000)
    before = api_get(f"{w.api}/recommendations/u1?k=10")

    produce(w, 6000, seed=4, shift_at="0")  # tastes rotate: the model learns something else
    w.wait(lambda h: h["events_learned"] == 12000, what="the second stream")
    second = checkpoint_covering(w, 12000)
    assert api_get(f"{w.api}/recommendations/u1?k=10")["items"] != before["items"]

    # (checkpoints may also have been taken mid-stream: go back to the one before the second stream)
    out = recstream("models", "rollback", "--to", first.name, "--reason", "bad events in the second batch",
                    env=w.env)
    assert out.returncode == 0 and f"{first.name} is live" in out.stdout, out.stdout + out.stderr
    deadline = time.monotonic() + 2
    while w.health()["online_checkpoint"] != first.name:
        assert time.monotonic() < deadline, "the worker did not restore the checkpoint within 2 s"
        time.sleep(0.05)
    assert w.health()["events_learned"] == 6000
    assert api_get(f"{w.api}/recommendations/u1?k=10")["items"] == before["items"]
    shown = json.loads(recstream("models", "show", second.name, env=w.env).stdout)
    assert shown["status"] == "rolled_back" and shown["audit"][0]["reason"] == "bad events in the second batch"
    # Learning goes on from the restored state; the next checkpoint is a new version on top of it.
    produce(w, 500, seed=5)
    w.wait(lambda h: h["events_learned"] == 6500, what="learning after the rollback")
    latest, reg = checkpoint_covering(w, 6500), registry(w)
    lineage = []  # checkpoints may also be taken mid-stream: follow the parents back
    v = latest
    while v.parent_id is not None:
        v = reg.get(v.parent_id)
        lineage.append(v.id)
    assert first.id in lineage and second.id not in lineage  # it grew from the restored state
