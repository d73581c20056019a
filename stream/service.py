"""What one worker holds: settings, the online recommender and the pipeline, wired once."""

from __future__ import annotations

import socket
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from recstream.models.db import create_db_engine, require_current_schema
from recstream.models.hotswap import DeepSlot, blend
from recstream.models.online import OnlineRecommender
from recstream.models.registry import Registry
from recstream.monitors.metrics import Snapshot, WorkerMetrics

from .pipeline import DeadLetterSink, Pipeline
from .prepare import Preparer, PreparerProcess
from .settings import Settings
from .topics import Topics


@dataclass
class WorkerState:
    settings: Settings
    recommender: OnlineRecommender
    topics: Topics
    deep: DeepSlot
    started_at: float = field(default_factory=time.time)
    pipeline: Pipeline | None = None
    #: the latest drift report's summary (id, drifted, drift_share), refreshed by the probe-flush task
    drift_summary: dict[str, Any] | None = None
    metrics: WorkerMetrics = field(init=False)

    def __post_init__(self) -> None:
        self.metrics = WorkerMetrics(self.snapshot)

    @property
    def source(self) -> str:
        """How this worker names itself in the rows it writes (model-output probes)."""
        return f"{socket.gethostname()}:{self.settings.web_port}"

    @classmethod
    def create(cls, settings: Settings) -> WorkerState:
        engine = create_db_engine(settings.database_url)
        require_current_schema(engine)  # fail here, clearly, not in the helper process later
        deep = DeepSlot(Registry(engine), settings.artefact_key_bytes, settings.canary_share)
        return cls(settings, OnlineRecommender(settings.online_config()), Topics.from_settings(settings), deep)

    @property
    def registry(self) -> Registry:
        return self.deep.registry

    def attach(self, dead_letters: DeadLetterSink) -> Pipeline:
        s = self.settings
        preparer = PreparerProcess(s) if s.prepare_in_process else Preparer.from_settings(s)
        self.pipeline = Pipeline(preparer, self.recommender, dead_letters, learn_chunk=s.learn_chunk,
                                 dedupe_window=s.dedupe_window, observe=self.metrics.learn_batch_seconds.observe)
        return self.pipeline

    @property
    def online_version(self) -> str:
        return f"online:{self.recommender.config.algorithm}"

    def recommend(self, user_id: str, k: int, exclude_seen: bool = True) -> dict:
        deep = self.deep.choose(user_id)  # held for the whole request: a swap meanwhile does not touch it
        rec, used_deep = blend(self.recommender, deep, user_id, k, exclude_seen, self.settings.deep_weight)
        deep_name = deep.version.name if deep is not None and used_deep else None
        return {
            "user_id": user_id,
            "rec_id": uuid.uuid4().hex,
            "items": [{"item_id": i, "score": round(s, 6)} for i, s in zip(rec.items, rec.scores)],
            "source": rec.source,
            # Feedback events echo `model_version` (the released version that shaped the list, for A/B stats);
            # `model_versions` names every model that contributed.
            "model_version": deep_name or self.online_version,
            "model_versions": {"online": self.online_version, "deep": deep_name},
            "canary": deep is not None and used_deep and deep is self.deep.canary,
            "events_learned": self.recommender.events_learned,
        }

    def snapshot(self) -> Snapshot:
        """Metrics at scrape time, from counters the pipeline keeps anyway."""
        r, p = self.recommender, self.pipeline
        deep = {role: slot.version.name for role, slot in (("live", self.deep.live), ("canary", self.deep.canary))
                if slot is not None}
        drift = self.drift_summary or {}
        return Snapshot(
            consumed=p.stats.consumed if p else 0, stored=p.stats.stored if p else 0,
            learned=p.stats.learned if p else 0, duplicates=p.stats.duplicates if p else 0,
            dead_lettered=dict(p.stats.dead_lettered) if p else {}, lag=dict(p.stats.lag) if p else {},
            prequential_recall_at_10=r.recall_at_10, deep_versions=deep,
            drift_share=drift.get("drift_share"), drift_detected=bool(drift.get("drifted")) if drift else None,
            drift_report_id=drift.get("id"))

    def health(self) -> dict:
        r = self.recommender
        return {"status": "ok", "uptime_s": round(time.time() - self.started_at, 1), "users": r.n_users,
                "items": r.n_items, "events_learned": r.events_learned,
                "prequential_recall_at_10": None if r.recall_at_10 is None else round(r.recall_at_10, 4),
                "prequential_trials": r.prequential_trials,
                "deep": self.deep.state(),
                "drift": self.drift_summary,
                "pipeline": self.pipeline.stats.as_dict() if self.pipeline else None}
