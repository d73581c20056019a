"""A database outage on a running worker, on a PostgreSQL instance this test starts and stops itself: the worker
keeps serving from memory, holds its offsets, reports the outage, and afterwards every event is stored once and
learned once."""

import threading
import time

import pytest

from recstream.models.store.db import create_db_engine
from recstream.models.store.events import EventStore
from recstream.monitors.metrics import parse
from recstream.stream.app.own_postgres import OwnPostgres, available
from recstream.stream.client import api_get

from .test_checkpoints import produce

pytestmark = pytest.mark.integration


@pytest.fixture
def own_postgres():
    if not available():
        pytest.skip("initdb/pg_ctl not installed")
    pg = OwnPostgres("outage")
    pg.start()
    pg.create_database()
    yield pg
    pg.remove()


def test_a_15_s_database_outage_loses_nothing_and_the_worker_keeps_serving(worker_factory, own_postgres):
    w = worker_factory(RECSTREAM_DATABASE_URL=own_postgres.url, RECSTREAM_WORKER_HEARTBEAT_S="0.5",
                       RECSTREAM_CHECKPOINT_INTERVAL_S="3600")
    produce(w, 2000, seed=11)
    w.wait(lambda h: h["events_learned"] == 2000 and h["database"]["up"], what="the first events")
    user = next(u for u in (f"u{i}" for i in range(300)) if api_get(f"{w.api}/recommendations/{u}")["source"]
                == "personal")

    more = threading.Thread(target=produce, args=(w, 3000, 12), kwargs={"rate": 150})
    more.start()  # ~20 s of events, sent through the whole outage
    time.sleep(2)
    own_postgres.stop()
    stopped = time.monotonic()
    h = w.wait(lambda h: h["database"]["up"] is False, what="the outage to show in /healthz", timeout=10)
    assert h["database"]["failed_probes"] >= 1
    assert parse(api_get_text(f"{w.api}/metrics"))["recstream_database_up"] == 0.0
    while time.monotonic() - stopped < 15:  # serving goes on from memory
        answer = api_get(f"{w.api}/recommendations/{user}")
        assert answer["source"] == "personal" and answer["items"]
        time.sleep(0.5)
    learned_during = w.health()["events_learned"]
    own_postgres.start()
    more.join(60)
    h = w.wait(lambda h: h["events_learned"] >= 5000 and h["database"]["up"], what="catching up", timeout=60)
    time.sleep(2)  # anything learned twice would show now
    h = w.health()
    store = EventStore(create_db_engine(own_postgres.url))
    assert h["events_learned"] == 5000 and store.count_interactions() == 5000, (h["events_learned"], learned_during)
    assert learned_during < 5000  # (batches re-read after the outage are learned once: see "duplicates")
    store.engine.dispose()


def api_get_text(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


def test_a_training_run_that_loses_the_database_fails_cleanly_and_is_retried(own_postgres, tmp_path, monkeypatch):
    from recstream.models.data.synthetic import SyntheticSpec, generate
    from recstream.models.deep.config import DeepConfig
    from recstream.models.retrain import run as retrain_run
    from recstream.models.retrain.config import RetrainConfig
    from recstream.models.store.db import upgrade
    from recstream.models.store.runs import RunQueue
    from recstream.monitors.drift.config import DriftConfig
    from recstream.monitors.schedule import DriftJob, RetrainJobs

    engine = create_db_engine(own_postgres.url)
    upgrade(engine)
    EventStore(engine).add_interactions(list(generate(SyntheticSpec(users=200, items=300, events=6_000))))
    queue = RunQueue(engine)
    first, _ = queue.request_retrain(trigger="operator", requested_by="api:alice", reason="new catalogue")
    jobs = RetrainJobs(engine, RetrainConfig(deep=DeepConfig(dim=8, epochs=1), artefact_dir=tmp_path))
    train = retrain_run._train_and_gate

    def database_goes_away(*args, **kwargs):  # the outage begins once the run is under way
        own_postgres.stop()
        return train(*args, **kwargs)

    monkeypatch.setattr(retrain_run, "_train_and_gate", database_goes_away)
    assert jobs.queued() is None and len(jobs.lost) == 1  # failed without a traceback out of the job
    assert jobs.queued() is None and len(jobs.lost) == 1  # still down: nothing settled, nothing lost
    drift = DriftJob(engine, DriftConfig(report_dir=tmp_path / "drift", window_events=2_000, min_events=500))
    assert drift.run() is None  # a drift report fails cleanly too; the next interval makes it
    monkeypatch.setattr(retrain_run, "_train_and_gate", train)
    own_postgres.start()

    result = jobs.queued()  # back: the lost run is recorded, the lock freed, and the request runs again
    assert result is not None and result.outcome in ("promoted", "candidate", "rejected"), result  # it ran
    runs = {r["id"]: r for r in queue.runs()}
    assert runs[result.run_id]["status"] == result.outcome
    assert runs[first]["status"] == "failed" and "database went away" in runs[first]["error"]
    retry = runs[result.run_id]
    assert retry["id"] != first and (retry["trigger"], retry["requested_by"]) == ("operator", "api:alice")
    assert retry["reason"].startswith(f"retry of run {first}")
    assert queue.training_lock_holder() is None and not jobs.lost
    assert drift.run().report["n_columns"] > 0
    engine.dispose()
