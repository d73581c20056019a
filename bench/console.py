"""How long the operator console's pages take to render on a worker with a long past: 1,000 model versions (with
their audit trails), 10,000 drift reports, 100,000 dead letters and a week of samples from two workers. Each page
is asked for through the console's own views (what Faust's server calls), `--repeat` times; server time only.

    python bench/console.py [--database-url URL] [--versions 1000] [--reports 10000] [--dead-letters 100000]

Goal: every page <= 300 ms. Prints one JSON object (p50 / p95 / max ms per page).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import add_smoke, shrink
from sqlalchemy import insert

from recstream.models.data.synthetic import SyntheticSpec, generate
from recstream.models.online.recommender import OnlineRecommender
from recstream.models.serving.hotswap import DeepSlot
from recstream.models.store.db import create_db_engine, upgrade
from recstream.models.store.registry import Registry
from recstream.models.store.schema import (
    dead_letters,
    drift_reports,
    model_audit,
    model_versions,
    worker_samples,
)
from recstream.stream.settings import Settings
from recstream.stream.web.console.views import ConsoleViews
from recstream.stream.web.reply import LocalRequest
from recstream.stream.worker.state import WorkerState

GOAL_MS = 300.0
WEEK_S = 7 * 86_400


def fill(engine, versions: int, reports: int, letters: int, now: float) -> None:  # type: ignore[no-untyped-def]
    """The long past, written in bulk (the registry's own calls would take minutes for the audit trails)."""
    metrics = {"candidate": {"ndcg_at_10": 0.1}, "live": {"ndcg_at_10": 0.09}, "popularity": {"ndcg_at_10": 0.05}}
    with engine.begin() as c:
        c.execute(insert(model_versions), [
            {"id": i, "kind": "deep", "status": "live" if i == versions else "retired",
             "parent_id": i - 1 if i > 1 else None, "metrics": metrics, "params": {}, "artefact": f"/a/{i}.pt",
             "sha256": "0" * 64, "created_at": now - (versions - i) * 3600, "promoted_at": now - (versions - i) * 3600}
            for i in range(1, versions + 1)])
        c.execute(insert(model_audit), [
            {"version_id": i, "from_status": old, "to_status": new, "actor": "trainer", "reason": "passed the gate",
             "at": now - (versions - i) * 3600 + k}
            for i in range(1, versions + 1) for k, (old, new) in enumerate((("", "candidate"), ("candidate", "live"),
                                                                             ("live", "retired")))])
        columns = {f"col{k}": {"group": "events", "method": "ks", "score": 0.1, "threshold": 0.05,
                               "drifted": k % 3 == 0} for k in range(8)}
        for start in range(0, reports, 2000):
            c.execute(insert(drift_reports), [
                {"created_at": now - (reports - i) * 600, "reference": "live-model deep-1", "ref_start": 0.0,
                 "ref_end": 1.0, "ref_rows": 10_000, "cur_start": 1.0, "cur_end": 2.0, "cur_rows": 10_000,
                 "drifted": i % 5 == 0, "drift_share": 0.375, "drifted_columns": 3, "n_columns": 8,
                 "columns": columns, "html_path": f"/r/{i}.html", "json_path": f"/r/{i}.json", "duration_s": 1.0,
                 "action": "none"} for i in range(start, min(start + 2000, reports))])
        for start in range(0, letters, 10_000):
            c.execute(insert(dead_letters), [
                {"code": ("schema", "not_json", "bad_timestamp")[i % 3], "reason": "field type: must be one of ...",
                 "source_topic": "recstream.behaviour", "source_partition": i % 12, "source_offset": i,
                 "failed_at": now - (letters - i), "key": "u1", "value_head": '{"event_id": "x"}'}
                for i in range(start, min(start + 10_000, letters))])
        for w in ("a", "b"):
            c.execute(insert(worker_samples), [
                {"source": w, "at": now - WEEK_S + 10 * k, "consumed": 1000 * k, "learned": 1000 * k,
                 "dead_lettered": k // 100, "lag": 5, "served_recall": 0.2, "online_recall": 0.18, "p50_ms": 0.8,
                 "p99_ms": 4.0, "requests": 10 * k, "deep_live": "deep-1"} for k in range(WEEK_S // 10)])


def console(database_url: str) -> ConsoleViews:
    settings = Settings.build(database_url=database_url, operator_token="bench-operator-token")
    engine = create_db_engine(settings.database_url)
    registry = Registry(engine)
    online = OnlineRecommender(settings.online.config())
    online.learn(list(generate(SyntheticSpec(users=200, items=500, events=5_000, seed=1))))
    state = WorkerState.of(settings, online, DeepSlot(registry), "bench")
    return ConsoleViews(state)


async def timed(views: ConsoleViews, repeat: int) -> dict:
    cookie = views.sessions.issue("bench")[0]
    out = {}
    for route in views.ROUTES:
        path = route.path
        if route.method != "GET" or "{" in path or "login" in path or path == "/favicon.ico":
            continue
        view, ms = getattr(views, route.view), []
        for _ in range(repeat):
            t = time.perf_counter()
            reply = await view(LocalRequest(path, headers={"Cookie": f"recstream_console={cookie}"}))
            ms.append((time.perf_counter() - t) * 1000)
            assert reply.status == 200, (path, reply.status)
        out[path] = {"p50_ms": round(float(np.median(ms)), 1), "p95_ms": round(float(np.percentile(ms, 95)), 1),
                     "max_ms": round(max(ms), 1), "kb": round(len(reply.body) / 1024, 1)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--database-url", help="an empty database to fill (default: a temporary SQLite file)")
    ap.add_argument("--versions", type=int, default=1000)
    ap.add_argument("--reports", type=int, default=10_000)
    ap.add_argument("--dead-letters", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=20)
    add_smoke(ap)
    args = ap.parse_args()
    shrink(args, versions=20, reports=50, dead_letters=200, repeat=2)
    if min(args.versions, args.reports, args.dead_letters, args.repeat) < 1:
        ap.error("--versions, --reports, --dead-letters and --repeat must be >= 1")
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'console.db'}"
        engine = create_db_engine(url)
        upgrade(engine)
        t = time.perf_counter()
        fill(engine, args.versions, args.reports, args.dead_letters, time.time())
        print(f"filled in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        pages = asyncio.run(timed(console(url), args.repeat))
    worst = max(p["p95_ms"] for p in pages.values())
    print(json.dumps({"bench": "console", "database": url.split(":")[0], "versions": args.versions,
                      "drift_reports": args.reports, "dead_letters": args.dead_letters,
                      "samples": 2 * WEEK_S // 10, "pages": pages, "worst_p95_ms": worst, "goal_ms": GOAL_MS,
                      "met": worst <= GOAL_MS}, indent=2))


if __name__ == "__main__":
    main()
