"""What one worker holds: settings, the online recommender and the pipeline, wired once."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from recstream.models.db import create_db_engine, require_current_schema
from recstream.models.online import OnlineRecommender

from .pipeline import DeadLetterSink, Pipeline
from .prepare import Preparer, PreparerProcess
from .settings import Settings
from .topics import Topics


@dataclass
class WorkerState:
    settings: Settings
    recommender: OnlineRecommender
    topics: Topics
    started_at: float = field(default_factory=time.time)
    pipeline: Pipeline | None = None

    @classmethod
    def create(cls, settings: Settings) -> WorkerState:
        engine = create_db_engine(settings.database_url)
        try:
            require_current_schema(engine)  # fail here, clearly, not in the helper process later
        finally:
            engine.dispose()
        return cls(settings, OnlineRecommender(settings.online_config()), Topics.from_settings(settings))

    def attach(self, dead_letters: DeadLetterSink) -> Pipeline:
        s = self.settings
        preparer = PreparerProcess(s) if s.prepare_in_process else Preparer.from_settings(s)
        self.pipeline = Pipeline(preparer, self.recommender, dead_letters, learn_chunk=s.learn_chunk,
                                 dedupe_window=s.dedupe_window)
        return self.pipeline

    @property
    def online_version(self) -> str:
        return f"online:{self.recommender.config.algorithm}"

    def recommend(self, user_id: str, k: int, exclude_seen: bool = True) -> dict:
        rec = self.recommender.recommend(user_id, k, exclude_seen)
        return {
            "user_id": user_id,
            "rec_id": uuid.uuid4().hex,
            "items": [{"item_id": i, "score": round(s, 6)} for i, s in zip(rec.items, rec.scores)],
            "source": rec.source,
            # Feedback events echo `model_version`; `model_versions` names every model that contributed.
            "model_version": self.online_version,
            "model_versions": {"online": self.online_version},
            "events_learned": self.recommender.events_learned,
        }

    def health(self) -> dict:
        r = self.recommender
        return {"status": "ok", "uptime_s": round(time.time() - self.started_at, 1), "users": r.n_users,
                "items": r.n_items, "events_learned": r.events_learned,
                "prequential_recall_at_10": None if r.recall_at_10 is None else round(r.recall_at_10, 4),
                "prequential_trials": r.prequential_trials,
                "pipeline": self.pipeline.stats.as_dict() if self.pipeline else None}
