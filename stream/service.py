"""What one worker holds: settings, the online recommender and the pipeline, wired once."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from recstream.models.db import create_db_engine, require_current_schema
from recstream.models.hotswap import DeepSlot, blend
from recstream.models.online import OnlineRecommender
from recstream.models.registry import Registry

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
                                 dedupe_window=s.dedupe_window)
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

    def health(self) -> dict:
        r = self.recommender
        return {"status": "ok", "uptime_s": round(time.time() - self.started_at, 1), "users": r.n_users,
                "items": r.n_items, "events_learned": r.events_learned,
                "prequential_recall_at_10": None if r.recall_at_10 is None else round(r.recall_at_10, 4),
                "prequential_trials": r.prequential_trials,
                "deep": self.deep.state(),
                "pipeline": self.pipeline.stats.as_dict() if self.pipeline else None}
