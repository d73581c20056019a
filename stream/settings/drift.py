"""Drift monitoring (RECSTREAM_DRIFT_*). Defaults are DriftConfig's: each is written once, there."""

from __future__ import annotations

from pydantic import Field

from recstream.monitors.drift.config import DriftConfig
from recstream.stream.settings.base import Component

D = DriftConfig


class DriftSettings(Component):
    model_config = Component.model_config | {"env_prefix": "RECSTREAM_DRIFT_"}

    interval_s: float | None = Field(600.0, gt=0, description="how often the scheduler runs a drift report "
                                     "(unset = off)")
    window_events: int = Field(D.window_events, ge=1, description="events in the current (and reference) window")
    window_s: float | None = Field(None, gt=0, description="a time window of event time instead (seconds)")
    max_rows: int = Field(D.max_rows, ge=1, description="most rows a window loads (bounds memory)")
    min_events: int = Field(D.min_events, ge=1, description="fewest new events worth a report")
    reference_start: float | None = Field(None, description="pinned reference period start (unix seconds)")
    reference_end: float | None = Field(None, description="pinned reference period end (unix seconds)")
    num_method: str | None = Field(None, description="Evidently method for numerical columns (unset = auto)")
    cat_method: str | None = Field(None, description="Evidently method for categorical columns (unset = auto)")
    column_threshold: float | None = Field(None, gt=0, description="per-column threshold (unset = auto)")
    share: float = Field(D.drift_share, gt=0, le=1, description="share of drifted columns that makes a report drift")
    consecutive: int = Field(D.consecutive, ge=1, description="drifted reports in a row before a retrain is requested")
    cooldown_s: float = Field(D.cooldown_s, ge=0, description="at most one drift-requested retrain per this long")
    trigger_retrain: bool = Field(D.trigger_retrain, description="request a retrain when drift persists")
    report_dir: str = Field(str(D.report_dir), description="where drift reports (HTML + JSON) are kept: a "
                            "directory, or s3://bucket/prefix")
    busy_share: float = Field(D.busy_share, gt=0, le=1, description="most of the wall clock the scheduler "
                              "spends making drift reports (the rest it waits)")
    probe_flush_s: float = Field(2.0, gt=0, description="how often workers store model-output probes")

    def config(self) -> DriftConfig:
        return self.derive(DriftConfig, {"share": "drift_share"})
