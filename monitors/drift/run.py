"""Drift runs: compare a current window of events and model outputs with a reference window using Evidently,
keep the report (HTML + JSON + a summary row), and request a retrain when drift persists.

Windows come from the event store and the `model_outputs` table (what workers' probes recorded), never from one
worker's memory: every worker, the scheduler and `recstream drift run` see the same windows, and a restart loses
nothing. Only the two windows are in memory during a run, each capped at `max_rows`.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, desc, insert, select, update

from recstream.models.artefacts import storage
from recstream.models.store.runs import RunQueue
from recstream.models.store.schema import drift_reports, model_outputs
from recstream.monitors.drift.comparison import column_verdicts, evidently_report
from recstream.monitors.drift.config import DriftConfig
from recstream.monitors.drift.features import build_frames
from recstream.monitors.drift.windows import current_window, output_window, previous_span, reference_window

log = logging.getLogger("recstream.drift")


@dataclass
class DriftRun:
    """The outcome of one run: a stored report (`report`), or why none was made (`skipped`)."""

    report: dict[str, Any] | None = None
    skipped: str | None = None
    timings: dict[str, float] = field(default_factory=dict)


# ---- the run -------------------------------------------------------------------------------------------------
def run_drift(engine: Engine, cfg: DriftConfig, *, until: float | None = None, actor: str = "drift-monitor",
              now: float | None = None) -> DriftRun:
    """One drift run: windows → Evidently → files + summary row → maybe a retrain request."""
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    ref_kind, ref = reference_window(engine, cfg)
    if len(ref) == 0:
        return DriftRun(skipped="no events in the store yet")
    cur = current_window(engine, cfg, ref.span[1], until)
    if len(cur) < cfg.min_events:
        return DriftRun(skipped=f"only {len(cur)} events after the reference ({ref_kind}, ending "
                        f"{_iso(ref.span[1])}); a run needs {cfg.min_events}")
    # Model outputs against the window just before: an online learner's outputs trend as it keeps learning
    # (measured: against a fixed reference, a stationary stream's top_score_z and popular_share "drifted" within
    # five windows), so only a change from one window to the next says its behaviour moved.
    prev_span = previous_span(engine, cur.span[0], len(cur))
    ref_out = output_window(engine, prev_span, cfg.max_rows)
    cur_out = output_window(engine, cur.span, cfg.max_rows)
    frames = build_frames(ref, cur, ref_out, cur_out)
    timings["load_s"] = time.perf_counter() - t0
    if not frames.numerical and not frames.categorical:
        return DriftRun(skipped="no column can be judged: " + "; ".join(f"{c}: {w}" for c, w in
                                                                         frames.skipped.items()), timings=timings)
    t1 = time.perf_counter()
    title = f"recstream drift: {_iso(cur.span[0])} to {_iso(cur.span[1])} vs {ref_kind}"
    snapshot = evidently_report(frames, cfg, title)
    verdicts = column_verdicts(snapshot.dict(), frames)
    timings["evidently_s"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    html_path, json_path = _save(snapshot, cfg.report_dir)
    timings["save_s"] = time.perf_counter() - t2
    judged = len(verdicts)
    drifted_cols = sum(v["drifted"] for v in verdicts.values())
    share = drifted_cols / judged if judged else 0.0
    columns: dict[str, Any] = dict(verdicts)
    columns.update({c: {"group": frames.groups[c], "skipped": why} for c, why in frames.skipped.items()})
    now = time.time() if now is None else now
    row = {"created_at": now, "reference": ref_kind[:32], "ref_start": ref.span[0], "ref_end": ref.span[1],
           "ref_rows": len(ref), "cur_start": cur.span[0], "cur_end": cur.span[1], "cur_rows": len(cur),
           "drifted": int(judged > 0 and share >= cfg.drift_share), "drift_share": share,
           "drifted_columns": drifted_cols, "n_columns": judged, "columns": columns,
           "html_path": str(html_path), "json_path": str(json_path),
           "duration_s": time.perf_counter() - t0}
    with engine.begin() as conn:
        row["id"] = int(conn.execute(insert(drift_reports).values(**row).returning(drift_reports.c.id)).scalar_one())
        conn.execute(delete(model_outputs).where(model_outputs.c.recorded_at < now - cfg.outputs_retention_s))
    action, run_id = _maybe_retrain(engine, cfg, row, actor, now)
    with engine.begin() as conn:
        conn.execute(update(drift_reports).where(drift_reports.c.id == row["id"]).values(
            action=action, retrain_run_id=run_id))
    row.update(action=action, retrain_run_id=run_id)
    timings["total_s"] = time.perf_counter() - t0
    log.info("drift report %d: %s (%d of %d columns, share %.2f) — %s", row["id"],
             "DRIFT" if row["drifted"] else "no drift", drifted_cols, judged, share, action)
    return DriftRun(report=row, timings=timings)


def _maybe_retrain(engine: Engine, cfg: DriftConfig, row: dict, actor: str, now: float) -> tuple[str, int | None]:
    if not row["drifted"]:
        return "no drift", None
    with engine.connect() as conn:
        recent = [bool(r.drifted) for r in conn.execute(
            select(drift_reports.c.drifted).order_by(desc(drift_reports.c.id)).limit(cfg.consecutive))]
        last = conn.execute(select(drift_reports.c.retrain_run_id, drift_reports.c.created_at).where(
            drift_reports.c.retrain_run_id.is_not(None)).order_by(desc(drift_reports.c.id)).limit(1)).first()
    streak = len(recent) if all(recent) else recent.index(False)
    if streak < cfg.consecutive:
        return f"drift in {streak} of {cfg.consecutive} consecutive reports needed for a retrain", None
    if not cfg.trigger_retrain:
        return "drift persists; retraining on drift is off (RECSTREAM_DRIFT_TRIGGER_RETRAIN)", None
    if last is not None and now - last.created_at < cfg.cooldown_s:
        return (f"drift persists; retrain run {last.retrain_run_id} was requested {now - last.created_at:.0f} s ago "
                f"(cool-down {cfg.cooldown_s:.0f} s)"), None
    reason = (f"drift report {row['id']}: {row['drifted_columns']} of {row['n_columns']} columns drifted "
              f"({', '.join(c for c, v in row['columns'].items() if v.get('drifted'))}) in {streak} reports in a row")
    run_id, created = RunQueue(engine).request_retrain(trigger="drift", requested_by=actor, reason=reason)
    return (f"requested retrain run {run_id}" if created else f"joined waiting retrain request {run_id}"), run_id


def _save(snapshot: Any, report_dir: str | Path) -> tuple[str, str]:
    stem = datetime.now(UTC).strftime("drift-%Y%m%dT%H%M%S") + f"-{uuid.uuid4().hex[:8]}"
    if not storage.is_remote(report_dir):
        report_dir = Path(report_dir).resolve()
    html, doc = storage.join(report_dir, f"{stem}.html"), storage.join(report_dir, f"{stem}.json")
    storage.put(html, snapshot.get_html_str(as_iframe=False).encode())
    storage.put(doc, snapshot.json().encode())
    return html, doc


def _iso(ts: float | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


