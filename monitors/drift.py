"""Drift runs: compare a current window of events and model outputs with a reference window using Evidently,
keep the report (HTML + JSON + a summary row), and request a retrain when drift persists.

Windows come from the event store and the `model_outputs` table (what workers' probes recorded), never from one
worker's memory: every worker, the scheduler and `recstream drift run` see the same windows, and a restart loses
nothing. Only the two windows are in memory during a run, each capped at `max_rows`.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, desc, func, insert, select, update

from recstream.models.errors import ConfigError
from recstream.models.registry import Registry
from recstream.models.schema import drift_reports, interactions, model_outputs

from .features import EventWindow, Frames, OutputWindow, build_frames

log = logging.getLogger("recstream.drift")


@dataclass(frozen=True)
class DriftConfig:
    #: current (and reference) window size in events; with `window_s` the current window is a time span instead
    window_events: int = 10_000
    window_s: float | None = None
    #: most rows a window may load (bounds memory for time windows)
    max_rows: int = 1_000_000
    #: a run needs at least this many events newer than the reference
    min_events: int = 1_000
    #: a pinned reference period (event time); unset = the live deep model's training window, else the oldest events
    reference_start: float | None = None
    reference_end: float | None = None
    #: Evidently per-column methods and threshold; None = Evidently's defaults (chosen by column type and size)
    num_method: str | None = None
    cat_method: str | None = None
    column_threshold: float | None = None
    #: the dataset drifts when at least this share of the judged columns drift
    drift_share: float = 0.25
    #: retrain after this many drifted reports in a row, at most once per cool-down
    consecutive: int = 2
    cooldown_s: float = 3600.0
    trigger_retrain: bool = True
    report_dir: Path = Path("var/drift")
    #: model-output probes older than this (recorded time) are deleted by each run
    outputs_retention_s: float = 30 * 86_400.0

    def __post_init__(self) -> None:
        if (self.reference_start is None) != (self.reference_end is None):
            raise ConfigError("a pinned drift reference needs both RECSTREAM_DRIFT_REFERENCE_START and _END")
        if self.reference_start is not None and self.reference_end <= self.reference_start:  # type: ignore[operator]
            raise ConfigError("RECSTREAM_DRIFT_REFERENCE_END must be after RECSTREAM_DRIFT_REFERENCE_START")
        if not 0 < self.drift_share <= 1:
            raise ConfigError(f"drift share must be within (0, 1], got {self.drift_share}")
        if self.window_events < 1 or self.consecutive < 1 or self.min_events < 1:
            raise ConfigError("drift window_events, consecutive and min_events must be >= 1")


@dataclass
class DriftRun:
    """The outcome of one run: a stored report (`report`), or why none was made (`skipped`)."""

    report: dict[str, Any] | None = None
    skipped: str | None = None
    timings: dict[str, float] = field(default_factory=dict)


# ---- windows -------------------------------------------------------------------------------------------------
_EVENT_COLS = (interactions.c.user_id, interactions.c.item_id, interactions.c.type, interactions.c.value,
               interactions.c.ts)


def _newest_events(engine: Engine, after: float | None, until: float | None, limit: int) -> EventWindow:
    q = select(*_EVENT_COLS).order_by(desc(interactions.c.ts)).limit(limit)
    if after is not None:
        q = q.where(interactions.c.ts > after)
    if until is not None:
        q = q.where(interactions.c.ts <= until)
    with engine.connect() as conn:
        return EventWindow.from_rows(list(conn.execute(q)))


def _oldest_events(engine: Engine, limit: int) -> EventWindow:
    with engine.connect() as conn:
        return EventWindow.from_rows(list(conn.execute(select(*_EVENT_COLS).order_by(interactions.c.ts).limit(limit))))


def _outputs(engine: Engine, span: tuple[float | None, float | None], limit: int) -> OutputWindow:
    lo, hi = span
    if lo is None or hi is None:
        return OutputWindow.from_rows([])
    q = (select(model_outputs.c.hit, model_outputs.c.top_score_z, model_outputs.c.popular_share)
         .where(model_outputs.c.ts >= lo, model_outputs.c.ts <= hi).order_by(desc(model_outputs.c.ts)).limit(limit))
    with engine.connect() as conn:
        return OutputWindow.from_rows(list(conn.execute(q)))


def _previous_span(engine: Engine, before: float | None, n: int) -> tuple[float | None, float | None]:
    """Event-time span of the `n` events just before `before` (the window preceding the current one)."""
    if before is None:
        return None, None
    inner = (select(interactions.c.ts).where(interactions.c.ts < before).order_by(desc(interactions.c.ts))
             .limit(n).subquery())
    with engine.connect() as conn:
        lo, hi = conn.execute(select(func.min(inner.c.ts), func.max(inner.c.ts))).one()
    return lo, hi


def reference_window(engine: Engine, cfg: DriftConfig) -> tuple[str, EventWindow]:
    """(what the reference is, its events): pinned period, else the live deep model's training data, else the
    oldest events in the store. Long periods contribute their newest `window_events` events (equal-sized windows
    keep per-window features such as user activity comparable)."""
    size = cfg.max_rows if cfg.window_s else cfg.window_events
    if cfg.reference_start is not None:
        return "pinned", _newest_events(engine, cfg.reference_start, cfg.reference_end, size)
    live = Registry(engine).live("deep")
    if live is not None and live.window_end is not None:
        after = live.window_start - 1e-9 if live.window_start is not None else None
        start = after if not cfg.window_s else max(after or float("-inf"), live.window_end - cfg.window_s)
        return f"live-model {live.name}", _newest_events(engine, start, live.window_end, size)
    if cfg.window_s:
        with engine.connect() as conn:
            first = conn.execute(select(func.min(interactions.c.ts))).scalar()
        if first is None:
            return "oldest", EventWindow.from_rows([])
        return "oldest", _newest_events(engine, first - 1e-9, first + cfg.window_s, size)
    return "oldest", _oldest_events(engine, size)


def current_window(engine: Engine, cfg: DriftConfig, after: float | None, until: float | None) -> EventWindow:
    """The newest window ending at `until` (default: the newest event), never reaching back into the reference."""
    if cfg.window_s:
        if until is None:
            with engine.connect() as conn:
                until = conn.execute(select(func.max(interactions.c.ts))).scalar()
            if until is None:
                return EventWindow.from_rows([])
        start = until - cfg.window_s
        after = start if after is None else max(after, start)
        return _newest_events(engine, after, until, cfg.max_rows)
    return _newest_events(engine, after, until, cfg.window_events)


# ---- Evidently -----------------------------------------------------------------------------------------------
#: Column size from which drift is judged by effect size (a distance) rather than a significance test: with
#: thousands of rows every test finds *some* difference, while a distance does not grow with the sample.
DISTANCE_FROM_ROWS = 1_000
DISTANCE_THRESHOLD = 0.1  # Evidently's default for Wasserstein (normed) and Jensen-Shannon
TEST_P_VALUE = 0.01


def two_sample_chi2(reference: Any, current: Any, feature_type: Any, threshold: float) -> tuple[float, bool]:
    """Chi-square test of homogeneity on the two samples' category counts (scipy's chi2_contingency).

    Evidently's own "chisquare" treats the reference counts as the exact expected frequencies and so flags
    drift between two samples of one distribution (p < 0.05 in 5 of 8 runs, measured); this test does not.
    """
    from scipy.stats import chi2_contingency

    ref_counts = reference.dropna().astype(str).value_counts()
    cur_counts = current.dropna().astype(str).value_counts()
    keys = sorted(set(ref_counts.index) | set(cur_counts.index))
    if len(keys) < 2:
        return 1.0, False
    table = [[int(ref_counts.get(k, 0)) for k in keys], [int(cur_counts.get(k, 0)) for k in keys]]
    p_value = float(chi2_contingency(table)[1])
    return p_value, p_value < threshold


def _stat_test() -> Any:
    from evidently.legacy.calculations.stattests.registry import (
        StatTest,
        get_registered_stattest_name,
        register_stattest,
    )
    from evidently.legacy.core import ColumnType

    test = StatTest(name="chi2_two_sample", display_name="chi-square test of homogeneity p_value",
                    allowed_feature_types=[ColumnType.Categorical], default_threshold=TEST_P_VALUE)
    try:
        get_registered_stattest_name("chi2_two_sample", ColumnType.Categorical)
    except Exception:  # noqa: BLE001 - not registered yet in this process
        register_stattest(test, default_impl=two_sample_chi2)
    return test


def column_methods(frames: Frames, cfg: DriftConfig) -> tuple[dict[str, Any], dict[str, float]]:
    """Method and threshold per column. Configured methods win; otherwise a distance for columns with at least
    DISTANCE_FROM_ROWS values on both sides, a significance test (p < 0.01) for smaller ones."""
    methods: dict[str, Any] = {}
    thresholds: dict[str, float] = {}
    for col in frames.numerical + frames.categorical:
        categorical = col in frames.categorical
        n = min(int(frames.reference[col].notna().sum()), int(frames.current[col].notna().sum()))
        large = n >= DISTANCE_FROM_ROWS
        configured = cfg.cat_method if categorical else cfg.num_method
        if configured is not None:
            methods[col] = _stat_test() if configured == "chi2_two_sample" else configured
        elif categorical:
            methods[col] = "jensenshannon" if large else _stat_test()
        else:
            methods[col] = "wasserstein" if large else "ks"
        thresholds[col] = cfg.column_threshold if cfg.column_threshold is not None else (
            DISTANCE_THRESHOLD if large else TEST_P_VALUE)
    return methods, thresholds


def evidently_report(frames: Frames, cfg: DriftConfig, title: str) -> Any:
    """Run Evidently's data-drift preset over both frames; returns its Snapshot."""
    # Imported here: `import evidently` takes seconds, and workers that never run a report should not pay it.
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    methods, thresholds = column_methods(frames, cfg)
    definition = DataDefinition(numerical_columns=frames.numerical, categorical_columns=frames.categorical)
    preset = DataDriftPreset(columns=frames.numerical + frames.categorical, drift_share=cfg.drift_share,
                             per_column_method=methods, per_column_threshold=thresholds)
    return Report([preset], include_tests=True).run(
        Dataset.from_pandas(frames.current, data_definition=definition),  # current first, then reference
        Dataset.from_pandas(frames.reference, data_definition=definition), name=title)


