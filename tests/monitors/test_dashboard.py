"""The Grafana dashboard and Prometheus config that docker-compose.yml provisions: every metric a panel queries is
one a worker's /metrics exports, and the files compose mounts are there."""

import json
import re
from pathlib import Path

import yaml

from recstream.monitors.metrics import Snapshot, WorkerMetrics

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "recstream.json"


def exported() -> set[str]:
    """Metric names a worker exports with every optional gauge known (as after its first probes and report)."""
    full = Snapshot(consumed=1, broker_up=True, database_up=True, dead_lettered={"schema": 1}, lag={("t", 0): 2},
                    prequential_recall_at_10=0.1, served_recall_at_10=0.1, deep_weight=0.5,
                    deep_versions={"live": "deep-1"}, drift_share=0.2, drift_detected=False, drift_report_id=3)
    metrics = WorkerMetrics(lambda: full)
    metrics.request_seconds.observe(0.01)
    metrics.learn_batch_seconds.observe(0.01)
    text = metrics.render().decode()
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}


def test_every_metric_the_dashboard_queries_is_exported():
    dash = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    queried = {m for e in exprs for m in re.findall(r"recstream_[a-z0-9_]+", e)}
    assert len(dash["panels"]) >= 10 and len(queried) >= 15
    missing = sorted(queried - exported())
    assert not missing, f"the dashboard queries metrics /metrics does not export: {missing}"


def test_compose_mounts_the_prometheus_config_and_grafana_provisioning_that_exist():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    mounts = [v.split(":")[0] for s in ("prometheus", "grafana") for v in compose["services"][s]["volumes"]
              if v.startswith("./")]
    assert mounts and all((ROOT / m).exists() for m in mounts), mounts
    prom = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    job = prom["scrape_configs"][0]
    assert job["metrics_path"] == "/metrics" and job["dns_sd_configs"][0]["names"] == ["worker"]
    assert job["dns_sd_configs"][0]["port"] == 6066  # the worker's RECSTREAM_WEB_PORT default
