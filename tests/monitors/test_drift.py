"""Drift runs on real databases: a preference shift is caught and triggers one retrain; a stationary stream is not
flagged; reports are stored, listed and readable; the trigger respects its streak and cool-down."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import update

from recstream.models.artefacts import storage
from recstream.models.data.synthetic import SyntheticSpec, generate
from recstream.models.online.config import OnlineConfig
from recstream.models.online.recommender import OnlineRecommender
from recstream.models.store.events import EventStore
from recstream.models.store.registry import Registry
from recstream.models.store.runs import RunQueue
from recstream.models.store.schema import drift_reports
from recstream.monitors.drift.config import DriftConfig
from recstream.monitors.drift.reports import (
    ReportNotFound,
    get_report,
    list_reports,
    report_file,
    store_probes,
)
from recstream.monitors.drift.run import run_drift

WINDOW = 5_000
#: Windows 0-3 warm the online model up; window 4 is the pinned reference (its outputs have settled).
REF = 4


def replay(engine, spec: SyntheticSpec) -> list[tuple[float, float]]:
    """Store `spec`'s stream window by window while an online model learns it, as a worker does (probes and
    all); returns each window's event-time bounds."""
    store, rec = EventStore(engine), OnlineRecommender(OnlineConfig())
    events = list(generate(spec))
    bounds = []
    for start in range(0, len(events), WINDOW):
        chunk = events[start:start + WINDOW]
        store.add_interactions(chunk)
        for i in range(0, len(chunk), 30):
            rec.learn(chunk[i:i + 30])
        store_probes(engine, rec.prequential.drain(), "test")
        bounds.append((chunk[0].ts, chunk[-1].ts))
    return bounds


def config(tmp_path: Path, bounds: list[tuple[float, float]], **kw) -> DriftConfig:
    """Defaults except the pinned reference (after warm-up) and the window size."""
    return DriftConfig(window_events=WINDOW, reference_start=bounds[REF][0] - 1e-6, reference_end=bounds[REF][1],
                       report_dir=tmp_path / "drift", **kw)


def test_a_stationary_stream_is_not_flagged_over_ten_windows(engine, tmp_path):
    bounds = replay(engine, SyntheticSpec(events=WINDOW * (REF + 12), drift=0.0, seed=3))
    cfg = config(tmp_path, bounds)
    shares = []
    for w in range(REF + 1, len(bounds)):
        report = run_drift(engine, cfg, until=bounds[w][1]).report
        assert report is not None and report["cur_rows"] == WINDOW
        assert report["cur_start"] == bounds[w][0] and report["cur_end"] == bounds[w][1]
        shares.append(report["drift_share"])
        assert not report["drifted"], (w, report["columns"])
    assert len(shares) >= 10
    assert not RunQueue(engine).runs()  # nothing asked for a retrain


def test_a_preference_shift_is_caught_within_a_window_and_requests_one_linked_retrain(engine, tmp_path):
    shift_window = REF + 2
    bounds = replay(engine, SyntheticSpec(events=WINDOW * (REF + 6), drift=0.0, seed=3,
                                          shift_at=WINDOW * shift_window))
    cfg = config(tmp_path, bounds)
    reports = [run_drift(engine, cfg, until=bounds[w][1]).report for w in range(REF + 1, len(bounds))]
    before, first, second, third = reports[0], reports[1], reports[2], reports[3]
    assert not before["drifted"]
    # The first window after the shift already drifts, on the columns that say what people like.
    assert first["drifted"], first["columns"]
    assert first["columns"]["item_popularity_rank"]["drifted"] and first["columns"]["item_mix"]["drifted"]
    assert not first["columns"]["event_type"]["drifted"]  # the funnel did not change
    assert first["retrain_run_id"] is None and "1 of 2 consecutive" in first["action"]
    # The second in a row requests a retrain and records which report did.
    assert second["drifted"] and second["retrain_run_id"] is not None
    run = RunQueue(engine).run(second["retrain_run_id"])
    assert run["trigger"] == "drift" and run["status"] == "requested"
    assert f"drift report {second['id']}" in run["reason"]
    assert get_report(engine, second["id"])["retrain_run_id"] == run["id"]
    # Still drifting, inside the cool-down: no second request.
    assert third["drifted"] and third["retrain_run_id"] is None and "cool-down" in third["action"]
    assert len(RunQueue(engine).runs()) == 1


