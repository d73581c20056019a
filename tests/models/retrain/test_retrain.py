"""Retraining against a real database: register with parent and metrics, gate, record failures, never overlap."""

import pytest

from recstream.models.data.synthetic import SyntheticSpec, generate
from recstream.models.deep.config import DeepConfig
from recstream.models.deep.versions import load_model
from recstream.models.errors import TrainingBusy
from recstream.models.retrain.config import RetrainConfig
from recstream.models.retrain.run import retrain
from recstream.models.store.events import EventStore
from recstream.models.store.registry import Registry
from recstream.models.store.runs import RunQueue

FAST = DeepConfig(dim=16, epochs=3, batch_size=512, learning_rate=5e-3)


@pytest.fixture
def stocked(engine):
    EventStore(engine).add_interactions(list(generate(SyntheticSpec(users=300, items=400, events=20_000))))
    return engine


def config(tmp_path, **kw) -> RetrainConfig:
    return RetrainConfig(deep=kw.pop("deep", FAST), artefact_dir=kw.pop("artefact_dir", tmp_path / "artefacts"), **kw)


def test_first_run_beats_popularity_and_goes_live(stocked, tmp_path):
    r = retrain(stocked, config(tmp_path), trigger="manual", requested_by="test")
    assert r.outcome == "promoted", r.metrics.get("gate")
    m = r.version.metrics
    assert m["candidate"]["ndcg_at_10"] > m["popularity"]["ndcg_at_10"] and m["live"] is None
    assert r.version.parent_id is None and r.version.window_start < r.version.window_end
    assert RunQueue(stocked).run(r.run_id)["status"] == "promoted"
    assert load_model(r.version).items  # the artefact verifies and loads


def test_a_run_on_two_processes_trains_the_candidate_one_process_trains(stocked, tmp_path):
    one = retrain(stocked, config(tmp_path, auto_promote=False), trigger="manual", requested_by="test")
    two = retrain(stocked, config(tmp_path, auto_promote=False, processes=2), trigger="manual", requested_by="test")
    ndcg = [r.metrics["candidate"]["ndcg_at_10"] for r in (one, two)]
    assert ndcg[0] > one.metrics["popularity"]["ndcg_at_10"]
    assert abs(ndcg[1] - ndcg[0]) <= 0.01 * ndcg[0]  # torch.distributed: within 1% (the same steps, in fact)
    assert load_model(two.version).items == load_model(one.version).items


def test_second_run_warm_starts_from_live_and_records_the_parent(stocked, tmp_path):
    first = retrain(stocked, config(tmp_path), trigger="manual", requested_by="test")
    second = retrain(stocked, config(tmp_path), trigger="schedule", requested_by="scheduler")
    assert second.version.parent_id == first.version.id
    assert second.metrics["warm_start"] and second.metrics["live_version"] == first.version.name
    assert second.metrics["live"]["ndcg_at_10"] == pytest.approx(first.metrics["candidate"]["ndcg_at_10"], abs=0.02)


def test_a_worse_candidate_is_kept_as_rejected_and_live_stays(stocked, tmp_path):
    first = retrain(stocked, config(tmp_path), trigger="manual", requested_by="test")
    # An untrained model (0 epochs, no warm start) is worse than popularity and than live.
    worse = retrain(stocked, config(tmp_path, warm_start=False, deep=DeepConfig(dim=16, epochs=0)),
                    trigger="manual", requested_by="test")
    assert worse.outcome == "rejected" and worse.version.status == "rejected"
    assert "does not beat" in worse.version.metrics["gate"]["reason"]
    # Better than popularity but short of live by the margin: rejected too, naming live.
    short = retrain(stocked, config(tmp_path, promote_margin=1.0), trigger="manual", requested_by="test")
    assert short.outcome == "rejected" and "does not beat live" in short.metrics["gate"]["reason"]
    assert Registry(stocked).live().id == first.version.id


def test_a_failed_run_is_recorded_and_live_untouched(stocked, tmp_path):
    first = retrain(stocked, config(tmp_path), trigger="manual", requested_by="test")
    failed = retrain(stocked, config(tmp_path, min_interactions=10**9), trigger="drift", requested_by="monitor")
    assert failed.outcome == "failed" and "positive interactions" in failed.error
    run = RunQueue(stocked).run(failed.run_id)
    assert run["status"] == "failed" and "positive interactions" in run["error"]
    assert Registry(stocked).live().id == first.version.id
    assert RunQueue(stocked).training_lock_holder() is None  # released after failure


def test_runs_never_overlap(stocked, tmp_path):
    reg = RunQueue(stocked)
    assert reg.acquire_training_lock("someone-else")
    with pytest.raises(TrainingBusy, match="someone-else"):
        retrain(stocked, config(tmp_path), trigger="manual", requested_by="test")
    assert reg.runs() == []  # a refused run records nothing: the request stays queued


@pytest.fixture
def full_disk(tmp_path):
    """A 512 KiB tmpfs (a real filesystem that runs out of space), filled to within 4 KiB; skipped where this
    process may not mount (it needs root)."""
    import os
    import subprocess

    where = tmp_path / "small-disk"
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(where)], capture_output=True,
                             check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    filler = where / "filler"
    free = os.statvfs(where).f_bavail * os.statvfs(where).f_frsize
    filler.write_bytes(b"\0" * (free - 4096))
    yield where, filler
    subprocess.run(["umount", str(where)], check=False)


def test_a_retrain_that_cannot_write_its_artefact_fails_cleanly_and_succeeds_once_space_returns(stocked, tmp_path,
                                                                                              full_disk):
    first = retrain(stocked, config(tmp_path), trigger="manual", requested_by="test")
    small, filler = full_disk
    no_space = retrain(stocked, config(tmp_path, artefact_dir=small), trigger="schedule", requested_by="scheduler")
    assert no_space.outcome == "failed" and "No space left" in no_space.error
    assert RunQueue(stocked).run(no_space.run_id)["status"] == "failed"
    assert Registry(stocked).live().id == first.version.id  # the live version keeps serving
    assert sorted(p.name for p in small.iterdir()) == ["filler"]  # no half-written artefact left behind
    assert RunQueue(stocked).training_lock_holder() is None
    filler.unlink()  # space returns
    again = retrain(stocked, config(tmp_path, artefact_dir=small), trigger="schedule", requested_by="scheduler")
    assert again.outcome == "promoted" and Registry(stocked).live().id == again.version.id
    assert load_model(again.version).items
