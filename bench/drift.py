"""Cost of drift reports: time to compute and store one report for 10k, 100k and 1M-row windows, and the share of
a worker's ingest throughput lost while reports run alongside it.

    python bench/drift.py [--sizes 10000,100000,1000000] [--ingest-events 400000] [--repeats 3] [--busy-share 0.1]

Prints one JSON object. Part 1 stores 2 × the largest window of synthetic events (SQLite) plus model-output probes
for 5% of them (random values: the cost depends on row counts, not on what the rows say), pins the reference to the
first half, and times `run_drift` on the first N events after it: loading both windows, Evidently, writing HTML +
JSON, the summary row. Part 2 runs the real ingest path (bench/ingest.py's worker) twice on the same events: alone,
and with a second process running drift reports back to back on the same database, as `recstream scheduler` does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import add_smoke, shrink
from ingest import fill, run_worker_ingest

from recstream.models.data.synthetic import SyntheticSpec, generate
from recstream.models.online.config import OnlineConfig
from recstream.models.store.db import create_db_engine, upgrade
from recstream.models.store.events import EventStore
from recstream.monitors.drift.config import DriftConfig
from recstream.monitors.drift.reports import store_probes
from recstream.monitors.drift.run import run_drift
from recstream.stream.kafka.broker import EmbeddedBroker
from recstream.stream.kafka.produce import event_json
from recstream.stream.kafka.topics import Topics, ensure_topics
from recstream.stream.settings import DriftSettings, Settings


def build_store(url: str, n: int) -> list[float]:
    """n synthetic events (+ 5% probes) in a fresh database; returns every event's ts, in order."""
    engine = create_db_engine(url)
    upgrade(engine)
    store, rng = EventStore(engine), np.random.default_rng(0)
    ts: list[float] = []
    chunk: list = []
    for e in generate(SyntheticSpec(users=20_000, items=20_000, events=n, seed=2)):
        chunk.append(e)
        if len(chunk) == 20_000:
            store.add_interactions(chunk)
            picks = [c.ts for c in chunk if rng.random() < 0.05]
            store_probes(engine, [(t, int(rng.random() < 0.15), float(rng.normal(3, 1)), float(rng.beta(2, 5)))
                                  for t in picks], "bench")
            ts.extend(c.ts for c in chunk)
            chunk = []
    if chunk:
        store.add_interactions(chunk)
        ts.extend(c.ts for c in chunk)
    engine.dispose()
    return ts


def report_costs(sizes: list[int], tmp: Path) -> list[dict]:
    biggest = max(sizes)
    url = f"sqlite:///{tmp}/drift-bench.db"
    t0 = time.perf_counter()
    ts = build_store(url, 2 * biggest)
    print(f"stored {len(ts)} events in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    engine = create_db_engine(url)
    out = []
    warm = DriftConfig(window_events=1_000, max_rows=1_000, reference_start=ts[0] - 1e-6, reference_end=ts[999],
                       report_dir=tmp / "reports")
    run_drift(engine, warm, until=ts[1_999])  # `import evidently` (seconds, once per process) is not timed
    for n in sorted(sizes):
        cfg = DriftConfig(window_events=n, max_rows=n, reference_start=ts[biggest - n] - 1e-6,
                          reference_end=ts[biggest - 1], report_dir=tmp / "reports")
        result = run_drift(engine, cfg, until=ts[biggest + n - 1])
        r = result.report
        assert r is not None, result.skipped
        out.append({"rows_per_window": n, "reference_rows": r["ref_rows"], "current_rows": r["cur_rows"],
                    "seconds": {k: round(v, 2) for k, v in result.timings.items()},
                    "html_mb": round(Path(r["html_path"]).stat().st_size / 1e6, 2),
                    "json_mb": round(Path(r["json_path"]).stat().st_size / 1e6, 2),
                    "drifted_columns": f"{r['drifted_columns']}/{r['n_columns']}",
                    "peak_rss_mb_so_far": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)})
        print(json.dumps(out[-1]), file=sys.stderr)
    engine.dispose()
    return out


def drift_loop(url: str, report_dir: str, window: int, busy_share: float, ready: mp.Event,  # type: ignore[valid-type]
               stop: mp.Event, done: mp.Queue) -> None:  # type: ignore[valid-type]
    """What the scheduler's drift job does (its DriftJob, on a thread of its own as the scheduler runs it), back
    to back instead of every RECSTREAM_DRIFT_INTERVAL_S: a new report as soon as the job takes one."""
    import threading

    from recstream.monitors.schedule import DriftJob

    job = DriftJob(create_db_engine(url), DriftConfig(window_events=window, min_events=1_000,
                                                      report_dir=Path(report_dir), busy_share=busy_share))
    seconds: list[float] = []

    def loop() -> None:
        job.run()  # warm: `import evidently` takes seconds and is paid once per process
        job._rest_until = 0.0
        ready.set()
        while not stop.is_set():
            t = time.perf_counter()
            r = job.run()
            if r is None:  # resting: its share of the wall clock is used up
                time.sleep(0.01)
                continue
            assert r.report is not None, r.skipped
            seconds.append(time.perf_counter() - t)

    thread = threading.Thread(target=loop)
    thread.start()
    thread.join()
    done.put({"reports": len(seconds), "median_s": round(float(np.median(seconds)), 2) if seconds else None,
              "busy_share": busy_share})


