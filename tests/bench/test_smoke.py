"""Every bench that has a smoke mode runs in it and prints the JSON its full run prints: a bench that crashes
or loses a field fails here, not at the next release's measurements."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def smoke(script: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, str(ROOT / "bench" / script), "--smoke", *args], cwd=ROOT,
                         capture_output=True, text=True, check=False, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


def test_served_judges_the_served_list_against_every_reference():
    out = smoke("served.py", "--sessions")
    recall = out["recall_at_10"]
    assert {"served", "popularity", "sr", "sknn"} <= set(recall) and any(k.startswith("ease") for k in recall)
    for name, r in recall.items():
        assert 0.0 <= r["value"] <= 1.0 and r["ci95"][0] <= r["value"] <= r["ci95"][1], name
    best = out["best_reference"]
    assert best in recall and best not in ("served", "online", "deep")
    assert max(v["value"] for k, v in recall.items() if k not in ("served", "online", "deep")) == recall[best]["value"]
    assert out["served_over_best_reference"] == pytest.approx(recall["served"]["value"] / recall[best]["value"],
                                                              abs=2e-3)
    assert set(out["scale_out"]) == {"1", "2"} and out["retrains"]["runs"]  # a deep retrain ran, whatever its outcome


def test_large_reports_memory_latency_and_a_checkpoint_at_a_small_scale():
    out = smoke("large.py", "--requests", "60")
    assert out["learned"]["events"] == out["spec"]["events"] and out["learned"]["items"] > 0
    assert out["memory"]["rss_after_mb"] >= out["memory"]["rss_before_mb"] > 0
    assert set(out["recommendations"]) == {"plain", "category keeping 10%", "500 excluded ids"}
    for r in (*out["recommendations"].values(), out["similar_items"]):
        assert 0 < r["p50_ms"] <= r["p99_ms"]
    assert out["checkpoint"]["bytes"] > 0 and out["learn_events_per_s"] > 0


def test_http_ingest_posts_events_that_the_worker_learns_and_times_requests_beside_them():
    out = smoke("http_ingest.py")
    assert out["learned_after_both"] == 2 * out["events"] and out["dead_lettered"] == {}
    assert out["http_events_per_s"] > 0 and out["kafka_direct_events_per_s"] > 0
    assert out["http_over_kafka_direct"] == pytest.approx(out["http_events_per_s"] / out["kafka_direct_events_per_s"],
                                                          rel=0.01)
    for phase in out["recommendations_ms"].values():
        assert phase["requests"] > 0 and 0 < phase["p50"] <= phase["p99"]
