"""The retrain scheduler: two scheduler processes' worth of jobs on one database never train at once."""

import itertools
import time

from apscheduler.schedulers.background import BackgroundScheduler

from recstream.models.data.synthetic import SyntheticSpec, generate
from recstream.models.deep.config import DeepConfig
from recstream.models.retrain.config import RetrainConfig
from recstream.models.store.events import EventStore
from recstream.models.store.registry import Registry
from recstream.models.store.runs import RunQueue
from recstream.monitors.schedule import RetrainJobs, build_scheduler


def test_overlapping_schedules_and_requests_never_train_concurrently(engine, tmp_path):
    EventStore(engine).add_interactions(list(generate(SyntheticSpec(users=200, items=300, events=8_000))))
    cfg = RetrainConfig(deep=DeepConfig(dim=8, epochs=1), artefact_dir=tmp_path, auto_promote=False)
    reg = RunQueue(engine)
    reg.request_retrain(trigger="manual", requested_by="test")
    # Two schedulers (as two `recstream scheduler` processes would be), each firing every 0.2 s.
    scheds = [build_scheduler(RetrainJobs(engine, cfg), interval_s=0.2, cron=None, poll_s=0.1,
                              scheduler=BackgroundScheduler(timezone="UTC")) for _ in range(2)]
    for s in scheds:
        s.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and sum(r["status"] != "requested" for r in reg.runs(100)) < 4:
        time.sleep(0.2)
    for s in scheds:
        s.shutdown(wait=True)
    runs = [r for r in reg.runs(100) if r["started_at"] is not None]
    assert len(runs) >= 4
    assert all(r["status"] in ("candidate", "rejected") for r in runs), runs
    spans = sorted((r["started_at"], r["finished_at"]) for r in runs)
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end, "two trainings overlapped"
    assert any(r["trigger"] == "manual" for r in runs)  # the queued request was served too
    assert reg.training_lock_holder() is None


def test_canary_judge_promotes_a_canary_with_a_clearly_better_click_rate(engine):
    from recstream.models.data.interaction import Feedback
    from recstream.monitors.schedule import CanaryJudge

    reg = Registry(engine)
    v1, v2 = (reg.register("deep", artefact="/a.pt", sha256="0" * 64) for _ in range(2))
    reg.promote(v1.id, actor="t", reason="x")
    reg.start_canary(v2.id, share=0.5, actor="t", reason="x")
    judge = CanaryJudge(engine, min_impressions=500)
    assert judge.judge() == "wait"  # no feedback yet
    now = time.time()
    rows = []
    for version, clicks in ((v1.name, 20), (v2.name, 80)):
        for i in range(600):
            rows.append(Feedback(f"{version}-i{i}", f"r{i}", f"u{i}", "x", "impression", version, now + 1))
            if i < clicks:
                rows.append(Feedback(f"{version}-c{i}", f"r{i}", f"u{i}", "x", "click", version, now + 2))
    EventStore(engine).add_feedback(rows)
    assert judge.judge() == "promote"
    assert reg.live().id == v2.id
    assert reg.audit(v2.id)[0]["actor"] == "canary-judge"


def test_the_scheduler_runs_drift_reports_beside_training_and_survives_a_failing_one(engine, tmp_path):
    from recstream.monitors.drift.config import DriftConfig
    from recstream.monitors.drift.reports import list_reports
    from recstream.monitors.schedule import DriftJob

    EventStore(engine).add_interactions(list(generate(SyntheticSpec(users=200, items=300, events=4_000))))
    cfg = RetrainConfig(deep=DeepConfig(dim=8, epochs=1), artefact_dir=tmp_path, auto_promote=False)
    drift = DriftJob(engine, DriftConfig(window_events=2_000, report_dir=tmp_path / "drift", busy_share=1.0))
    sched = build_scheduler(RetrainJobs(engine, cfg), interval_s=None, cron=None, poll_s=5, drift=drift,
                            drift_every_s=0.2, scheduler=BackgroundScheduler(timezone="UTC"))
    assert sched.get_job("drift-report").executor == "drift"  # not queued behind a training
    sched.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list_reports(engine)) < 2:
        time.sleep(0.2)
    sched.shutdown(wait=True)
    assert len(list_reports(engine)) >= 2
    broken = DriftJob(engine, DriftConfig(window_events=2_000, report_dir=tmp_path / "drift" / "x.html"))
    (tmp_path / "drift" / "x.html").write_text("a file where the report folder should be")
    assert broken.run() is None  # logged, not raised: the next run is still scheduled