def column_verdicts(snapshot_dict: dict, frames: Frames) -> dict[str, dict[str, Any]]:
    """Per judged column: method, score, threshold and drifted, read from the snapshot's metrics and tests.

    The test status is the verdict (FAIL = drifted), so p-value methods (drift when low) and distances (drift
    when high) need no special-casing here.
    """
    by_metric: dict[str, dict[str, Any]] = {}
    for m in snapshot_dict.get("metrics", []):
        cfg = m.get("config", {})
        if cfg.get("type", "").endswith("ValueDrift"):
            by_metric[m["id"]] = {"column": cfg["column"], "method": cfg.get("method"),
                                  "threshold": cfg.get("threshold"), "score": m.get("value")}
    out: dict[str, dict[str, Any]] = {}
    for t in snapshot_dict.get("tests", []):
        metric = by_metric.get(t.get("metric_config", {}).get("metric_id", ""))
        if metric is None:
            continue
        col = metric["column"]
        out[col] = {"group": frames.groups.get(col, "events"), "method": metric["method"],
                    "score": None if metric["score"] is None else round(float(metric["score"]), 6),
                    "threshold": metric["threshold"], "drifted": t.get("status") == "FAIL",
                    "description": t.get("description", "")}
    return out


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
    prev_span = _previous_span(engine, cur.span[0], len(cur))
    ref_out = _outputs(engine, prev_span, cfg.max_rows)
    cur_out = _outputs(engine, cur.span, cfg.max_rows)
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
    run_id, created = Registry(engine).request_retrain(trigger="drift", requested_by=actor, reason=reason)
    return (f"requested retrain run {run_id}" if created else f"joined waiting retrain request {run_id}"), run_id


