"""Drift on a running worker: probes reach the database, `recstream drift run` reports a preference shift, the
report is browsable over HTTP (and renders in headless Chromium), and /metrics tells operators what happens."""

import json
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from kafka import KafkaProducer

from recstream.monitors.metrics import parse
from recstream.stream.client import api_get

from .browser import ARTIFACTS, chromium
from .test_cli import recstream
from .test_models import TOKEN

pytestmark = pytest.mark.integration


def fetch(url: str, token: str | None = None) -> tuple[int, str, bytes]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read()


def metrics(api: str) -> dict:
    status, ctype, body = fetch(f"{api}/metrics")
    assert status == 200 and ctype.startswith("text/plain"), (status, ctype)
    return parse(body.decode())


def test_a_shift_in_a_live_stream_is_reported_browsable_and_measured(worker_factory, s3_prefix):
    reports = s3_prefix.replace("/artefacts", "/drift")  # the reports in a bucket, browsed through the worker
    w = worker_factory(RECSTREAM_DRIFT_REPORT_DIR=reports, RECSTREAM_DRIFT_PROBE_FLUSH_S="0.3",
                       RECSTREAM_DRIFT_WINDOW_EVENTS="4000", RECSTREAM_DRIFT_CONSECUTIVE="1")
    out = recstream("produce", "--synthetic", "--events", "12000", "--users", "300", "--items", "400",
                    "--shift-at", "8000", env=w.env)
    assert out.returncode == 0, out.stderr
    producer = KafkaProducer(bootstrap_servers=w.env["RECSTREAM_BOOTSTRAP"])
    producer.send(w.env["RECSTREAM_TOPIC_BEHAVIOUR"], b"not json at all")
    producer.flush()
    producer.close()
    w.wait(lambda h: h["events_learned"] >= 12000 and h["pipeline"]["dead_lettered"], what="the stream")
    api_get(f"{w.api}/recommendations/u1?k=5")

    m = metrics(w.api)
    assert m["recstream_events_learned_total"] >= 12000 and m["recstream_events_consumed_total"] >= 12001
    assert m["recstream_events_dead_lettered_total{reason=not_json}"] == 1
    assert m["recstream_learn_batch_seconds_count"] >= 1 and m["recstream_request_seconds_count"] >= 1
    assert 0 < m["recstream_prequential_recall_at_10"] < 1
    assert 0 < m["recstream_served_recall_at_10"] < 1 and m["recstream_deep_weight"] == 0.5  # no deep version
    assert sum(v for k, v in m.items() if k.startswith("recstream_consumer_lag{")) == 0  # caught up
    time.sleep(1.0)  # a few probe flushes: the model outputs of the last batches reach the database

    run = recstream("drift", "run", "--json", env=w.env, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["drifted"] and report["reference"] == "oldest"
    assert report["columns"]["item_popularity_rank"]["drifted"]
    assert report["columns"]["hit"].get("score") is not None  # model outputs were judged, not skipped
    assert report["retrain_run_id"] is not None  # RECSTREAM_DRIFT_CONSECUTIVE=1
    runs = json.loads(recstream("models", "runs", env=w.env).stdout.splitlines()[0])
    assert runs["trigger"] == "drift" and f"drift report {report['id']}" in runs["reason"]
    assert f"{report['id']:>5}" in recstream("drift", "list", env=w.env).stdout
    shown = json.loads(recstream("drift", "show", str(report["id"]), env=w.env).stdout)
    assert shown["columns"]["item_mix"]["drifted"] and shown["retrain_run_id"] == report["retrain_run_id"]
    html_path = recstream("drift", "show", str(report["id"]), "--html", env=w.env).stdout.strip()
    assert html_path == report["html_path"] and html_path.startswith(reports + "/drift-")
    missing = recstream("drift", "show", "999", env=w.env)
    assert missing.returncode == 1 and "no drift report 999" in missing.stderr

    # Browse: list, the Evidently page, its JSON; bad ids get a 4xx that says what to send.
    listing = api_get(f"{w.api}/drift/reports")["reports"]
    assert listing[0]["id"] == report["id"] and listing[0]["drifted"] == 1
    status, ctype, page = fetch(f"{w.api}{listing[0]['html']}")
    assert status == 200 and ctype.startswith("text/html") and b"item_popularity_rank" in page
    assert f"recstream drift report {report['id']}</b> — DRIFT".encode() in page  # the banner says what and why
    assert b"requested retrain run" in page
    status, ctype, body = fetch(f"{w.api}{listing[0]['json']}")
    assert status == 200 and "metrics" in json.loads(body)
    assert fetch(f"{w.api}/drift/reports/abc")[0] == 400
    assert fetch(f"{w.api}/drift/reports/9999")[0] == 404

    # The worker picks up the latest verdict for its metrics.
    deadline = time.monotonic() + 5
    while metrics(w.api).get("recstream_drift_report_id") != report["id"]:
        assert time.monotonic() < deadline, "drift gauges never showed the new report"
        time.sleep(0.2)
    m = metrics(w.api)
    assert m["recstream_drift_detected"] == 1 and m["recstream_drift_share"] == pytest.approx(report["drift_share"])

    # The page people open: rendered by a real browser, content checked, screenshot kept.
    browser = chromium()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "drift-report.png"
    shot.unlink(missing_ok=True)
    url = f"{w.api}/drift/reports/{report['id']}"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
             "--virtual-time-budget=15000"]
    dom = subprocess.run([browser, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120, check=False).stdout
    # Text that only exists once Evidently's scripts have rendered the report (the raw page holds JSON only).
    assert "Dataset Drift is detected" in dom and "Drifted Columns" in dom
    assert "Wasserstein distance (normed)" in dom
    subprocess.run([browser, *flags, "--window-size=1400,1800", f"--screenshot={shot}", url],
                   capture_output=True, timeout=120, check=False)
    assert shot.is_file() and shot.stat().st_size > 20_000, "the screenshot is missing or blank"
    print(f"drift report screenshot: {shot}")


def test_read_endpoints_can_require_the_operator_token(worker_factory):
    w = worker_factory(RECSTREAM_OPERATOR_TOKEN=TOKEN, RECSTREAM_READ_TOKEN_REQUIRED="true")
    for path in ("/metrics", "/drift/reports", "/drift/reports/1", "/models", "/models/runs", "/models/deep-1"):
        assert fetch(f"{w.api}{path}")[0] == 401, path
    assert fetch(f"{w.api}/metrics", TOKEN)[0] == 200
    assert json.loads(fetch(f"{w.api}/drift/reports", TOKEN)[2]) == {"reports": []}
    assert json.loads(fetch(f"{w.api}/models", TOKEN)[2])["versions"] == []
    assert fetch(f"{w.api}/models/deep-1", TOKEN)[0] == 404  # past the guard: no such version
    assert fetch(f"{w.api}/recommendations/u1")[0] == 200  # serving stays open
    assert fetch(f"{w.api}/healthz")[0] == 200  # and so does the health check
    # The token never reaches the logs, whether it was right or wrong.
    assert fetch(f"{w.api}/metrics", "not-the-token")[0] == 401
    time.sleep(0.5)
    log = w.log.read_text()
    assert TOKEN not in log and "not-the-token" not in log


def test_read_endpoints_are_open_by_default_and_the_older_setting_name_still_guards_them(worker_factory):
    open_ = worker_factory(RECSTREAM_OPERATOR_TOKEN=TOKEN)
    assert fetch(f"{open_.api}/metrics")[0] == 200 and fetch(f"{open_.api}/models")[0] == 200
    older = worker_factory(RECSTREAM_OPERATOR_TOKEN=TOKEN, RECSTREAM_METRICS_TOKEN_REQUIRED="true")
    assert fetch(f"{older.api}/metrics")[0] == 401 and fetch(f"{older.api}/models")[0] == 401
