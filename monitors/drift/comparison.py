"""How two windows are compared: Evidently's drift preset, per-column methods chosen by size and type, and our
two-sample chi-square for categories (Evidently's own `chisquare` treats the reference counts as exact)."""

from __future__ import annotations

from typing import Any

from recstream.monitors.drift.config import DriftConfig
from recstream.monitors.drift.features import Frames

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