def _save(snapshot: Any, report_dir: Path) -> tuple[Path, Path]:
    report_dir.mkdir(parents=True, exist_ok=True)
    stem = datetime.now(UTC).strftime("drift-%Y%m%dT%H%M%S") + f"-{uuid.uuid4().hex[:8]}"
    html_path, json_path = report_dir / f"{stem}.html", report_dir / f"{stem}.json"
    snapshot.save_html(str(html_path))
    snapshot.save_json(str(json_path))
    return html_path.resolve(), json_path.resolve()


def _iso(ts: float | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def store_probes(engine: Engine, probes: list[tuple[float, int, float, float]], source: str) -> int:
    """Append a worker's model-output probes (ts, hit, top_score_z, popular_share) to `model_outputs`."""
    if not probes:
        return 0
    now = time.time()
    rows = [{"ts": ts, "hit": hit, "top_score_z": z, "popular_share": share, "source": source[:128],
             "recorded_at": now} for ts, hit, z, share in probes]
    with engine.begin() as conn:
        conn.execute(insert(model_outputs), rows)
    return len(rows)


# ---- reading reports back ------------------------------------------------------------------------------------
class ReportNotFound(LookupError):
    pass


def list_reports(engine: Engine, limit: int = 50) -> list[dict[str, Any]]:
    """Newest first, without the per-column detail."""
    cols = [c for c in drift_reports.c if c.name != "columns"]
    with engine.connect() as conn:
        return [r._asdict() for r in conn.execute(select(*cols).order_by(desc(drift_reports.c.id)).limit(limit))]


def get_report(engine: Engine, report_id: int) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(select(drift_reports).where(drift_reports.c.id == report_id)).first()
    if row is None:
        raise ReportNotFound(f"no drift report {report_id}; `recstream drift list` shows the ids")
    return row._asdict()


def report_file(engine: Engine, report_id: int, kind: str) -> Path:
    """The stored HTML or JSON file of a report; a clear error when it is gone."""
    return report_path(get_report(engine, report_id), kind)


def report_path(row: dict[str, Any], kind: str) -> Path:
    """The HTML or JSON file of a report row already read (see report_file)."""
    path = row["html_path" if kind == "html" else "json_path"]
    if not path or not Path(path).is_file():
        raise ReportNotFound(f"the {kind} file of drift report {row['id']} is missing ({path}); "
                             "was RECSTREAM_DRIFT_REPORT_DIR changed or cleaned?")
    return Path(path)


def latest_summary(engine: Engine) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(select(drift_reports.c.id, drift_reports.c.drifted, drift_reports.c.drift_share,
                                  drift_reports.c.created_at).order_by(desc(drift_reports.c.id)).limit(1)).first()
    return None if row is None else row._asdict()


def summary_json(row: dict[str, Any]) -> str:
    return json.dumps(row, default=str, indent=2)
