"""Every bench under bench/ runs in its smoke mode (tiny sizes, the same code path) and prints the JSON its
full run prints: a bench that crashes or loses a field fails here the day it breaks, not at the next release's
measurements. The folder is listed, so a new bench cannot skip it."""

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

#: the first test's setup runs every bench (about two minutes on 2 cores): more than the suite's 300 s a test
pytestmark = pytest.mark.timeout(900)
ROOT = Path(__file__).resolve().parents[2]
BENCHES = sorted(p.name for p in (ROOT / "bench").glob("*.py") if p.name != "common.py")
#: extra arguments of a smoke run
ARGS = {"served.py": ("--sessions",), "large.py": ("--requests", "60")}
#: the longest first, so three at a time finish together
FIRST = ("soak.py", "hotswap.py", "scale.py", "closed_loop.py", "drift.py", "freshness.py", "http_ingest.py", "ingest.py")


def run(script: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "bench" / script), "--smoke", *ARGS.get(script, ())],
                          cwd=ROOT, capture_output=True, text=True, check=False, timeout=600)


@pytest.fixture(scope="module")
def runs() -> dict[str, subprocess.CompletedProcess]:
    """Every bench's smoke run, three at a time: most of a run waits on brokers and workers, not the CPU."""
    order = [b for b in FIRST if b in BENCHES] + [b for b in BENCHES if b not in FIRST]
    with ThreadPoolExecutor(3) as pool:
        done = dict(zip(order, pool.map(run, order)))
    return done


def smoke(runs: dict, script: str) -> dict:
    out = runs[script]
    assert out.returncode == 0, f"bench/{script} --smoke failed:\n{out.stderr[-3000:]}"
    return json.loads(out.stdout)


@pytest.mark.parametrize("script", BENCHES)
def test_every_bench_runs_in_its_smoke_mode_and_prints_its_json(runs, script):
    text = (ROOT / "bench" / script).read_text()
    assert "add_smoke(ap)" in text or '"--smoke"' in text, f"bench/{script} has no --smoke mode"
    out = smoke(runs, script)
    assert out["bench"] == script.removesuffix(".py")
    assert "NaN" not in runs[script].stdout, "a figure came out as NaN"


def test_served_judges_the_served_list_against_every_reference(runs):
    out = smoke(runs, "served.py")
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


def test_large_reports_memory_latency_and_a_checkpoint_at_a_small_scale(runs):
    out = smoke(runs, "large.py")
    assert out["learned"]["events"] == out["spec"]["events"] and out["learned"]["items"] > 0
    assert out["memory"]["rss_after_mb"] >= out["memory"]["rss_before_mb"] > 0
    assert set(out["recommendations"]) == {"plain", "category keeping 10%", "500 excluded ids"}
    for r in (*out["recommendations"].values(), out["similar_items"]):
        assert 0 < r["p50_ms"] <= r["p99_ms"]
    assert out["checkpoint"]["bytes"] > 0 and out["learn_events_per_s"] > 0
    evicted = out["eviction"]
    assert evicted["evicted"] > 0 and evicted["same_lists_after_readmission"] == f"{evicted['readmitted']}/{evicted['readmitted']}"
    kafka = out["kafka_slice"]
    assert kafka["learned"] == kafka["stored_rows"] > 0 and kafka["events_per_s"] > 0
    assert out["deep_epoch"]["epoch_seconds_projected"] > 0


def test_http_ingest_posts_events_that_the_worker_learns_and_times_requests_beside_them(runs):
    out = smoke(runs, "http_ingest.py")
    assert out["learned_after_both"] == 2 * out["events"] and out["dead_lettered"] == {}
    assert out["http_events_per_s"] > 0 and out["kafka_direct_events_per_s"] > 0
    assert out["http_over_kafka_direct"] == pytest.approx(out["http_events_per_s"] / out["kafka_direct_events_per_s"],
                                                          rel=0.01)
    for phase in out["recommendations_ms"].values():
        assert phase["requests"] > 0 and 0 < phase["p50"] <= phase["p99"]


def test_scale_loses_nothing_and_learns_nothing_twice_across_a_crash(runs):
    out = smoke(runs, "scale.py")
    one, two = out["throughput"]["workers_1"], out["throughput"]["workers_2"]
    assert one["learned_per_worker"] == [one["events"]]
    assert sum(two["learned_per_worker"]) == two["events"] and any(two["peer_events_per_worker"])
    assert out["cpu_per_event"]["workers_2"]["own_event_us"] > 0
    crash = out["after_kill_9"]
    assert (crash["lost"], crash["duplicated_rows"], crash["learned_twice"]) == (0, 0, 0)
    assert crash["survivor_events_learned"] == crash["produced"]


def test_hotswap_fails_no_request_across_promotions_and_rollbacks(runs):
    out = smoke(runs, "hotswap.py")
    assert out["failed_requests"] == 0 and out["requests"] > 0


def test_the_quality_benches_compare_with_their_references_in_the_same_run(runs):
    similar = smoke(runs, "similar.py")
    assert similar["probes"] > 0 and similar["served"] in similar["hit_rate_at_k"]
    replay = smoke(runs, "replay.py")["synthetic"]
    assert {"popularity"} <= set(replay)
    loop = smoke(runs, "closed_loop.py")
    assert set(loop["arms"]) == {"no_feedback", "feedback"} and loop["feedback_over_no_feedback_ctr"] is not None


def test_soak_loses_nothing_and_counts_every_fault_it_made(runs):
    out = smoke(runs, "soak.py")
    events = out["events"]
    assert events["valid_produced"] > 0 and events["bad_produced"] > 0
    assert (events["lost"], events["stored_twice"]) == (0, 0)
    # the last worker, owning every partition, holds every event once (kill -9, checkpoint restores and
    # database outages in between: tests/stream/test_ingest_loop.py has the defects this found)
    assert (events["learned_twice"], events["not_learned_by_survivor"]) == (0, 0)
    assert (events["feedback_lost"], events["feedback_stored_twice"], events["bad_missing_from_dead_letters"]) == (0, 0, 0)
    assert out["faults"] and all(f["kind"] in ("kill9", "freeze_broker", "stop_database") for f in out["faults"])
    assert not any(f["detail"].startswith("failed") for f in out["faults"]), out["faults"]
    assert out["requests"]["5xx_outside_faults"] == 0
    assert out["scheduler_nice"] == 10  # its trainings yield the CPU to the workers (RECSTREAM_SCHEDULER_NICE)
