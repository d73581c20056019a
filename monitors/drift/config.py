"""Drift monitoring knobs (no Evidently or pandas here: settings import this)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from recstream.models.errors import ConfigError


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
    report_dir: str | Path = "var/drift"  # or an s3:// prefix
    #: most of the wall clock the scheduler spends making reports: after a report of t seconds the next waits at
    #: least t * (1 / busy_share - 1). Concurrent work slows a worker on the same host even at the lowest CPU
    #: priority (bench/drift.py: a nice-19 busy loop cost ingestion 20-25%), so the cap is on time, not priority.
    busy_share: float = 0.1
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