def test_retraining_on_drift_can_be_switched_off(engine, tmp_path):
    bounds = replay(engine, SyntheticSpec(events=WINDOW * (REF + 3), drift=0.0, seed=4, shift_at=WINDOW * (REF + 1)))
    cfg = config(tmp_path, bounds, consecutive=1, trigger_retrain=False)
    report = run_drift(engine, cfg, until=bounds[REF + 1][1]).report
    assert report["drifted"] and report["retrain_run_id"] is None and "off" in report["action"]
    assert not RunQueue(engine).runs()


def test_reports_are_kept_listed_and_readable(engine, tmp_path):
    bounds = replay(engine, SyntheticSpec(events=WINDOW * (REF + 3), drift=0.0, seed=5))
    cfg = config(tmp_path, bounds)
    ids = [run_drift(engine, cfg, until=bounds[w][1]).report["id"] for w in (REF + 1, REF + 2)]
    listed = list_reports(engine)
    assert [r["id"] for r in listed] == ids[::-1]  # newest first
    html = report_file(engine, ids[0], "html", cfg.report_dir).decode()
    assert "<html" in html.lower() and "item_popularity_rank" in html  # the columns are in the page
    snapshot = json.loads(report_file(engine, ids[0], "json", cfg.report_dir))
    assert "metrics" in snapshot
    full = get_report(engine, ids[0])
    judged = [c for c, v in full["columns"].items() if "skipped" not in v]
    assert full["n_columns"] == len(judged) >= 6
    assert full["columns"]["hour_of_day"]["skipped"].startswith("a window covers less than a day")
    with pytest.raises(ReportNotFound, match="no drift report 999"):
        get_report(engine, 999)
    Path(get_report(engine, ids[1])["html_path"]).unlink()
    with pytest.raises(ReportNotFound, match="is missing"):
        report_file(engine, ids[1], "html", cfg.report_dir)


def test_a_report_row_pointing_outside_the_report_directory_is_refused(engine, tmp_path):
    bounds = replay(engine, SyntheticSpec(events=WINDOW * (REF + 2), drift=0.0, seed=5))
    cfg = config(tmp_path, bounds)
    rid = run_drift(engine, cfg, until=bounds[REF + 1][1]).report["id"]
    secret = tmp_path / "secret.txt"
    secret.write_text("RECSTREAM_OPERATOR_TOKEN=do-not-leak")
    for outside in (str(secret), str(Path(cfg.report_dir) / ".." / "secret.txt"), "/proc/self/environ"):
        with engine.begin() as conn:  # whoever can write the database
            conn.execute(update(drift_reports).where(drift_reports.c.id == rid).values(json_path=outside))
        with pytest.raises(ReportNotFound, match="outside RECSTREAM_DRIFT_REPORT_DIR"):
            report_file(engine, rid, "json", cfg.report_dir)
    assert storage.within("s3://b/drift/1.json", "s3://b/drift") and not storage.within("s3://b/other/1", "s3://b/drift")
    assert not storage.within("s3://b/drift/../x", "s3://b/drift") and not storage.within("/etc/passwd", "s3://b/d")


def test_a_run_without_enough_new_events_is_skipped_with_a_reason(engine, tmp_path):
    replay(engine, SyntheticSpec(events=WINDOW * 2, drift=0.0, seed=6))
    cfg = DriftConfig(window_events=WINDOW * 2, report_dir=tmp_path / "drift")
    result = run_drift(engine, cfg)  # the oldest 10k events are the reference: nothing newer
    assert result.report is None and "only 0 events after the reference (oldest" in result.skipped
    assert list_reports(engine) == []
    report = run_drift(engine, replace(cfg, window_events=2_000)).report
    assert report["reference"] == "oldest" and report["ref_rows"] == report["cur_rows"] == 2_000
    assert report["cur_start"] > report["ref_end"]  # the windows never overlap


def test_the_reference_is_the_live_models_training_window_by_default(engine, tmp_path):
    bounds = replay(engine, SyntheticSpec(events=WINDOW * 4, drift=0.0, seed=8))
    reg = Registry(engine)
    trained_on = (bounds[0][0], bounds[1][1])  # what the live version was trained on: windows 0-1
    v = reg.register("deep", artefact="/nowhere.pt", sha256="0" * 64, window=trained_on)
    reg.promote(v.id, actor="test", reason="live")
    report = run_drift(engine, DriftConfig(window_events=WINDOW, report_dir=tmp_path)).report
    assert report["reference"] == f"live-model {v.name}"
    # its newest WINDOW events, compared with the newest WINDOW events after it
    assert (report["ref_start"], report["ref_end"]) == bounds[1]
    assert (report["cur_start"], report["cur_end"]) == bounds[3]