def one_run(broker: EmbeddedBroker, name: str, payloads: list, history: list, n: int, window: int, tmp: Path,
            busy_share: float | None) -> dict:
    """The worker's ingest of `payloads` on fresh topics and database, with a report loop beside it unless
    `busy_share` is None."""
    settings = Settings.build(bootstrap=broker.bootstrap, session_timeout_s=6, database_url=f"sqlite:///{tmp}/{name}.db",
                              topic_behaviour=f"bench.{name}", topic_feedback=f"bench.{name}.fb",
                              topic_dead_letter=f"bench.{name}.dl", topic_items=f"bench.{name}.items",
                              group_id=f"bench-{name}")
    ensure_topics(broker.bootstrap, Topics.of(settings.kafka), settings.kafka.topic_partitions)
    asyncio.run(fill(broker.bootstrap, settings.kafka.topic_behaviour, payloads))
    engine = create_db_engine(settings.database_url)
    upgrade(engine)
    EventStore(engine).add_interactions(history)  # so reports have windows from the first second
    ctx = mp.get_context("spawn")
    ready, stop, done = ctx.Event(), ctx.Event(), ctx.Queue()
    proc = None
    if busy_share is not None:
        proc = ctx.Process(target=drift_loop, args=(settings.database_url, str(tmp / "loop"), window, busy_share,
                                                    ready, stop, done))
        proc.start()
        ready.wait(120)
    worker = asyncio.run(run_worker_ingest(settings, n, OnlineConfig()))
    stop.set()
    out = {"events_per_s": worker["events_per_s"]}
    if proc is not None:
        out["drift_loop"] = done.get(timeout=300)
        proc.join(60)
    return out


def throughput_loss(n: int, window: int, tmp: Path, busy_share: float, repeats: int) -> dict:
    """`repeats` pairs of runs (alone, then with reports), interleaved: one pair's ratio moved by +-5% between
    runs on this machine, so the median of the pairs is reported."""
    events = list(generate(SyntheticSpec(users=5_000, items=10_000, events=n, seed=1)))
    payloads = [(e.user_id.encode(), event_json(e)) for e in events]
    # Earlier history (other ids, earlier times) already in the store in every run.
    history = [e._replace(ts=e.ts - 86_400) for e in generate(SyntheticSpec(events=2 * window, seed=9))]
    pairs = []
    with EmbeddedBroker() as broker:
        for r in range(repeats):
            alone = one_run(broker, f"alone{r}", payloads, history, n, window, tmp, None)
            loaded = one_run(broker, f"reports{r}", payloads, history, n, window, tmp, busy_share)
            pairs.append({"alone_events_per_s": alone["events_per_s"], "with_reports_events_per_s":
                          loaded["events_per_s"], "lost": round(1 - loaded["events_per_s"] / alone["events_per_s"], 3),
                          "drift_loop": loaded["drift_loop"]})
            print(json.dumps(pairs[-1]), file=sys.stderr)
    lost = float(np.median([p["lost"] for p in pairs]))
    busy = float(np.median([p["drift_loop"]["median_s"] or 0.0 for p in pairs]))
    interval = DriftSettings.model_fields["interval_s"].default
    return {"pairs": pairs, "drift_window_events": window, "busy_share": busy_share,
            "share_of_throughput_lost_while_reports_run_back_to_back": round(lost, 3),
            # Reports run once per RECSTREAM_DRIFT_INTERVAL_S: the loss above only applies while one runs.
            "share_lost_at_default_interval_estimate": {"interval_s": interval, "share": round(lost * busy / interval, 5)}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--ingest-events", type=int, default=400_000)
    ap.add_argument("--loop-window", type=int, default=10_000, help="window of the reports run during ingest")
    ap.add_argument("--repeats", type=int, default=3, help="pairs of ingest runs (alone / with reports)")
    ap.add_argument("--busy-share", type=float, default=DriftConfig.busy_share,
                    help="RECSTREAM_DRIFT_BUSY_SHARE of the report loop (1 = truly back to back)")
    add_smoke(ap)
    args = shrink(ap.parse_args(), sizes="2000", ingest_events=5_000, loop_window=1_000, repeats=1)
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        costs = report_costs(sizes, Path(tmp))
        loss = throughput_loss(args.ingest_events, args.loop_window, Path(tmp), args.busy_share, args.repeats)
    print(json.dumps({"bench": "drift", "database": "sqlite", "report_cost": costs, "ingest_alongside_reports": loss,
                      "columns": "9 (event_type, item_popularity_rank, item_mix, user_activity, hour_of_day, value, "
                                 "hit, top_score_z, popular_share; hour_of_day needs day-long windows)"}, indent=2))


if __name__ == "__main__":
    main()
